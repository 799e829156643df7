use super::*;
use amqp_codec::FieldValue as V;

const KINDS: [ExchangeKind; 4] = [
    ExchangeKind::Direct,
    ExchangeKind::Fanout,
    ExchangeKind::Topic,
    ExchangeKind::Headers,
];

fn t(pairs: &[(&'static str, V)]) -> FieldTable {
    FieldTable(
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), v.clone()))
            .collect(),
    )
}

fn routed(r: &Router<u32>, key: &str, headers: Option<&FieldTable>) -> Vec<u32> {
    let mut out = Vec::new();
    r.route(key, headers, &mut out);
    out.sort();
    out.dedup();
    out
}

#[test]
fn duplicate_triple_is_a_no_op_for_every_kind() {
    for kind in KINDS {
        let mut r = Router::new(kind);
        assert_eq!(r.kind(), kind);
        assert!(r.bind("k", &FieldTable::new(), 1u32), "{kind:?}");
        assert!(!r.bind("k", &FieldTable::new(), 1), "{kind:?}");
        assert!(r.bind("k2", &FieldTable::new(), 1), "{kind:?}: other key");
        assert!(
            r.bind("k", &t(&[("a", V::I32(1))]), 1),
            "{kind:?}: other args"
        );
        assert!(r.bind("k", &FieldTable::new(), 2), "{kind:?}: other dest");
        assert_eq!(r.len(), 4, "{kind:?}");
        assert_eq!(r.destination_count(), 2, "{kind:?}");
    }
}

#[test]
fn argument_order_does_not_make_a_new_binding() {
    for kind in KINDS {
        let mut r = Router::new(kind);
        let ab = t(&[("a", V::I32(1)), ("b", V::I32(2))]);
        let ba = t(&[("b", V::I32(2)), ("a", V::I32(1))]);
        assert!(r.bind("k", &ab, 1u32));
        assert!(!r.bind("k", &ba, 1), "{kind:?}");
        assert!(r.unbind("k", &ba, &1), "{kind:?}");
        assert!(r.is_empty());
    }
}

#[test]
fn type_tag_makes_a_new_binding() {
    let mut r = Router::new(ExchangeKind::Direct);
    assert!(r.bind("k", &t(&[("n", V::I32(1))]), 1u32));
    assert!(r.bind("k", &t(&[("n", V::I64(1))]), 1u32));
    assert_eq!(r.len(), 2);
    assert_eq!(routed(&r, "k", None), vec![1]);
}

#[test]
fn unbind_is_exact_and_updates_counts() {
    for kind in KINDS {
        let mut r = Router::new(kind);
        r.bind("k", &FieldTable::new(), 1u32);
        r.bind("j", &FieldTable::new(), 1);
        assert!(!r.unbind("k", &t(&[("a", V::Void)]), &1), "{kind:?}");
        assert!(!r.unbind("k", &FieldTable::new(), &2), "{kind:?}");
        assert!(!r.unbind("x", &FieldTable::new(), &1), "{kind:?}");
        assert!(r.unbind("k", &FieldTable::new(), &1), "{kind:?}");
        assert!(!r.unbind("k", &FieldTable::new(), &1), "{kind:?}");
        assert!(r.has_destination(&1), "{kind:?}: still bound with j");
        assert!(r.unbind("j", &FieldTable::new(), &1));
        assert!(!r.has_destination(&1));
        assert!(r.is_empty());
    }
}

#[test]
fn unbind_destination_removes_all_of_its_bindings() {
    for kind in KINDS {
        let mut r = Router::new(kind);
        for key in ["a", "a.b", "#", "", "a.*"] {
            r.bind(key, &FieldTable::new(), 1u32);
            r.bind(key, &t(&[("x", V::I32(1))]), 1);
            r.bind(key, &FieldTable::new(), 2);
        }
        assert_eq!(r.unbind_destination(&1), 10, "{kind:?}");
        assert_eq!(r.unbind_destination(&1), 0, "{kind:?}");
        assert!(!r.has_destination(&1));
        assert!(r.has_destination(&2));
        assert_eq!(r.len(), 5, "{kind:?}");
        assert!(r.bindings().iter().all(|(_, _, d)| *d == 2), "{kind:?}");
        for key in ["a", "a.b", "x"] {
            assert!(!routed(&r, key, None).contains(&1), "{kind:?} {key}");
        }
    }
}

#[test]
fn bindings_lists_every_triple_with_sorted_arguments() {
    for kind in KINDS {
        let mut r = Router::new(kind);
        r.bind("a.b", &t(&[("z", V::I32(1)), ("a", V::I32(2))]), 1u32);
        r.bind("", &FieldTable::new(), 2);
        r.bind("#", &FieldTable::new(), 2);
        let mut listed = r.bindings();
        listed.sort_by(|x, y| (&x.0, x.2).cmp(&(&y.0, y.2)));
        assert_eq!(listed.len(), 3, "{kind:?}");
        assert_eq!(listed[0], ("".into(), FieldTable::new(), 2));
        assert_eq!(listed[1], ("#".into(), FieldTable::new(), 2));
        assert_eq!(
            listed[2],
            ("a.b".into(), t(&[("a", V::I32(2)), ("z", V::I32(1))]), 1),
            "{kind:?}"
        );
    }
}

