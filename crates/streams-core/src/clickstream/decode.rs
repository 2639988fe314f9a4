//! Decode + validate + clean one input record (DESIGN §3.1–3.2, steps 1–3).
//!
//! Checks run in this order and the first failure decides the dead-letter reason:
//! `too_large` → `malformed_json` → `invalid_event` → `invalid_field` → `invalid_amount`
//! → `future_timestamp`.

use std::borrow::Cow;
use std::fmt;

use compact_str::CompactString;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::event::Event;

/// Why a record went to the dead-letter queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DlqReason {
    /// Not JSON, or not a JSON object.
    MalformedJson,
    /// `event_id` missing, empty or not a string.
    InvalidEvent,
    /// A known field has the wrong JSON type.
    InvalidField,
    /// `amount` is negative or not finite.
    InvalidAmount,
    /// The record is larger than `max_record_bytes`.
    TooLarge,
    /// Event time more than `max_future` after the record's Kafka timestamp.
    FutureTimestamp,
}

impl DlqReason {
    /// Every reason, in ledger order.
    pub const ALL: [DlqReason; 6] = [
        DlqReason::MalformedJson,
        DlqReason::InvalidEvent,
        DlqReason::InvalidField,
        DlqReason::InvalidAmount,
        DlqReason::TooLarge,
        DlqReason::FutureTimestamp,
    ];

    /// The reason as written in headers and the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            DlqReason::MalformedJson => "malformed_json",
            DlqReason::InvalidEvent => "invalid_event",
            DlqReason::InvalidField => "invalid_field",
            DlqReason::InvalidAmount => "invalid_amount",
            DlqReason::TooLarge => "too_large",
            DlqReason::FutureTimestamp => "future_timestamp",
        }
    }

    /// Parses [`as_str`](Self::as_str).
    pub fn parse(s: &str) -> Option<DlqReason> {
        DlqReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for DlqReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected record's reason and a human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The reason.
    pub reason: DlqReason,
    /// What exactly was wrong.
    pub detail: String,
}

impl DeadLetter {
    fn new(reason: DlqReason, detail: impl Into<String>) -> Self {
        DeadLetter {
            reason,
            detail: detail.into(),
        }
    }
}

/// Limits applied while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeConfig {
    /// Larger records are dead-lettered as `too_large`.
    pub max_record_bytes: usize,
    /// Event time may be at most this far (ms) after the Kafka timestamp.
    pub max_future_ms: i64,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        DecodeConfig {
            max_record_bytes: 1 << 20,
            max_future_ms: 3_600_000,
        }
    }
}

/// Any JSON value, remembering only what validation needs.
#[derive(Debug, Default)]
enum Loose<'a> {
    #[default]
    Missing,
    Null,
    Bool,
    Int(i64),
    /// Integers beyond i64 and all non-integers.
    Float(f64),
    Str(Cow<'a, str>),
    Compound,
}

impl Loose<'_> {
    fn type_name(&self) -> &'static str {
        match self {
            Loose::Missing => "missing",
            Loose::Null => "null",
            Loose::Bool => "a boolean",
            Loose::Int(_) | Loose::Float(_) => "a number",
            Loose::Str(_) => "a string",
            Loose::Compound => "an array or object",
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Loose<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Loose::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Loose::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                Loose::deserialize(d)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Loose::Bool)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Loose::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(v).map_or(Loose::Float(v as f64), Loose::Int))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Loose::Float(v))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Loose::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Loose::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Loose::Str(Cow::Owned(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Loose::Compound)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Loose::Compound)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow, default)]
    event_id: Loose<'a>,
    #[serde(borrow, default)]
    user_id: Loose<'a>,
    #[serde(borrow, default)]
    product_id: Loose<'a>,
    #[serde(borrow, default)]
    event_type: Loose<'a>,
    #[serde(borrow, default)]
    page: Loose<'a>,
    #[serde(borrow, default)]
    device: Loose<'a>,
    #[serde(borrow, default)]
    country: Loose<'a>,
    #[serde(borrow, default)]
    amount: Loose<'a>,
    #[serde(borrow, default)]
    event_time: Loose<'a>,
}

fn wrong_type(field: &str, v: &Loose<'_>, expected: &str) -> DeadLetter {
    DeadLetter::new(
        DlqReason::InvalidField,
        format!("`{field}` is {}, expected {expected}", v.type_name()),
    )
}

fn opt_int(field: &str, v: &Loose<'_>) -> Result<Option<i64>, DeadLetter> {
    match v {
        Loose::Missing | Loose::Null => Ok(None),
        Loose::Int(i) => Ok(Some(*i)),
        other => Err(wrong_type(field, other, "an integer or null")),
    }
}

