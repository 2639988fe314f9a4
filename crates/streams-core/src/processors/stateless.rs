//! Stateless processors: map, filter, flat_map and branch.

use crate::error::CoreError;
use crate::event::{Event, EventRef};
use crate::processor::{Context, Processor};

/// A branch predicate.
pub type Predicate = Box<dyn FnMut(&Event) -> bool + Send>;

/// One-to-one transformation.
pub struct Map<F>(F);

impl<F: FnMut(Event) -> Event + Send> Map<F> {
    /// Wraps `f`.
    pub fn new(f: F) -> Self {
        Map(f)
    }
}

impl<F: FnMut(Event) -> Event + Send> Processor for Map<F> {
    fn process(&mut self, event: EventRef, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        ctx.forward(EventRef::new((self.0)(EventRef::unwrap_or_clone(event))));
        Ok(())
    }
}

/// Keeps events for which the predicate holds.
pub struct Filter<F>(F);

impl<F: FnMut(&Event) -> bool + Send> Filter<F> {
    /// Wraps `pred`.
    pub fn new(pred: F) -> Self {
        Filter(pred)
    }
}

impl<F: FnMut(&Event) -> bool + Send> Processor for Filter<F> {
    fn process(&mut self, event: EventRef, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        if (self.0)(&event) {
            ctx.forward(event);
        }
        Ok(())
    }
}

/// One-to-many transformation.
pub struct FlatMap<F>(F);

impl<F: FnMut(Event) -> Vec<Event> + Send> FlatMap<F> {
    /// Wraps `f`.
    pub fn new(f: F) -> Self {
        FlatMap(f)
    }
}

impl<F: FnMut(Event) -> Vec<Event> + Send> Processor for FlatMap<F> {
    fn process(&mut self, event: EventRef, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        for e in (self.0)(EventRef::unwrap_or_clone(event)) {
            ctx.forward(EventRef::new(e));
        }
        Ok(())
    }
}

/// Sends each event to the first port whose predicate holds; unmatched events are dropped.
pub struct Branch {
    preds: Vec<Predicate>,
}

impl Branch {
    /// One predicate per port, in port order.
    pub fn new(preds: Vec<Predicate>) -> Self {
        Branch { preds }
    }
}

impl Processor for Branch {
    fn validate(&self) -> Vec<String> {
        if self.preds.is_empty() {
            vec!["a branch needs at least one port".into()]
        } else {
            Vec::new()
        }
    }

    fn process(&mut self, event: EventRef, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        if let Some(port) = self.preds.iter_mut().position(|p| p(&event)) {
            ctx.forward_to(port, event);
        }
        Ok(())
    }
}
