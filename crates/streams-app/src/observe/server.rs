//! The HTTP listener of `--metrics-addr`: `/metrics` (Prometheus), `/status.json` and the
//! status page `/`, served by one thread from what the [`Observer`](super::Observer)
//! last published.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::Context as _;
use tiny_http::{Header, Response};

use super::Metrics;

/// The status page: plain HTML, CSS and JavaScript, no build step, nothing fetched from
/// outside the machine.
const PAGE: &str = include_str!("page.html");

/// A running listener; dropping it stops the thread.
pub struct Server {
    http: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

/// A response with a header (the names and values are ASCII constants of this file).
fn with<R: std::io::Read>(r: Response<R>, name: &str, value: &str) -> Response<R> {
    match Header::from_bytes(name.as_bytes(), value.as_bytes()) {
        Ok(h) => r.with_header(h),
        Err(()) => r,
    }
}

impl Server {
    /// Listens on `addr` and serves until dropped.
    pub fn start(
        addr: SocketAddr,
        metrics: Arc<Mutex<Metrics>>,
        status: Arc<Mutex<String>>,
    ) -> anyhow::Result<Server> {
        let http = tiny_http::Server::http(addr)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("cannot serve metrics on {addr}"))?;
        let addr = http
            .server_addr()
            .to_ip()
            .context("the metrics listener has no IP address")?;
        let http = Arc::new(http);
        let serving = http.clone();
        let thread = std::thread::Builder::new()
            .name("metrics-http".into())
            .spawn(move || {
                for request in serving.incoming_requests() {
                    let path = request.url().split('?').next().unwrap_or("").to_string();
                    let response = match path.as_str() {
                        "/metrics" => {
                            let text = metrics.lock().map(|m| m.encode()).unwrap_or_default();
                            with(
                                Response::from_string(text),
                                "Content-Type",
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            )
                        }
                        "/status.json" => {
                            let json = status.lock().map(|s| s.clone()).unwrap_or_default();
                            let r = with(Response::from_string(json), "Cache-Control", "no-store");
                            with(r, "Content-Type", "application/json")
                        }
                        "/" | "/index.html" => with(
                            Response::from_string(PAGE),
                            "Content-Type",
                            "text/html; charset=utf-8",
                        ),
                        _ => Response::from_string("not found: try /, /status.json or /metrics\n")
                            .with_status_code(404),
                    };
                    // A client that went away is no concern of the app's.
                    let _ = request.respond(response);
                }
            })
            .context("cannot start the metrics thread")?;
        Ok(Server {
            http,
            thread: Some(thread),
            addr,
        })
    }

    /// The address it listens on (the port chosen when `:0` was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.http.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
