//! The reference clickstream topology's pure parts: decoding, validation and cleaning of
//! input events (DESIGN §3.1), with the dead-letter reasons.

mod decode;

pub use decode::{decode_event, DeadLetter, DecodeConfig, DlqReason};
