use super::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// (binding key, routing key, matches?) as RabbitMQ 3.10 decides them. Checked against
/// a running RabbitMQ 3.10.8: each row bound alone to a queue, one message published.
const CASES: &[(&str, &str, bool)] = &[
    // Binding key "" is zero words: only routing key "" has zero words.
    ("", "", true),
    ("", "a", false),
    ("", ".", false),
    // `#` is zero or more words.
    ("#", "", true),
    ("#", "a", true),
    ("#", "a.b.c", true),
    ("#", ".", true),
    ("#", "#", true),
    // `*` is exactly one word, empty words included; `""` has none.
    ("*", "", false),
    ("*", "a", true),
    ("*", "*", true),
    ("*", "#", true),
    ("*", "a.b", false),
    ("*", ".", false),
    ("*", "a.", false),
    ("*.*", ".", true),
    ("*.a", ".a", true),
    ("a.*", "a.", true),
    ("a.*", "a", false),
    ("a.*.c", "a..c", true),
    ("a.*.c", "a.b.c", true),
    ("a.*.c", "a.c", false),
    ("*.*.*", "a.b.c", true),
    ("*.*.*", "a.b", false),
    // `*` and `#` combined: `*.#`, `#.*`, `#.*.#` need at least one word.
    ("*.#", "", false),
    ("#.*", "", false),
    ("#.*.#", "", false),
    ("*.#", "a", true),
    ("#.*", "a", true),
    ("#.*", "a.b.c", true),
    ("#.*.#", "a", true),
    ("*.#.#", "a", true),
    ("*.#.#", "", false),
    ("a.*.#", "a", false),
    ("a.*.#", "a.b", true),
    ("a.*.#", "a.b.c", true),
    // Repeated `#`.
    ("#.#", "", true),
    ("#.#", ".", true),
    ("#.#", "a.b", true),
    ("#.#.#", "x.y.z.w", true),
    ("#.#.a", "a", true),
    ("a.#.#.b", "a.b", true),
    ("a.#.#.b", "a.x.y.b", true),
    ("a.#.#.b", "a.x", false),
    ("a.#.#.b", "b.a.b", false),
    // `#` at either end or in the middle.
    ("a.#", "a", true),
    ("a.#", "a.", true),
    ("a.#", "a.b.c", true),
    ("a.#", "ab", false),
    ("a.#", "b.a", false),
    ("#.a", "a", true),
    ("#.a", "b.a", true),
    ("#.a", "a.b", false),
    ("#.b", "b", true),
    ("a.#.b", "a.b", true),
    ("a.#.b", "a.b.b", true),
    ("a.#.b", "a.b.c", false),
    ("#.a.#", "a", true),
    ("#.a.#", "x.a.y", true),
    ("#.a.#", "x.y", false),
    ("#.a.#", "", false),
    ("#.b.#", "a.b.c", true),
    // Literal words: exact, case-sensitive, empty words are words.
    ("a.b.c", "a.b.c", true),
    ("a.b.c", "a.b", false),
    ("a.b.c", "a.b.c.d", false),
    ("A", "a", false),
    ("vodka.martini", "vodka.martini", true),
    ("vodka.martini", "vodka.gin", false),
    ("a..b", "a..b", true),
    ("a..b", "a.b", false),
    (".", ".", true),
    (".", "", false),
    (".", "..", false),
    ("a.", "a.", true),
    ("a.", "a", false),
    (".a", ".a", true),
    ("..", "..", true),
    // Wildcards only count as whole words; in a routing key they are plain words.
    ("a*", "ab", false),
    ("a*", "a*", true),
    ("a#", "a.b", false),
    ("a#", "a#", true),
    ("a", "*", false),
    ("a", "#", false),
];

fn table_of(bindings: &[(&str, u32)]) -> TopicTable<u32> {
    let mut t = TopicTable::default();
    for (key, dest) in bindings {
        t.insert(key, FieldTable::new(), *dest);
    }
    t
}

fn routed(t: &TopicTable<u32>, key: &str) -> Vec<u32> {
    let mut out = Vec::new();
    t.route(key, &mut out);
    out.sort();
    out.dedup();
    out
}

#[test]
fn rabbitmq_cases() {
    assert!(CASES.len() >= 40);
    for &(binding, key, expected) in CASES {
        let t = table_of(&[(binding, 1)]);
        let got = !routed(&t, key).is_empty();
        assert_eq!(got, expected, "binding {binding:?}, routing key {key:?}");
    }
}

#[test]
fn all_cases_in_one_trie() {
    // The same rows with every binding in one trie: shared prefixes must not leak.
    let bindings: Vec<(&str, u32)> = CASES
        .iter()
        .enumerate()
        .map(|(i, c)| (c.0, i as u32))
        .collect();
    let t = table_of(&bindings);
    for &(_, key, _) in CASES {
        let expected: Vec<u32> = CASES
            .iter()
            .enumerate()
            .filter(|(_, c)| reference_str(c.0, key))
            .map(|(i, _)| i as u32)
            .collect();
        assert_eq!(routed(&t, key), expected, "routing key {key:?}");
    }
}

