//! Binding arguments in canonical form, and binding identity.
//!
//! RabbitMQ sorts a binding's arguments by key (a stable sort, so repeated keys keep
//! their order) before storing or looking up the binding, so `{a:1, b:2}` and
//! `{b:2, a:1}` name the same binding, and the stored (listed) form is the sorted one.
//! Warren does the same. Identity compares keys, type tags and values exactly; floats
//! compare by bit pattern so that a NaN argument still names one binding that can be
//! unbound (with IEEE equality it could never be found again).

use amqp_codec::{FieldTable, FieldValue};

/// The arguments sorted by key bytes, as RabbitMQ stores them.
pub(crate) fn canonical(args: &FieldTable) -> FieldTable {
    let mut sorted = args.clone();
    // `sort_by` is stable: repeated keys keep the publisher's order, as lists:keysort does.
    sorted.0.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    sorted
}

/// True when two canonical argument tables name the same binding.
pub(crate) fn same_args(a: &FieldTable, b: &FieldTable) -> bool {
    a.0.len() == b.0.len()
        && a.0
            .iter()
            .zip(&b.0)
            .all(|((ka, va), (kb, vb))| ka == kb && same_value(va, vb))
}

fn same_value(a: &FieldValue, b: &FieldValue) -> bool {
    use FieldValue as V;
    match (a, b) {
        (V::F32(x), V::F32(y)) => x.to_bits() == y.to_bits(),
        (V::F64(x), V::F64(y)) => x.to_bits() == y.to_bits(),
        (V::Table(x), V::Table(y)) => same_args(x, y),
        (V::Array(x), V::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_value(p, q))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(pairs: &[(&'static str, FieldValue)]) -> FieldTable {
        FieldTable(
            pairs
                .iter()
                .map(|(k, v)| ((*k).into(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn key_order_does_not_change_identity() {
        let a = table(&[("b", FieldValue::I32(2)), ("a", FieldValue::I32(1))]);
        let b = table(&[("a", FieldValue::I32(1)), ("b", FieldValue::I32(2))]);
        assert!(same_args(&canonical(&a), &canonical(&b)));
        assert_eq!(canonical(&a), b);
    }

    #[test]
    fn type_tag_is_part_of_identity() {
        let a = table(&[("n", FieldValue::I32(1))]);
        let b = table(&[("n", FieldValue::I64(1))]);
        assert!(!same_args(&canonical(&a), &canonical(&b)));
    }

    #[test]
    fn sort_is_stable_for_repeated_keys() {
        let a = table(&[
            ("k", FieldValue::I32(2)),
            ("a", FieldValue::Void),
            ("k", FieldValue::I32(1)),
        ]);
        let c = canonical(&a);
        assert_eq!(c.0[1].1, FieldValue::I32(2));
        assert_eq!(c.0[2].1, FieldValue::I32(1));
    }

    #[test]
    fn nan_argument_is_one_binding() {
        let a = table(&[("f", FieldValue::F64(f64::NAN))]);
        assert!(same_args(&canonical(&a), &canonical(&a)));
        let nested = table(&[("t", FieldValue::Array(vec![FieldValue::F32(f32::NAN)]))]);
        assert!(same_args(&nested, &nested.clone()));
    }
}
