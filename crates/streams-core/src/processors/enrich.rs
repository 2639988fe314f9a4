//! Stream-table join (DESIGN §3.2, step 5): a left join of each event against the users,
//! products and segments dimension tables, held in memory.

use std::collections::HashMap;
use std::sync::Arc;

use compact_str::CompactString;

use crate::error::CoreError;
use crate::event::{Event, EventRef};
use crate::processor::{Context, Processor};

/// A row of the users dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct UserDim {
    /// Display name.
    pub name: CompactString,
    /// Segment (`premium`, `standard`, ...).
    pub segment: CompactString,
    /// Home country.
    pub country: CompactString,
}

/// A row of the products dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductDim {
    /// Product name.
    pub name: CompactString,
    /// Category.
    pub category: CompactString,
    /// List price.
    pub price: f64,
}

/// The dimension tables the join reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DimTables {
    /// Users by id.
    pub users: HashMap<i64, UserDim>,
    /// Products by id.
    pub products: HashMap<i64, ProductDim>,
    /// Segment → is premium.
    pub segments: HashMap<CompactString, bool>,
}

/// The segment of users not found in the users table.
pub const UNKNOWN: &str = "unknown";

impl DimTables {
    /// Fills the enrichment fields of `e`.
    pub fn enrich(&self, e: &mut Event) {
        match self.users.get(&e.user_id) {
            Some(u) => {
                e.segment = u.segment.clone();
                e.user_name = Some(u.name.clone());
            }
            None => {
                e.segment = CompactString::const_new(UNKNOWN);
                e.user_name = None;
            }
        }
        e.is_premium = self.segments.get(&e.segment).copied().unwrap_or(false);
        match e.product_id.and_then(|p| self.products.get(&p)) {
            Some(p) => {
                e.category = p.category.clone();
                e.product_name = Some(p.name.clone());
                e.price = Some(p.price);
            }
            None => {
                e.category = CompactString::const_new(UNKNOWN);
                e.product_name = None;
                e.price = None;
            }
        }
    }
}

/// The join processor.
pub struct Enrich {
    dims: Arc<DimTables>,
}

impl Enrich {
    /// Joins against `dims`.
    pub fn new(dims: Arc<DimTables>) -> Self {
        Enrich { dims }
    }
}

impl Processor for Enrich {
    fn process(&mut self, mut event: EventRef, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        self.dims.enrich(EventRef::make_mut(&mut event));
        ctx.forward(event);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::test_support::event;

    #[test]
    fn left_join_table() {
        let mut dims = DimTables::default();
        dims.users.insert(
            7,
            UserDim {
                name: "Ada".into(),
                segment: "premium".into(),
                country: "GB".into(),
            },
        );
        dims.users.insert(
            8,
            UserDim {
                name: "Bob".into(),
                segment: "mystery".into(),
                country: "US".into(),
            },
        );
        dims.products.insert(
            3,
            ProductDim {
                name: "Lamp".into(),
                category: "home".into(),
                price: 20.0,
            },
        );
        dims.segments.insert("premium".into(), true);
        // (user, product, segment, premium, category)
        let cases = [
            (7, Some(3), "premium", true, "home"),
            (8, None, "mystery", false, "unknown"),
            (9, Some(4), "unknown", false, "unknown"),
            (0, Some(3), "unknown", false, "home"),
        ];
        for (user, product, segment, premium, category) in cases {
            let mut e = event("e", user, 0);
            e.product_id = product;
            dims.enrich(&mut e);
            assert_eq!(
                (e.segment.as_str(), e.is_premium, e.category.as_str()),
                (segment, premium, category),
                "user {user}"
            );
        }
    }
}
