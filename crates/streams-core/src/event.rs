//! The cleaned and enriched clickstream event that flows between processors, and the
//! [`Field`] names a topology file may refer to.

use compact_str::CompactString;

use crate::value::{ColumnType, KeyPart, Value};

/// One accepted event after decode, validation, cleaning and (once the enrich step ran)
/// enrichment. Provenance (`partition`, `offset`) travels with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Unique event id (dedup key).
    pub event_id: CompactString,
    /// User id, `0` for anonymous.
    pub user_id: i64,
    /// Product id, if any.
    pub product_id: Option<i64>,
    /// Lowercased event type (`page_view`, `click`, `add_to_cart`, `purchase`, ...).
    pub event_type: CompactString,
    /// Page, `unknown` when missing.
    pub page: CompactString,
    /// Lowercased device, `unknown` when missing.
    pub device: CompactString,
    /// Uppercased country, `UNKNOWN` when missing.
    pub country: CompactString,
    /// Amount, `0.0` when missing.
    pub amount: f64,
    /// Event time, milliseconds since the epoch.
    pub event_ts: i64,
    /// Kafka timestamp of the source record.
    pub kafka_ts: i64,
    /// User segment from the users dimension, `unknown` when the user is not there.
    pub segment: CompactString,
    /// Whether the segment is premium (segments dimension, `false` when missing).
    pub is_premium: bool,
    /// User name from the users dimension.
    pub user_name: Option<CompactString>,
    /// Product category, `unknown` when there is no known product.
    pub category: CompactString,
    /// Product name from the products dimension.
    pub product_name: Option<CompactString>,
    /// Product list price from the products dimension.
    pub price: Option<f64>,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
}

/// Events travel between processors behind an `Arc`: fan-out to several children
/// shares one copy, and a processor that changes an event it alone holds
/// (`Arc::make_mut`) does not copy it.
pub type EventRef = std::sync::Arc<Event>;

/// A field of [`Event`] that topology files name in `group_by`, aggregate inputs and filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `event_id`
    EventId,
    /// `user_id`
    UserId,
    /// `product_id`
    ProductId,
    /// `event_type`
    EventType,
    /// `page`
    Page,
    /// `device`
    Device,
    /// `country`
    Country,
    /// `amount`
    Amount,
    /// `event_ts`
    EventTs,
    /// `segment`
    Segment,
    /// `is_premium`
    IsPremium,
    /// `user_name`
    UserName,
    /// `category`
    Category,
    /// `product_name`
    ProductName,
    /// `price`
    Price,
}

impl Field {
    /// Every field, in `events_clean` column order.
    pub const ALL: [Field; 15] = [
        Field::EventId,
        Field::UserId,
        Field::ProductId,
        Field::EventType,
        Field::Page,
        Field::Device,
        Field::Country,
        Field::Amount,
        Field::EventTs,
        Field::Segment,
        Field::IsPremium,
        Field::UserName,
        Field::Category,
        Field::ProductName,
        Field::Price,
    ];

    /// The field's name in topology files and output schemas.
    pub fn name(self) -> &'static str {
        match self {
            Field::EventId => "event_id",
            Field::UserId => "user_id",
            Field::ProductId => "product_id",
            Field::EventType => "event_type",
            Field::Page => "page",
            Field::Device => "device",
            Field::Country => "country",
            Field::Amount => "amount",
            Field::EventTs => "event_ts",
            Field::Segment => "segment",
            Field::IsPremium => "is_premium",
            Field::UserName => "user_name",
            Field::Category => "category",
            Field::ProductName => "product_name",
            Field::Price => "price",
        }
    }

    /// Parse a field name.
    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Output column type of the field.
    pub fn column_type(self) -> ColumnType {
        match self {
            Field::UserId | Field::ProductId => ColumnType::Int,
            Field::Amount | Field::Price => ColumnType::Float,
            Field::EventTs => ColumnType::Timestamp,
            Field::IsPremium => ColumnType::Bool,
            _ => ColumnType::Str,
        }
    }

    /// Whether the field may be null.
    pub fn nullable(self) -> bool {
        matches!(
            self,
            Field::ProductId | Field::UserName | Field::ProductName | Field::Price
        )
    }

    /// Whether values of the field can be part of a group key or a distinct set (not floats).
    pub fn is_keyable(self) -> bool {
        !matches!(self.column_type(), ColumnType::Float)
    }

    /// Whether the field is numeric (can be summed or averaged).
    pub fn is_numeric(self) -> bool {
        matches!(
            self.column_type(),
            ColumnType::Int | ColumnType::Float | ColumnType::Timestamp
        )
    }
}

