use super::MapSpec;
use crate::dataflow::harness::{people, Harness};

#[test]
fn set_drop_rename_and_select_apply_in_that_order() {
    let mut h = Harness::new(people(), |b| {
        let s = b.source();
        let m = b.map(
            "m",
            &s,
            &MapSpec {
                set: vec![
                    ("age".into(), "age + 1".into()),
                    ("tag".into(), "concat(name, '@', city)".into()),
                ],
                drop: vec!["city".into()],
                rename: vec![("name".into(), "who".into())],
                select: vec!["tag".into(), "who".into(), "age".into()],
            },
        );
        b.sink("out", &m, &[]);
    });
    h.run(&[r#"{"name":"a","age":20,"city":"rome"}"#], 0, 0);
    assert_eq!(h.take(0), ["a@rome,a,21"]);
}
