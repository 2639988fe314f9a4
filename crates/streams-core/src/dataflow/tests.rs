use std::sync::Arc;

use super::*;
use crate::batch::Origin;
use crate::record::SourceRecord;

use super::harness::people;

fn batch_of(lines: &[&str]) -> Batch {
    let d = people().compile().unwrap();
    let recs: Vec<SourceRecord> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| SourceRecord {
            topic: Arc::from("people"),
            partition: 0,
            offset: i as i64,
            timestamp: 1_000 + i as i64,
            key: None,
            value: l.as_bytes().to_vec(),
        })
        .collect();
    let out = d.decode(&recs).unwrap();
    let n = out.rows.len();
    let origin = out
        .rows
        .iter()
        .map(|&r| Origin {
            partition: 0,
            offset: r as i64,
        })
        .collect();
    Batch::new(out.batch, out.event_ts, vec![i64::MIN; n], origin).unwrap()
}

fn rows(b: &Batch) -> Vec<String> {
    super::harness::render(b)
}

#[test]
fn filter_map_and_fan_out_reach_their_sinks() {
    let mut b = TopologyBuilder::new("people", people().schema());
    let src = b.source();
    let adults = b.filter("adults", &src, "age >= 18");
    let shaped = b.map(
        "shaped",
        &adults,
        &MapSpec {
            set: vec![
                ("city".into(), "upper(coalesce(city, 'unknown'))".into()),
                ("decade".into(), "age - age % 10".into()),
            ],
            drop: vec!["age".into()],
            rename: vec![("name".into(), "who".into())],
            select: vec![],
        },
    );
    b.sink("adults_out", &shaped, &["who"]);
    b.sink("raw", &src, &[]);
    let mut t = b.build().unwrap();
    t.init(i64::MIN, |_| unreachable!("no stores")).unwrap();
    t.process(batch_of(&[
        r#"{"name":"ann","age":34,"city":"oslo"}"#,
        r#"{"name":"bob","age":12}"#,
        r#"{"name":"cy","age":null}"#,
        r#"{"name":"di","age":18}"#,
    ]))
    .unwrap();
    let out = t.take_outputs();
    assert_eq!(t.sinks()[0].name, "adults_out");
    assert_eq!(t.sinks()[0].key_columns, vec![0]);
    let names: Vec<&str> = t.sinks()[0]
        .schema
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["who", "city", "decade"]);
    assert_eq!(rows(&out[0][0]), ["ann,OSLO,30", "di,UNKNOWN,10"]);
    assert_eq!(out[0][0].origin()[1].offset, 3);
    assert_eq!(out[1][0].len(), 4);
    let counters = t.counters();
    assert_eq!(
        counters[0],
        (
            "adults",
            NodeCounters {
                filtered: 2,
                ..Default::default()
            }
        )
    );
    let text = t.describe();
    assert!(
        text.contains("processor adults (filter: where age >= 18) <- people"),
        "{text}"
    );
    assert!(
        text.contains("sink adults_out <- shaped (key: who)"),
        "{text}"
    );
    // The live view: what each step read and forwarded, the tables last.
    let g = t.graph();
    let flow: Vec<(&str, &str, Vec<&str>, u64, u64)> = g
        .iter()
        .map(|n| {
            (
                n.name.as_str(),
                n.kind.as_str(),
                n.inputs.iter().map(String::as_str).collect(),
                n.rows_in,
                n.rows_out,
            )
        })
        .collect();
    let expect: Vec<(&str, &str, Vec<&str>, u64, u64)> = vec![
        ("people", "source", vec![], 4, 4),
        ("adults", "filter", vec!["people"], 4, 2),
        ("shaped", "map", vec!["adults"], 2, 2),
        ("adults_out", "table", vec!["shaped"], 2, 2),
        ("raw", "table", vec!["people"], 4, 4),
    ];
    assert_eq!(flow, expect);
}

#[test]
fn every_build_problem_is_reported_once() {
    let mut b = TopologyBuilder::new("people", people().schema());
    let src = b.source();
    let bad = b.filter("bad", &src, "agee > 1");
    // Reads a broken stream: not checked again.
    let _ = b.filter("downstream", &bad, "nonsense = 1");
    let _ = b.filter("typed", &src, "name + 1 > 2");
    let m = b.map(
        "m",
        &src,
        &MapSpec {
            set: vec![("x".into(), "frob(age)".into())],
            drop: vec!["nope".into()],
            rename: vec![("city".into(), "name".into())],
            select: vec![],
        },
    );
    b.sink("m", &m, &[]);
    b.sink("m", &src, &[]);
    b.sink("out", &src, &["missing"]);
    let errs: Vec<String> = match b.build() {
        Ok(_) => panic!("built"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    };
    let wants = [
        "processor `bad`: where `agee > 1`: at column 1: unknown column `agee` (did you mean `age`?)",
        "processor `typed`: where `name + 1 > 2`: at column 1: `+` needs a number, found string",
        "processor `m`: set `x` = `frob(age)`: at column 1: unknown function `frob`",
        "processor `m`: drop: there is no column `nope`",
        "processor `m`: rename `city` to `name`: `name` exists already",
        "processor `m`: two sinks have this name",
        "processor `out`: key column `missing` is not a column of `people`",
    ];
    assert_eq!(errs.len(), wants.len(), "{errs:#?}");
    for (got, want) in errs.iter().zip(wants) {
        assert!(
            got.starts_with(want),
            "`{got}` does not start with `{want}`"
        );
    }
}
