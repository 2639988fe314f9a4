use crate::dataflow::harness::{people, Harness};

#[test]
fn null_is_false_and_dropped_rows_are_counted() {
    let mut h = Harness::new(people(), |b| {
        let s = b.source();
        let f = b.filter("f", &s, "age >= 18 AND city <> 'oslo'");
        b.sink("out", &f, &[]);
    });
    h.run(
        &[
            r#"{"name":"a","age":20,"city":"rome"}"#,
            r#"{"name":"b","age":20,"city":"oslo"}"#,
            r#"{"name":"c","age":null,"city":"rome"}"#,
            r#"{"name":"d","age":30}"#,
        ],
        0,
        0,
    );
    assert_eq!(h.take(0), ["a,20,rome"]);
    assert_eq!(h.topology.counters()[0].1.filtered, 3);
}
