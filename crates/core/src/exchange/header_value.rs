//! How RabbitMQ compares and prints header values.
//!
//! RabbitMQ's headers exchange compares a binding value with a header value using
//! Erlang's `==` on the decoded values, with the type tags dropped at the top level.
//! So the tag matters only where Erlang's terms differ: every integer width and the
//! timestamp are one kind of number (`I` 1 equals `l` 1 and `T` 1), numbers compare
//! numerically across integers and floats (`I` 1 equals `d` 1.0), a long string equals
//! a byte array with the same bytes, a bool is never a number, and an empty table
//! equals an empty array (both are `[]`). Inside tables and arrays each element keeps
//! its tag, so nested values compare tag and value exactly.

use amqp_codec::{FieldTable, FieldValue};
use std::fmt::Write;

/// A top-level field value as the Erlang term RabbitMQ compares.
enum Term<'a> {
    Int(i128),
    Float(f64),
    Bin(&'a [u8]),
    Bool(bool),
    Decimal(u8, u32),
    Table(&'a FieldTable),
    Array(&'a [FieldValue]),
    Undefined,
}

fn term(v: &FieldValue) -> Term<'_> {
    use FieldValue as V;
    match v {
        V::Bool(b) => Term::Bool(*b),
        V::I8(n) => Term::Int((*n).into()),
        V::U8(n) => Term::Int((*n).into()),
        V::I16(n) => Term::Int((*n).into()),
        V::U16(n) => Term::Int((*n).into()),
        V::I32(n) => Term::Int((*n).into()),
        V::U32(n) => Term::Int((*n).into()),
        V::I64(n) => Term::Int((*n).into()),
        V::Timestamp(n) => Term::Int((*n).into()),
        V::F32(f) => Term::Float((*f).into()),
        V::F64(f) => Term::Float(*f),
        V::Decimal(scale, value) => Term::Decimal(*scale, *value),
        V::LongStr(b) | V::Bytes(b) => Term::Bin(b),
        V::Table(t) => Term::Table(t),
        V::Array(a) => Term::Array(a),
        V::Void => Term::Undefined,
    }
}

/// RabbitMQ's `PV == DV` between a binding value and a header value.
pub(crate) fn values_match(binding: &FieldValue, header: &FieldValue) -> bool {
    match (term(binding), term(header)) {
        (Term::Int(a), Term::Int(b)) => a == b,
        (Term::Float(a), Term::Float(b)) => a == b,
        (Term::Int(i), Term::Float(f)) | (Term::Float(f), Term::Int(i)) => int_eq_float(i, f),
        (Term::Bin(a), Term::Bin(b)) => a == b,
        (Term::Bool(a), Term::Bool(b)) => a == b,
        (Term::Decimal(s, v), Term::Decimal(t, w)) => s == t && v == w,
        (Term::Table(a), Term::Table(b)) => a == b,
        (Term::Array(a), Term::Array(b)) => a == b,
        (Term::Table(t), Term::Array(a)) | (Term::Array(a), Term::Table(t)) => {
            t.is_empty() && a.is_empty()
        }
        (Term::Undefined, Term::Undefined) => true,
        _ => false,
    }
}

/// Exact numeric equality (no rounding of the integer into a float).
fn int_eq_float(i: i128, f: f64) -> bool {
    // 2^127 as a float; any finite float below it in magnitude converts exactly.
    const LIMIT: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;
    f.is_finite() && f.fract() == 0.0 && f.abs() < LIMIT && f as i128 == i
}

/// The Erlang type atom RabbitMQ names a field type by in error messages.
pub(crate) fn type_atom(v: &FieldValue) -> &'static str {
    use FieldValue as V;
    match v {
        V::Bool(_) => "bool",
        V::I8(_) => "byte",
        V::U8(_) => "unsignedbyte",
        V::I16(_) => "short",
        V::U16(_) => "unsignedshort",
        V::I32(_) => "signedint",
        V::U32(_) => "unsignedint",
        V::I64(_) => "long",
        V::F32(_) => "float",
        V::F64(_) => "double",
        V::Decimal(..) => "decimal",
        V::LongStr(_) => "longstr",
        V::Timestamp(_) => "timestamp",
        V::Table(_) => "table",
        V::Array(_) => "array",
        V::Void => "void",
        V::Bytes(_) => "binary",
    }
}

/// The value printed as Erlang's `~tp` prints RabbitMQ's decoded term, close enough for
/// error texts: `<<"abc">>`, `42`, `true`, `{2,150}`, `[{<<"k">>,long,1}]`, `undefined`.
/// (Erlang's float and non-ASCII formatting is approximated.)
pub(crate) fn erlang_term(v: &FieldValue) -> String {
    let mut s = String::new();
    write_value(&mut s, v);
    s
}

