//! The `streams-app` binary (see the library crate for everything else).

// The engine allocates many small, short-lived objects (events, rows, store keys);
// mimalloc handles that pattern far better than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    streams_app::main()
}
