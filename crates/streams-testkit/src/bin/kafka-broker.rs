//! Starts the Apache Kafka broker the real-broker tests use (one KRaft node on free
//! 127.0.0.1 ports, from the jars of `scripts/install-kafka.sh`), prints its bootstrap
//! address on a line of its own, and stops it when standard input closes (or when this
//! process dies). For scripts such as `scripts/bench-e2e.sh`.

use std::io::{Read, Write};

use streams_testkit::KafkaBroker;

fn main() {
    let broker = KafkaBroker::start();
    println!("{}", broker.bootstrap());
    let _ = std::io::stdout().flush();
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    drop(broker);
}
