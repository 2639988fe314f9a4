//! Loading the dimension tables (`users.csv`, `products.csv`, `segments.csv`).

use std::collections::HashMap;
use std::path::Path;

use compact_str::CompactString;
use serde::Deserialize;
use streams_core::processors::enrich::{DimTables, ProductDim, UserDim};

#[derive(Deserialize)]
struct UserRow {
    user_id: i64,
    name: String,
    segment: String,
    country: String,
}

#[derive(Deserialize)]
struct ProductRow {
    product_id: i64,
    name: String,
    category: String,
    price: f64,
}

#[derive(Deserialize)]
struct SegmentRow {
    segment: String,
    is_premium: String,
}

fn read_rows<T: for<'de> Deserialize<'de>>(path: &Path, errors: &mut Vec<String>) -> Vec<T> {
    let mut reader = match csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
    {
        Ok(r) => r,
        Err(e) => {
            errors.push(format!(
                "{}: cannot read dimension file: {}",
                path.display(),
                io_message(&e)
            ));
            return Vec::new();
        }
    };
    let mut rows = Vec::new();
    for (i, rec) in reader.deserialize::<T>().enumerate() {
        match rec {
            Ok(r) => rows.push(r),
            Err(e) => {
                errors.push(format!("{}: row {}: {}", path.display(), i + 2, e));
                if errors.len() > 20 {
                    break;
                }
            }
        }
    }
    rows
}

fn io_message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
            "file not found".into()
        }
        _ => e.to_string(),
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" | "t" => Some(true),
        "false" | "0" | "no" | "n" | "f" | "" => Some(false),
        _ => None,
    }
}

/// Loads the three dimension tables; every problem (missing file, bad row) is appended to
/// `errors` with the file name.
pub fn load_dims(
    users: &Path,
    products: &Path,
    segments: &Path,
    errors: &mut Vec<String>,
) -> DimTables {
    let mut dims = DimTables::default();
    let mut users_map = HashMap::new();
    for r in read_rows::<UserRow>(users, errors) {
        users_map.insert(
            r.user_id,
            UserDim {
                name: CompactString::from(r.name),
                segment: CompactString::from(r.segment.to_lowercase()),
                country: CompactString::from(r.country.to_uppercase()),
            },
        );
    }
    dims.users = users_map;
    for r in read_rows::<ProductRow>(products, errors) {
        dims.products.insert(
            r.product_id,
            ProductDim {
                name: CompactString::from(r.name),
                category: CompactString::from(r.category.to_lowercase()),
                price: r.price,
            },
        );
    }
    for (i, r) in read_rows::<SegmentRow>(segments, errors)
        .into_iter()
        .enumerate()
    {
        match parse_bool(&r.is_premium) {
            Some(b) => {
                dims.segments
                    .insert(CompactString::from(r.segment.to_lowercase()), b);
            }
            None => errors.push(format!(
                "{}: row {}: is_premium `{}` is not true or false",
                segments.display(),
                i + 2,
                r.is_premium
            )),
        }
    }
    dims
}
