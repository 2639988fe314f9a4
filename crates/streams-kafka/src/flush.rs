//! Waiting for a producer's queue to drain without rdkafka's fixed waits.
//!
//! rdkafka's `BaseProducer::flush` polls in slices of 100 ms, and `BaseProducer::poll`
//! always waits out its whole timeout even once the delivery reports it serves are in.
//! A flush of a handful of records therefore cost 100 ms, and so did every
//! `commit_transaction` (it flushes first): at a commit interval of 100 ms the app spent
//! half its time waiting. These functions serve the reports as they arrive and return
//! as soon as the queue is empty.

use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, Producer, ProducerContext, ThreadedProducer};

/// How long one wait for delivery reports lasts before the queue is checked again.
const SLICE: Duration = Duration::from_millis(1);

/// Whether `flush(0)` says records are still queued or in flight.
fn still_queued(r: &Result<(), RdError>) -> bool {
    matches!(r, Err(RdError::Flush(RDKafkaErrorCode::OperationTimedOut)))
}

/// Asks `flush_now` (a flush with no wait) until nothing is queued, calling `wait`
/// between two asks, for up to `timeout`.
fn drain(
    timeout: Duration,
    flush_now: impl Fn() -> Result<(), RdError>,
    wait: impl Fn(),
) -> Result<(), RdError> {
    let deadline = Instant::now() + timeout;
    loop {
        let r = flush_now();
        if !still_queued(&r) || Instant::now() >= deadline {
            return r;
        }
        wait();
    }
}

/// Waits up to `timeout` until every record queued on `producer` is acknowledged or
/// failed, serving the delivery reports on this thread.
pub fn flush_base<C: ProducerContext>(
    producer: &BaseProducer<C>,
    timeout: Duration,
) -> Result<(), RdError> {
    drain(
        timeout,
        || producer.flush(Duration::ZERO),
        || producer.poll(SLICE),
    )
}

/// [`flush_base`] for a producer whose own thread serves the delivery reports.
pub fn flush_threaded<C: ProducerContext + 'static>(
    producer: &ThreadedProducer<C>,
    timeout: Duration,
) -> Result<(), RdError> {
    drain(
        timeout,
        || producer.flush(Duration::ZERO),
        || std::thread::sleep(SLICE),
    )
}