fn opt_str(v: &Option<CompactString>) -> Value {
    v.as_ref().map_or(Value::Null, |s| Value::Str(s.clone()))
}

impl Event {
    /// The value of a field.
    pub fn get(&self, field: Field) -> Value {
        match field {
            Field::EventId => Value::Str(self.event_id.clone()),
            Field::UserId => Value::Int(self.user_id),
            Field::ProductId => self.product_id.map_or(Value::Null, Value::Int),
            Field::EventType => Value::Str(self.event_type.clone()),
            Field::Page => Value::Str(self.page.clone()),
            Field::Device => Value::Str(self.device.clone()),
            Field::Country => Value::Str(self.country.clone()),
            Field::Amount => Value::Float(self.amount),
            Field::EventTs => Value::Timestamp(self.event_ts),
            Field::Segment => Value::Str(self.segment.clone()),
            Field::IsPremium => Value::Bool(self.is_premium),
            Field::UserName => opt_str(&self.user_name),
            Field::Category => Value::Str(self.category.clone()),
            Field::ProductName => opt_str(&self.product_name),
            Field::Price => self.price.map_or(Value::Null, Value::Float),
        }
    }

    /// The field as a key part; floats (which the builder never lets through) become `Null`.
    pub fn key_part(&self, field: Field) -> KeyPart {
        match field {
            Field::EventId => KeyPart::Str(self.event_id.clone()),
            Field::UserId => KeyPart::Int(self.user_id),
            Field::ProductId => self.product_id.map_or(KeyPart::Null, KeyPart::Int),
            Field::EventType => KeyPart::Str(self.event_type.clone()),
            Field::Page => KeyPart::Str(self.page.clone()),
            Field::Device => KeyPart::Str(self.device.clone()),
            Field::Country => KeyPart::Str(self.country.clone()),
            Field::EventTs => KeyPart::Int(self.event_ts),
            Field::Segment => KeyPart::Str(self.segment.clone()),
            Field::IsPremium => KeyPart::Bool(self.is_premium),
            Field::UserName => self
                .user_name
                .as_ref()
                .map_or(KeyPart::Null, |s| KeyPart::Str(s.clone())),
            Field::Category => KeyPart::Str(self.category.clone()),
            Field::ProductName => self
                .product_name
                .as_ref()
                .map_or(KeyPart::Null, |s| KeyPart::Str(s.clone())),
            Field::Amount | Field::Price => KeyPart::Null,
        }
    }

    /// Whether a string-typed field equals `expected` (filters such as `event_type = purchase`).
    pub fn field_equals(&self, field: Field, expected: &KeyPart) -> bool {
        match (field, expected) {
            (Field::EventType, KeyPart::Str(s)) => self.event_type == *s,
            (Field::Page, KeyPart::Str(s)) => self.page == *s,
            (Field::Device, KeyPart::Str(s)) => self.device == *s,
            (Field::Country, KeyPart::Str(s)) => self.country == *s,
            (Field::Segment, KeyPart::Str(s)) => self.segment == *s,
            (Field::Category, KeyPart::Str(s)) => self.category == *s,
            _ => self.key_part(field) == *expected,
        }
    }

    /// The field as a float, for sums and averages; non-numeric fields give `None`.
    pub fn number(&self, field: Field) -> Option<f64> {
        match field {
            Field::UserId => Some(self.user_id as f64),
            Field::ProductId => self.product_id.map(|p| p as f64),
            Field::Amount => Some(self.amount),
            Field::EventTs => Some(self.event_ts as f64),
            Field::Price => self.price,
            _ => None,
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// A plain event for tests.
    pub fn event(id: &str, user_id: i64, ts: i64) -> Event {
        Event {
            event_id: id.into(),
            user_id,
            product_id: None,
            event_type: "page_view".into(),
            page: "/home".into(),
            device: "mobile".into(),
            country: "US".into(),
            amount: 0.0,
            event_ts: ts,
            kafka_ts: ts,
            segment: "unknown".into(),
            is_premium: false,
            user_name: None,
            category: "unknown".into(),
            product_name: None,
            price: None,
            partition: 0,
            offset: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_name_round_trips() {
        for f in Field::ALL {
            assert_eq!(Field::parse(f.name()), Some(f));
        }
        assert_eq!(Field::parse("nope"), None);
    }

    #[test]
    fn floats_are_not_keyable() {
        assert!(!Field::Amount.is_keyable());
        assert!(!Field::Price.is_keyable());
        assert!(Field::Country.is_keyable());
        assert!(Field::EventTs.is_numeric());
    }
}
