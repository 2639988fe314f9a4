//! The `events_clean` sink: every accepted event as a row with all cleaned and enriched
//! fields and its `event_date`.

use crate::error::CoreError;
use crate::event::{EventRef, Field};
use crate::processor::{Context, Processor};
use crate::value::{date_of, Column, ColumnType, Schema, Value};

/// Emits every event it receives as a row.
pub struct EventsSink {
    fields: Vec<Field>,
}

impl Default for EventsSink {
    fn default() -> Self {
        EventsSink {
            fields: Field::ALL.to_vec(),
        }
    }
}

impl EventsSink {
    /// A sink writing the given fields (then `event_date`).
    pub fn new(fields: Vec<Field>) -> Self {
        EventsSink { fields }
    }
}

impl Processor for EventsSink {
    fn validate(&self) -> Vec<String> {
        if self.fields.is_empty() {
            vec!["a sink needs at least one field".into()]
        } else {
            Vec::new()
        }
    }

    fn output_schema(&self) -> Option<Schema> {
        let mut columns: Vec<Column> = self
            .fields
            .iter()
            .map(|f| Column {
                name: f.name().into(),
                ty: f.column_type(),
                nullable: f.nullable(),
            })
            .collect();
        columns.push(Column::new("event_date", ColumnType::Date));
        Some(Schema { columns })
    }

    fn output_key_columns(&self) -> Vec<usize> {
        // Events are keyed by their id: copies of one event land in one partition.
        self.fields
            .iter()
            .position(|f| *f == Field::EventId)
            .into_iter()
            .collect()
    }

    fn process(&mut self, event: EventRef, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        let mut row = Vec::with_capacity(self.fields.len() + 1);
        row.extend(self.fields.iter().map(|f| event.get(*f)));
        row.push(Value::Date(date_of(event.event_ts)));
        ctx.emit(row);
        Ok(())
    }
}
