use super::*;
use crate::exchange::args::canonical;
use FieldValue as V;

fn t(pairs: &[(&'static str, FieldValue)]) -> FieldTable {
    FieldTable(
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), v.clone()))
            .collect(),
    )
}

fn s(x: &str) -> FieldValue {
    V::long_string(x)
}

fn matches(binding: &FieldTable, headers: Option<&FieldTable>) -> bool {
    let mut table = HeadersTable::default();
    table.insert("", canonical(binding), 1u32);
    let mut out = Vec::new();
    table.route(headers, &mut out);
    !out.is_empty()
}

/// (binding arguments, message headers, matches?). `None` is a message without headers.
/// Every row except the two legacy ones (RabbitMQ refuses such bindings now) was checked
/// against a running RabbitMQ 3.10.8: bound alone to a queue, one mandatory publish.
fn cases() -> Vec<(FieldTable, Option<FieldTable>, bool)> {
    let ab = t(&[("a", V::I32(1)), ("b", s("x"))]);
    vec![
        // all (explicit and by default): every argument present and equal.
        (
            t(&[("x-match", s("all")), ("a", V::I32(1))]),
            Some(t(&[("a", V::I32(1))])),
            true,
        ),
        (
            ab.clone(),
            Some(t(&[("b", s("x")), ("a", V::I32(1)), ("c", V::Void)])),
            true,
        ),
        (
            ab.clone(),
            Some(t(&[("a", V::I32(1)), ("b", s("y"))])),
            false,
        ),
        (ab.clone(), Some(t(&[("a", V::I32(1))])), false),
        (ab.clone(), None, false),
        (t(&[("a", V::I32(1))]), Some(t(&[("A", V::I32(1))])), false),
        // any: one equal argument is enough.
        (
            t(&[("x-match", s("any")), ("a", V::I32(1)), ("b", V::I32(2))]),
            Some(t(&[("b", V::I32(2))])),
            true,
        ),
        (
            t(&[("x-match", s("any")), ("a", V::I32(1)), ("b", V::I32(2))]),
            Some(t(&[("b", V::I32(3))])),
            false,
        ),
        (t(&[("x-match", s("any")), ("a", V::I32(1))]), None, false),
        // Under all/any, x- arguments are ignored.
        (
            t(&[("x-match", s("all")), ("x-foo", V::I32(1))]),
            None,
            true,
        ),
        (
            t(&[("x-foo", V::I32(1))]),
            Some(t(&[("z", V::I32(9))])),
            true,
        ),
        (
            t(&[("x-match", s("any")), ("x-foo", V::I32(1))]),
            Some(t(&[("x-foo", V::I32(1))])),
            false,
        ),
        (
            t(&[
                ("x-match", s("all")),
                ("x-foo", V::I32(1)),
                ("a", V::I32(1)),
            ]),
            Some(t(&[("a", V::I32(1))])),
            true,
        ),
        // Empty arguments: all matches everything, any nothing.
        (t(&[]), None, true),
        (
            t(&[("x-match", s("any"))]),
            Some(t(&[("a", V::I32(1))])),
            false,
        ),
        // The -with-x forms count x- arguments, but never x-match itself.
        (
            t(&[("x-match", s("all-with-x")), ("x-foo", V::I32(1))]),
            None,
            false,
        ),
        (
            t(&[("x-match", s("all-with-x")), ("x-foo", V::I32(1))]),
            Some(t(&[("x-foo", V::I32(1))])),
            true,
        ),
        (
            t(&[
                ("x-match", s("all-with-x")),
                ("x-foo", V::I32(1)),
                ("a", V::I32(1)),
            ]),
            Some(t(&[("x-foo", V::I32(1))])),
            false,
        ),
        (
            t(&[
                ("x-match", s("any-with-x")),
                ("x-foo", V::I32(1)),
                ("a", V::I32(2)),
            ]),
            Some(t(&[("x-foo", V::I32(1))])),
            true,
        ),
        (
            t(&[("x-match", s("any-with-x")), ("x-foo", V::I32(1))]),
            None,
            false,
        ),
        (
            t(&[("x-match", s("any-with-x"))]),
            Some(t(&[("x-match", s("any-with-x"))])),
            false,
        ),
        (t(&[("x-match", s("all-with-x"))]), None, true),
        // Void: present with any value.
        (t(&[("a", V::Void)]), Some(t(&[("a", s("anything"))])), true),
        (t(&[("a", V::Void)]), Some(t(&[("a", V::Void)])), true),
        (t(&[("a", V::Void)]), Some(t(&[("b", V::I32(1))])), false),
        (t(&[("a", V::Void)]), None, false),
        (
            t(&[("x-match", s("any")), ("a", V::Void), ("b", V::I32(1))]),
            Some(t(&[("a", V::I8(0))])),
            true,
        ),
        (t(&[("a", V::I32(0))]), Some(t(&[("a", V::Void)])), false),
        // Typed comparison: numbers by value, strings are not numbers.
        (t(&[("n", V::I32(1))]), Some(t(&[("n", s("1"))])), false),
        (t(&[("n", s("1"))]), Some(t(&[("n", V::I32(1))])), false),
        (t(&[("n", V::I32(1))]), Some(t(&[("n", V::I64(1))])), true),
        (t(&[("n", V::I32(1))]), Some(t(&[("n", V::F64(1.0))])), true),
        (
            t(&[("n", V::I32(1))]),
            Some(t(&[("n", V::Bool(true))])),
            false,
        ),
        (
            t(&[("n", s("abc"))]),
            Some(t(&[("n", V::Bytes("abc".into()))])),
            true,
        ),
        (
            t(&[("n", V::Array(vec![V::I32(1)]))]),
            Some(t(&[("n", V::Array(vec![V::I64(1)]))])),
            false,
        ),
        (
            t(&[("n", V::Timestamp(5))]),
            Some(t(&[("n", V::I32(5))])),
            true,
        ),
        (t(&[("n", V::I8(1))]), Some(t(&[("n", V::U8(1))])), true),
        (
            t(&[("n", V::F32(1.5))]),
            Some(t(&[("n", V::F64(1.5))])),
            true,
        ),
        (
            t(&[("n", V::I32(1))]),
            Some(t(&[("n", V::F64(1.5))])),
            false,
        ),
        (
            t(&[("n", V::Table(FieldTable::new()))]),
            Some(t(&[("n", V::Array(vec![]))])),
            true,
        ),
        (
            t(&[("n", V::Decimal(2, 150))]),
            Some(t(&[("n", V::Decimal(1, 15))])),
            false,
        ),
        (
            t(&[("n", V::Decimal(2, 150))]),
            Some(t(&[("n", V::Decimal(2, 150))])),
            true,
        ),
        // An empty header table is the same as none.
        (t(&[("a", V::I32(1))]), Some(t(&[])), false),
        (t(&[]), Some(t(&[])), true),
        // A legacy binding with an invalid x-match behaves as all.
        (
            t(&[("x-match", s("bogus")), ("a", V::I32(1))]),
            Some(t(&[("a", V::I32(1))])),
            true,
        ),
        (
            t(&[("x-match", V::I32(1)), ("a", V::I32(1))]),
            Some(t(&[("b", V::I32(1))])),
            false,
        ),
        // Repeated header key: the first one meets the binding entry (merge walk).
        (
            t(&[("a", V::I32(2))]),
            Some(t(&[("a", V::I32(1)), ("a", V::I32(2))])),
            false,
        ),
        (
            t(&[("a", V::I32(1)), ("a", V::I32(2))]),
            Some(t(&[("a", V::I32(1)), ("a", V::I32(2))])),
            true,
        ),
    ]
}