#[test]
fn each_kind_routes_by_its_rule() {
    let headers = t(&[("h", V::long_string("v"))]);
    let mut routers: Vec<Router<u32>> = KINDS.iter().map(|k| Router::new(*k)).collect();
    for r in &mut routers {
        r.bind("a.b", &FieldTable::new(), 1);
        r.bind("a.*", &FieldTable::new(), 2);
        r.bind("x", &t(&[("h", V::long_string("v"))]), 3);
    }
    let [direct, fanout, topic, headers_x] = &routers[..] else {
        unreachable!("four kinds")
    };
    assert_eq!(routed(direct, "a.b", None), vec![1]);
    assert_eq!(routed(direct, "a.c", None), Vec::<u32>::new());
    assert_eq!(routed(fanout, "whatever", None), vec![1, 2, 3]);
    assert_eq!(routed(topic, "a.b", None), vec![1, 2]);
    assert_eq!(routed(topic, "a.c", None), vec![2]);
    // Empty arguments under the default all match every message.
    assert_eq!(routed(headers_x, "ignored", None), vec![1, 2]);
    assert_eq!(routed(headers_x, "ignored", Some(&headers)), vec![1, 2, 3]);
}

#[test]
fn direct_fanout_and_headers_push_a_destination_once() {
    for kind in [
        ExchangeKind::Direct,
        ExchangeKind::Fanout,
        ExchangeKind::Headers,
    ] {
        let mut r = Router::new(kind);
        r.bind("k", &FieldTable::new(), 1u32);
        r.bind("k", &t(&[("x-a", V::Void)]), 1);
        let mut out = Vec::new();
        r.route("k", None, &mut out);
        assert_eq!(out, vec![1], "{kind:?}");
    }
}

#[test]
fn validate_accepts_what_rabbitmq_accepts() {
    let ok = |args: FieldTable| validate_binding_args(ExchangeKind::Headers, &args);
    assert_eq!(ok(FieldTable::new()), Ok(()));
    for mode in ["all", "any", "all-with-x", "any-with-x"] {
        assert_eq!(ok(t(&[("x-match", V::long_string(mode))])), Ok(()));
    }
    // Only headers exchanges look at x-match.
    let bad = t(&[("x-match", V::long_string("bogus"))]);
    for kind in [
        ExchangeKind::Direct,
        ExchangeKind::Fanout,
        ExchangeKind::Topic,
    ] {
        assert_eq!(validate_binding_args(kind, &bad), Ok(()));
    }
}

#[test]
fn validate_refuses_with_rabbitmqs_text() {
    let err = |v: V| validate_binding_args(ExchangeKind::Headers, &t(&[("x-match", v)]));
    assert_eq!(
        err(V::long_string("foo")),
        Err(
            "Invalid x-match field value <<\"foo\">>; expected all, any, all-with-x, or any-with-x"
                .into()
        )
    );
    assert_eq!(
        err(V::long_string("ALL")),
        Err(
            "Invalid x-match field value <<\"ALL\">>; expected all, any, all-with-x, or any-with-x"
                .into()
        )
    );
    assert_eq!(
        err(V::I32(1)),
        Err("Invalid x-match field type signedint (value 1); expected longstr".into())
    );
    assert_eq!(
        err(V::Bytes("all".into())),
        Err("Invalid x-match field type binary (value <<\"all\">>); expected longstr".into())
    );
    assert_eq!(
        err(V::Bool(true)),
        Err("Invalid x-match field type bool (value true); expected longstr".into())
    );
}

#[test]
fn debug_shows_kind_and_size() {
    let mut r = Router::new(ExchangeKind::Topic);
    r.bind("a", &FieldTable::new(), 1u32);
    assert_eq!(format!("{r:?}"), "Router { kind: Topic, bindings: 1, .. }");
}

#[test]
fn generation_changes_exactly_when_bindings_do() {
    let mut r = Router::new(ExchangeKind::Topic);
    let g0 = r.generation();
    r.bind("a.#", &FieldTable::new(), 1u32);
    let g1 = r.generation();
    assert_ne!(g0, g1);
    r.bind("a.#", &FieldTable::new(), 1);
    r.unbind("b", &FieldTable::new(), &1);
    r.unbind_destination(&9);
    let mut out = Vec::new();
    r.route("a", None, &mut out);
    assert_eq!(r.generation(), g1, "no-ops and routing leave it alone");
    r.unbind("a.#", &FieldTable::new(), &1);
    let g2 = r.generation();
    assert_ne!(g1, g2);
    r.bind("a.#", &FieldTable::new(), 1);
    let g3 = r.generation();
    assert_ne!(g2, g3);
    r.unbind_destination(&1);
    assert_ne!(r.generation(), g3);
}
