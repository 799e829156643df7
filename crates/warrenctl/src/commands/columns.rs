//! The columns a `list_*` verb offers, where each one comes from in the API's JSON,
//! and the table built from the columns an operator asked for.

use crate::failure::{Failure, Outcome};
use crate::output::Table;
use serde_json::Value;

/// Where a column's value comes from.
#[derive(Clone, Copy, Debug)]
pub enum Field {
    /// A JSON pointer into the API object, e.g. `/connection_details/name`.
    At(&'static str),
    /// The same text in every row (rabbitmqctl's `source_kind` is always `exchange`).
    Fixed(&'static str),
    /// User tags, which some API versions send as `"a,b"` and others as `["a","b"]`.
    Tags(&'static str),
    /// A JSON value shown as compact JSON text (a policy's definition).
    JsonText(&'static str),
}

/// One column a verb offers.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub name: &'static str,
    pub field: Field,
}

/// A column named as the API field it reads.
pub const fn same(name: &'static str, pointer: &'static str) -> Column {
    Column {
        name,
        field: Field::At(pointer),
    }
}

pub const fn col(name: &'static str, field: Field) -> Column {
    Column { name, field }
}

/// The columns to show: those asked for (space- or comma-separated, as rabbitmqctl
/// takes them) or the verb's defaults. Unknown names are a usage error.
pub fn select(
    offered: &'static [Column],
    defaults: &[&str],
    asked: &[String],
) -> Outcome<Vec<Column>> {
    let names: Vec<&str> = asked
        .iter()
        .flat_map(|a| a.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    let names = if names.is_empty() {
        defaults.to_vec()
    } else {
        names
    };
    let unknown: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !offered.iter().any(|c| c.name == *n))
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = offered.iter().map(|c| c.name).collect();
        return Err(Failure::bare(
            crate::failure::EX_USAGE,
            format!(
                "Error (argument validation): Info key(s) {} are not supported\nSupported: {}",
                unknown.join(","),
                known.join(" ")
            ),
        ));
    }
    Ok(names
        .iter()
        .filter_map(|n| offered.iter().find(|c| c.name == *n).copied())
        .collect())
}

/// A table of `objects` (the API's JSON array) under `columns`.
pub fn table(columns: &[Column], objects: &Value) -> Table {
    let empty = Vec::new();
    let objects = objects.as_array().unwrap_or(&empty);
    Table {
        columns: columns.iter().map(|c| c.name.to_string()).collect(),
        rows: objects
            .iter()
            .map(|o| columns.iter().map(|c| extract(c.field, o)).collect())
            .collect(),
    }
}

fn extract(field: Field, object: &Value) -> Value {
    match field {
        Field::At(pointer) => object.pointer(pointer).cloned().unwrap_or(Value::Null),
        Field::Fixed(text) => Value::String(text.into()),
        Field::Tags(pointer) => tags(object.pointer(pointer)),
        Field::JsonText(pointer) => match object.pointer(pointer) {
            Some(Value::String(s)) => Value::String(s.clone()),
            Some(v) => Value::String(v.to_string()),
            None => Value::Null,
        },
    }
}

/// Tags as a JSON array of strings, whichever form the API sent.
pub fn tags(value: Option<&Value>) -> Value {
    match value {
        Some(Value::String(s)) => Value::Array(
            s.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| Value::String(t.into()))
                .collect(),
        ),
        Some(Value::Array(items)) => Value::Array(items.clone()),
        _ => Value::Array(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OFFERED: &[Column] = &[
        same("name", "/name"),
        col("connection", Field::At("/connection_details/name")),
        col("kind", Field::Fixed("exchange")),
        col("tags", Field::Tags("/tags")),
    ];

    #[test]
    fn defaults_apply_when_nothing_is_asked() {
        let cols = select(OFFERED, &["name", "kind"], &[]).unwrap();
        assert_eq!(
            cols.iter().map(|c| c.name).collect::<Vec<_>>(),
            ["name", "kind"]
        );
    }

    #[test]
    fn unknown_columns_are_a_usage_error() {
        let err = select(OFFERED, &["name"], &["name,bogus".into()]).unwrap_err();
        assert_eq!(err.code, crate::failure::EX_USAGE);
        assert!(err.message.contains("Info key(s) bogus are not supported"));
    }

    #[test]
    fn values_come_from_nested_fields_and_tag_strings() {
        let cols = select(OFFERED, &[], &["connection tags".into(), "kind".into()]);
        assert!(
            cols.is_err(),
            "one argument holding two names separated by a space is one name"
        );
        let cols = select(
            OFFERED,
            &[],
            &["connection".into(), "tags".into(), "kind".into()],
        )
        .unwrap();
        let objects = json!([{"connection_details": {"name": "c1"}, "tags": "a, b"}]);
        let t = table(&cols, &objects);
        assert_eq!(
            t.rows,
            vec![vec![json!("c1"), json!(["a", "b"]), json!("exchange")]]
        );
    }
}