#[test]
fn rabbitmq_cases() {
    for (i, (binding, headers, expected)) in cases().into_iter().enumerate() {
        assert_eq!(
            matches(&binding, headers.as_ref()),
            expected,
            "case {i}: binding {binding:?}, headers {headers:?}"
        );
    }
}

#[test]
fn unsorted_headers_match_like_sorted_ones() {
    let binding = t(&[("m", V::I32(1)), ("b", V::I32(2)), ("z", V::Void)]);
    let headers = t(&[
        ("z", V::I32(0)),
        ("q", V::I32(0)),
        ("b", V::I32(2)),
        ("m", V::I32(1)),
    ]);
    assert!(matches(&binding, Some(&headers)));
    let mut sorted = headers.clone();
    sorted.0.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(matches(&binding, Some(&sorted)));
}

#[test]
fn destination_is_pushed_once_when_several_bindings_match() {
    let mut table = HeadersTable::default();
    table.insert("", canonical(&t(&[("a", V::Void)])), 1u32);
    table.insert("", canonical(&t(&[("b", V::Void)])), 1u32);
    table.insert("", canonical(&t(&[("a", V::Void)])), 2u32);
    let mut out = Vec::new();
    table.route(Some(&t(&[("a", V::I32(1)), ("b", V::I32(1))])), &mut out);
    out.sort();
    assert_eq!(out, vec![1, 2]);
}

#[test]
fn identity_is_key_and_arguments() {
    let mut table = HeadersTable::default();
    let args = canonical(&t(&[("a", V::I32(1))]));
    assert!(table.insert("k", args.clone(), 1u32));
    assert!(!table.insert("k", args.clone(), 1u32));
    assert!(table.insert("other", args.clone(), 1u32));
    assert!(!table.remove("nope", &args, &1));
    assert!(table.remove("k", &args, &1));
    assert_eq!(table.remove_dest(&1), 1);
    let mut out = Vec::new();
    table.route(Some(&t(&[("a", V::I32(1))])), &mut out);
    assert!(out.is_empty());
}