#[test]
fn duplicate_binding_is_a_no_op() {
    let mut t = TopicTable::default();
    let mut args = FieldTable::new();
    args.insert("x", amqp_codec::FieldValue::I32(1));
    assert!(t.insert("a.*", FieldTable::new(), 1));
    assert!(!t.insert("a.*", FieldTable::new(), 1));
    assert!(
        t.insert("a.*", args.clone(), 1),
        "other arguments: another binding"
    );
    assert!(
        t.insert("a.#", FieldTable::new(), 1),
        "other key: another binding"
    );
    let mut out = Vec::new();
    t.route("a.b", &mut out);
    assert_eq!(out, vec![1, 1], "once per matching key, not per arguments");
}

#[test]
fn unbind_prunes_empty_nodes() {
    let mut t = TopicTable::default();
    let keys = ["a.b.c", "a.*.c", "a.#", "#.c", "#.#", "", ".", "a.b.c.d.e"];
    for k in keys {
        t.insert(k, FieldTable::new(), 1);
    }
    t.insert("a.b.c", FieldTable::new(), 2);
    assert!(t.node_count() > 1);
    assert!(!t.remove("a.b", &FieldTable::new(), &1), "no binding there");
    assert!(!t.remove("x.y.z", &FieldTable::new(), &1));
    for k in keys {
        assert!(t.remove(k, &FieldTable::new(), &1), "{k}");
        assert!(!t.remove(k, &FieldTable::new(), &1), "{k} twice");
    }
    assert_eq!(routed(&t, "a.b.c"), vec![2], "the other binding survives");
    assert!(t.remove("a.b.c", &FieldTable::new(), &2));
    assert_eq!(t.node_count(), 1, "only the root is left");
}

#[test]
fn remove_dest_takes_every_argument_variant() {
    let mut t = TopicTable::default();
    let mut args = FieldTable::new();
    args.insert("x", amqp_codec::FieldValue::Void);
    t.insert("a.#", FieldTable::new(), 1);
    t.insert("a.#", args, 1);
    t.insert("a.#", FieldTable::new(), 2);
    assert_eq!(t.remove_dest("a.#", &1), 2);
    assert_eq!(t.remove_dest("a.#", &1), 0);
    assert_eq!(routed(&t, "a"), vec![2]);
    assert_eq!(t.remove_dest("a.#", &2), 1);
    assert_eq!(t.node_count(), 1);
}

#[test]
fn listing_rebuilds_the_keys() {
    let keys = ["", ".", "a.", ".a", "a.*.#", "#", "*", "a..b"];
    let t = table_of(&keys.iter().map(|k| (*k, 1)).collect::<Vec<_>>());
    let mut listed = Vec::new();
    t.for_each(|k, _, d| listed.push((k.to_string(), *d)));
    listed.sort();
    let mut expected: Vec<(String, u32)> = keys.iter().map(|k| (k.to_string(), 1)).collect();
    expected.sort();
    assert_eq!(listed, expected);
}

#[test]
fn many_hashes_stay_linear() {
    // A backtracking matcher takes ~C(60, 30) steps here; the state set takes a few
    // thousand. The assertion is on the answer; a regression shows as a hung test.
    let pattern = ["#"; 30].join(".") + ".z";
    let t = table_of(&[(&pattern, 1)]);
    let miss = ["a"; 60].join(".");
    assert!(routed(&t, &miss).is_empty());
    let hit = miss + ".z";
    assert_eq!(routed(&t, &hit), vec![1]);
}

/// The rules written as plainly as possible: a recursive word matcher.
fn reference(pattern: &[&str], key: &[&str]) -> bool {
    match pattern.split_first() {
        None => key.is_empty(),
        Some((&"#", rest)) => (0..=key.len()).any(|i| reference(rest, &key[i..])),
        Some((&"*", rest)) => !key.is_empty() && reference(rest, &key[1..]),
        Some((w, rest)) => key.first() == Some(w) && reference(rest, &key[1..]),
    }
}

fn reference_str(pattern: &str, key: &str) -> bool {
    let p: Vec<&str> = words(pattern).collect();
    let k: Vec<&str> = words(key).collect();
    reference(&p, &k)
}

fn random_key(rng: &mut StdRng, alphabet: &[&str]) -> String {
    let n = rng.random_range(0..6);
    let ws: Vec<&str> = (0..n)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())])
        .collect();
    ws.join(".")
}

#[test]
fn randomized_against_reference() {
    let key_words = ["a", "b", "", "ab"];
    let pattern_words = ["a", "b", "", "*", "#", "#", "*"];
    let mut rng = StdRng::seed_from_u64(0x5eed);
    for round in 0..20 {
        let patterns: Vec<String> = (0..150)
            .map(|_| random_key(&mut rng, &pattern_words))
            .collect();
        let mut t = TopicTable::default();
        for (i, p) in patterns.iter().enumerate() {
            assert!(t.insert(p, FieldTable::new(), i as u32));
        }
        // Unbind a third, so pruning is exercised before matching.
        let mut live: Vec<bool> = vec![true; patterns.len()];
        for (i, p) in patterns.iter().enumerate() {
            if rng.random_range(0..3) == 0 {
                assert!(t.remove(p, &FieldTable::new(), &(i as u32)));
                live[i] = false;
            }
        }
        for _ in 0..300 {
            let key = random_key(&mut rng, &key_words);
            let expected: Vec<u32> = patterns
                .iter()
                .enumerate()
                .filter(|(i, p)| live[*i] && reference_str(p, &key))
                .map(|(i, _)| i as u32)
                .collect();
            let mut got = Vec::new();
            t.route(&key, &mut got);
            got.sort();
            assert_eq!(got, expected, "round {round}, routing key {key:?}");
        }
    }
}