fn opt_str<'v>(field: &str, v: &'v Loose<'_>) -> Result<Option<&'v str>, DeadLetter> {
    match v {
        Loose::Missing | Loose::Null => Ok(None),
        Loose::Str(s) => Ok(Some(s)),
        other => Err(wrong_type(field, other, "a string or null")),
    }
}

const UNKNOWN: &str = "unknown";

fn cleaned(s: Option<&str>, upper: bool, fallback: &'static str) -> CompactString {
    let t = s.map(str::trim).unwrap_or("");
    if t.is_empty() {
        return CompactString::const_new(fallback);
    }
    if t.bytes().all(|b| {
        if upper {
            !b.is_ascii_lowercase()
        } else {
            !b.is_ascii_uppercase()
        }
    }) {
        return CompactString::from(t);
    }
    if upper {
        CompactString::from(t.to_uppercase())
    } else {
        CompactString::from(t.to_lowercase())
    }
}

/// Parses an RFC 3339 time to epoch milliseconds.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Decodes, validates and cleans one record value. `kafka_ts` is the record's Kafka
/// timestamp (the event time when the payload has none). Enrichment fields are left at
/// their "unknown" defaults; provenance fields are zero.
pub fn decode_event(value: &[u8], kafka_ts: i64, cfg: &DecodeConfig) -> Result<Event, DeadLetter> {
    if value.len() > cfg.max_record_bytes {
        return Err(DeadLetter::new(
            DlqReason::TooLarge,
            format!(
                "record is {} bytes, the limit is {}",
                value.len(),
                cfg.max_record_bytes
            ),
        ));
    }
    // serde would also read a struct from a JSON array; only objects are events.
    if value.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(DeadLetter::new(
            DlqReason::MalformedJson,
            "not a JSON object",
        ));
    }
    let raw: RawEvent<'_> = serde_json::from_slice(value).map_err(|e| {
        let mut detail = e.to_string();
        detail.truncate(200);
        DeadLetter::new(DlqReason::MalformedJson, detail)
    })?;

    let event_id = match &raw.event_id {
        Loose::Str(s) if !s.trim().is_empty() => CompactString::from(s.as_ref()),
        Loose::Str(_) => {
            return Err(DeadLetter::new(
                DlqReason::InvalidEvent,
                "`event_id` is empty",
            ))
        }
        other => {
            return Err(DeadLetter::new(
                DlqReason::InvalidEvent,
                format!(
                    "`event_id` is {}, expected a non-empty string",
                    other.type_name()
                ),
            ))
        }
    };

    let user_id = opt_int("user_id", &raw.user_id)?.unwrap_or(0);
    let product_id = opt_int("product_id", &raw.product_id)?;
    let event_type = cleaned(opt_str("event_type", &raw.event_type)?, false, UNKNOWN);
    let page = match opt_str("page", &raw.page)? {
        Some(p) if !p.trim().is_empty() => CompactString::from(p),
        _ => CompactString::const_new(UNKNOWN),
    };
    let device = cleaned(opt_str("device", &raw.device)?, false, UNKNOWN);
    let country = cleaned(opt_str("country", &raw.country)?, true, "UNKNOWN");
    let amount = match &raw.amount {
        Loose::Missing | Loose::Null => 0.0,
        Loose::Int(i) => *i as f64,
        Loose::Float(f) => *f,
        other => return Err(wrong_type("amount", other, "a number or null")),
    };
    let event_ts = match &raw.event_time {
        Loose::Missing | Loose::Null => kafka_ts,
        Loose::Int(ms) => *ms,
        // A float epoch is not an integer epoch in ms: treat as unparseable.
        Loose::Float(_) => kafka_ts,
        Loose::Str(s) => parse_rfc3339_ms(s).unwrap_or(kafka_ts),
        other => {
            return Err(wrong_type(
                "event_time",
                other,
                "an RFC 3339 string or integer epoch milliseconds",
            ))
        }
    };
    if !amount.is_finite() || amount < 0.0 {
        return Err(DeadLetter::new(
            DlqReason::InvalidAmount,
            format!("`amount` is {amount}, expected a finite number >= 0"),
        ));
    }
    if event_ts > kafka_ts.saturating_add(cfg.max_future_ms) {
        return Err(DeadLetter::new(
            DlqReason::FutureTimestamp,
            format!(
                "event time {} is more than {} ms after the record timestamp {}",
                crate::value::format_timestamp(event_ts),
                cfg.max_future_ms,
                crate::value::format_timestamp(kafka_ts)
            ),
        ));
    }
    Ok(Event {
        event_id,
        user_id,
        product_id,
        event_type,
        page,
        device,
        country,
        amount,
        event_ts,
        kafka_ts,
        segment: CompactString::const_new(UNKNOWN),
        is_premium: false,
        user_name: None,
        category: CompactString::const_new(UNKNOWN),
        product_name: None,
        price: None,
        partition: 0,
        offset: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: i64 = 1_700_000_000_000;

    fn reason(json: &str) -> Option<DlqReason> {
        decode_event(json.as_bytes(), TS, &DecodeConfig::default())
            .err()
            .map(|d| d.reason)
    }

    #[test]
    fn dead_letter_reason_table() {
        let cases: &[(&str, Option<DlqReason>)] = &[
            (r#"{"event_id":"a"}"#, None),
            ("not json", Some(DlqReason::MalformedJson)),
            ("[1,2]", Some(DlqReason::MalformedJson)),
            ("\"str\"", Some(DlqReason::MalformedJson)),
            (r#"{"event_id":"a""#, Some(DlqReason::MalformedJson)),
            ("{}", Some(DlqReason::InvalidEvent)),
            (r#"{"event_id":""}"#, Some(DlqReason::InvalidEvent)),
            (r#"{"event_id":"  "}"#, Some(DlqReason::InvalidEvent)),
            (r#"{"event_id":7}"#, Some(DlqReason::InvalidEvent)),
            (r#"{"event_id":null}"#, Some(DlqReason::InvalidEvent)),
            (
                r#"{"event_id":"a","user_id":"7"}"#,
                Some(DlqReason::InvalidField),
            ),
            (
                r#"{"event_id":"a","user_id":7.5}"#,
                Some(DlqReason::InvalidField),
            ),
            (
                r#"{"event_id":"a","product_id":[1]}"#,
                Some(DlqReason::InvalidField),
            ),
            (
                r#"{"event_id":"a","device":5}"#,
                Some(DlqReason::InvalidField),
            ),
            (
                r#"{"event_id":"a","country":{}}"#,
                Some(DlqReason::InvalidField),
            ),
            (
                r#"{"event_id":"a","amount":"12"}"#,
                Some(DlqReason::InvalidField),
            ),
            (
                r#"{"event_id":"a","event_time":true}"#,
                Some(DlqReason::InvalidField),
            ),
            (
                r#"{"event_id":"a","event_type":1}"#,
                Some(DlqReason::InvalidField),
            ),
            (
                r#"{"event_id":"a","amount":-0.01}"#,
                Some(DlqReason::InvalidAmount),
            ),
            (
                r#"{"event_id":"a","amount":1e400}"#,
                Some(DlqReason::MalformedJson),
            ),
            (
                r#"{"event_id":"a","event_time":"2023-11-14T23:13:20.001Z"}"#,
                Some(DlqReason::FutureTimestamp),
            ),
            (
                r#"{"event_id":"a","event_time":"2023-11-14T23:13:20Z"}"#,
                None,
            ),
            (r#"{"event_id":"a","unknown_field":{"x":[1]}}"#, None),
        ];
        for (json, expected) in cases {
            assert_eq!(reason(json), *expected, "{json}");
        }
    }

    #[test]
    fn too_large_is_checked_first() {
        let cfg = DecodeConfig {
            max_record_bytes: 10,
            ..DecodeConfig::default()
        };
        let err = decode_event(b"this is not json at all", TS, &cfg).unwrap_err();
        assert_eq!(err.reason, DlqReason::TooLarge);
        assert!(err.detail.contains("23 bytes"));
    }

    #[test]
    fn cleaning_rules() {
        let e = decode_event(
            br#"{"event_id":"e1","user_id":null,"product_id":12,"event_type":" Purchase ",
                 "page":"/cart","device":" MOBILE","country":" us ","amount":19.99,
                 "event_time":1699999999000}"#,
            TS,
            &DecodeConfig::default(),
        )
        .unwrap();
        assert_eq!(e.user_id, 0);
        assert_eq!(e.product_id, Some(12));
        assert_eq!(e.event_type, "purchase");
        assert_eq!(e.page, "/cart");
        assert_eq!(e.device, "mobile");
        assert_eq!(e.country, "US");
        assert_eq!(e.amount, 19.99);
        assert_eq!(e.event_ts, 1_699_999_999_000);

        let e = decode_event(
            br#"{"event_id":"e2","device":"","country":null,"amount":null,"page":null,"event_time":"garbage"}"#,
            TS,
            &DecodeConfig::default(),
        )
        .unwrap();
        assert_eq!(
            (
                e.event_type.as_str(),
                e.page.as_str(),
                e.device.as_str(),
                e.country.as_str()
            ),
            ("unknown", "unknown", "unknown", "UNKNOWN")
        );
        assert_eq!(e.amount, 0.0);
        assert_eq!(
            e.event_ts, TS,
            "unparseable event time falls back to the Kafka timestamp"
        );
    }

    #[test]
    fn escaped_strings_decode() {
        let e = decode_event(
            br#"{"event_id":"a\"b","page":"/caf\u00e9"}"#,
            TS,
            &DecodeConfig::default(),
        )
        .unwrap();
        assert_eq!(e.event_id, "a\"b");
        assert_eq!(e.page, "/café");
    }
}