fn write_value(s: &mut String, v: &FieldValue) {
    use FieldValue as V;
    let _ = match v {
        V::Bool(b) => write!(s, "{b}"),
        V::I8(n) => write!(s, "{n}"),
        V::U8(n) => write!(s, "{n}"),
        V::I16(n) => write!(s, "{n}"),
        V::U16(n) => write!(s, "{n}"),
        V::I32(n) => write!(s, "{n}"),
        V::U32(n) => write!(s, "{n}"),
        V::I64(n) => write!(s, "{n}"),
        V::Timestamp(n) => write!(s, "{n}"),
        V::F32(f) => write!(s, "{:?}", f64::from(*f)),
        V::F64(f) => write!(s, "{f:?}"),
        V::Decimal(scale, value) => write!(s, "{{{scale},{value}}}"),
        V::LongStr(b) | V::Bytes(b) => {
            write_binary(s, b);
            Ok(())
        }
        V::Table(t) => {
            s.push('[');
            for (i, (k, v)) in t.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push('{');
                write_binary(s, k.as_bytes());
                let _ = write!(s, ",{},", type_atom(v));
                write_value(s, v);
                s.push('}');
            }
            s.push(']');
            Ok(())
        }
        V::Array(a) => {
            s.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                let _ = write!(s, "{{{},", type_atom(v));
                write_value(s, v);
                s.push('}');
            }
            s.push(']');
            Ok(())
        }
        V::Void => write!(s, "undefined"),
    };
}

/// `<<"text">>` for printable ASCII, `<<1,2,3>>` otherwise, as Erlang prints binaries.
fn write_binary(s: &mut String, b: &[u8]) {
    s.push_str("<<");
    if b.iter().all(|c| (0x20..0x7f).contains(c)) {
        s.push('"');
        for &c in b {
            if c == b'"' || c == b'\\' {
                s.push('\\');
            }
            s.push(char::from(c));
        }
        s.push('"');
    } else {
        for (i, c) in b.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "{c}");
        }
    }
    s.push_str(">>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use FieldValue as V;

    fn s(x: &str) -> FieldValue {
        FieldValue::long_string(x)
    }

    #[test]
    fn numbers_compare_across_widths_and_floats() {
        assert!(values_match(&V::I32(1), &V::I64(1)));
        assert!(values_match(&V::I8(-1), &V::I16(-1)));
        assert!(values_match(&V::U8(200), &V::I32(200)));
        assert!(values_match(&V::Timestamp(5), &V::I32(5)));
        assert!(values_match(&V::I32(1), &V::F64(1.0)));
        assert!(values_match(&V::F32(1.5), &V::F64(1.5)));
        assert!(!values_match(&V::I32(1), &V::F64(1.5)));
        assert!(!values_match(&V::I32(1), &V::I32(2)));
        assert!(!values_match(&V::I64(i64::MAX), &V::F64(i64::MAX as f64)));
        assert!(!values_match(&V::F64(f64::NAN), &V::F64(f64::NAN)));
    }

    #[test]
    fn kinds_that_differ_never_match() {
        assert!(!values_match(&V::I32(1), &s("1")));
        assert!(!values_match(&s("1"), &V::I32(1)));
        assert!(!values_match(&V::Bool(true), &V::I32(1)));
        assert!(!values_match(&V::Decimal(0, 1), &V::I32(1)));
        assert!(!values_match(&V::Void, &V::I32(0)));
        assert!(!values_match(&V::Decimal(2, 150), &V::Decimal(1, 15)));
    }

    #[test]
    fn strings_and_byte_arrays_are_both_binaries() {
        assert!(values_match(&s("abc"), &V::Bytes("abc".into())));
        assert!(!values_match(&s("abc"), &s("abd")));
    }

    #[test]
    fn nested_values_keep_their_tags() {
        let a = V::Array(vec![V::I32(1)]);
        assert!(values_match(&a, &V::Array(vec![V::I32(1)])));
        assert!(!values_match(&a, &V::Array(vec![V::I64(1)])));
        assert!(values_match(
            &V::Table(FieldTable::new()),
            &V::Array(vec![])
        ));
        let mut t = FieldTable::new();
        t.insert("k", V::I32(1));
        assert!(!values_match(&V::Table(t), &V::Array(vec![])));
    }

    #[test]
    fn prints_like_erlang() {
        assert_eq!(erlang_term(&s("foo")), "<<\"foo\">>");
        assert_eq!(erlang_term(&s("a\"b")), "<<\"a\\\"b\">>");
        assert_eq!(erlang_term(&V::Bytes(vec![1u8, 200].into())), "<<1,200>>");
        assert_eq!(erlang_term(&V::I32(7)), "7");
        assert_eq!(erlang_term(&V::Decimal(2, 150)), "{2,150}");
        let mut t = FieldTable::new();
        t.insert("k", V::I64(1));
        assert_eq!(erlang_term(&V::Table(t)), "[{<<\"k\">>,long,1}]");
        assert_eq!(
            erlang_term(&V::Array(vec![s("a")])),
            "[{longstr,<<\"a\">>}]"
        );
        assert_eq!(erlang_term(&V::Void), "undefined");
    }
}
