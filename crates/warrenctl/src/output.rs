//! What a command prints on stdout: rabbitmqctl's informational lines ("Listing
//! queues for vhost / ..."), tables in one of three formats, and plain result lines.
//!
//! `-q` drops the informational lines, `-s` also the table headers, and JSON output
//! carries no informational lines at all (so it can be piped), as with rabbitmqctl.

use clap::ValueEnum;
use serde_json::{Map, Value};
use std::io::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Formatter {
    /// Tab-separated with a header line, as rabbitmqctl prints by default.
    Tsv,
    /// One JSON object per row in a JSON array.
    Json,
    /// Aligned columns in a box, for reading.
    Table,
}

/// Rows of values under named columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

#[derive(Clone, Copy, Debug)]
pub struct Output {
    pub formatter: Formatter,
    pub quiet: bool,
    pub silent: bool,
    pub no_headers: bool,
}

impl Output {
    /// An informational line, such as rabbitmqctl's banners.
    pub fn info(&self, line: &str) {
        if !self.quiet && !self.silent && self.formatter != Formatter::Json {
            print_out(&format!("{line}\n"));
        }
    }

    /// A result line ("Queue was successfully deleted with 3 ready messages"),
    /// printed even with `-q` and `-s`, as rabbitmqctl does.
    pub fn result(&self, line: &str) {
        print_out(&format!("{line}\n"));
    }

    pub fn table(&self, table: &Table) {
        let headers = !self.silent && !self.no_headers;
        let text = match self.formatter {
            Formatter::Tsv => tsv(table, headers),
            Formatter::Json => json(table),
            Formatter::Table => boxed(table, headers),
        };
        print_out(&text);
    }

    /// A JSON document as is (`--formatter json` for commands that are not tables).
    pub fn document(&self, value: &Value) {
        print_out(&format!("{value}\n"));
    }
}

/// Writes to stdout; a closed pipe (`warrenctl list_queues | head -1`) is not an error.
fn print_out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush());
}

fn tsv(table: &Table, headers: bool) -> String {
    let mut out = String::new();
    if headers && !table.rows.is_empty() {
        out.push_str(&table.columns.join("\t"));
        out.push('\n');
    }
    for row in &table.rows {
        let cells: Vec<String> = row.iter().map(cell).collect();
        out.push_str(&cells.join("\t"));
        out.push('\n');
    }
    out
}

/// rabbitmqctl's JSON layout: `[`, one object per line (later ones led by a comma), `]`.
fn json(table: &Table) -> String {
    let objects: Vec<String> = table
        .rows
        .iter()
        .map(|row| {
            let object: Map<String, Value> = table
                .columns
                .iter()
                .cloned()
                .zip(row.iter().cloned())
                .collect();
            Value::Object(object).to_string()
        })
        .collect();
    if objects.is_empty() {
        "[\n]\n".to_string()
    } else {
        format!("[\n{}\n]\n", objects.join("\n,"))
    }
}

fn boxed(table: &Table, headers: bool) -> String {
    let rows: Vec<Vec<String>> = table
        .rows
        .iter()
        .map(|r| r.iter().map(cell).collect())
        .collect();
    let mut widths: Vec<usize> = table
        .columns
        .iter()
        .map(|c| if headers { c.chars().count() } else { 0 })
        .collect();
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let rule = |left: &str, mid: &str, right: &str| {
        let parts: Vec<String> = widths.iter().map(|w| "─".repeat(w + 2)).collect();
        format!("{left}{}{right}\n", parts.join(mid))
    };
    let line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!(" {c}{} ", " ".repeat(w - c.chars().count())))
            .collect();
        format!("│{}│\n", parts.join("│"))
    };
    let mut out = rule("┌", "┬", "┐");
    if headers {
        out.push_str(&line(&table.columns));
        out.push_str(&rule("├", "┼", "┤"));
    }
    for row in &rows {
        out.push_str(&line(row));
    }
    out.push_str(&rule("└", "┴", "┘"));
    out
}

/// One value as rabbitmqctl prints it in a table: lists as `[a, b]`, argument tables
/// as `[{"key","value"},{"n",1}]`, booleans and numbers bare, absent values empty.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(_) | Value::Number(_) => value.to_string(),
        Value::Array(items) => {
            let items: Vec<String> = items
                .iter()
                .map(|v| match v {
                    Value::Object(_) | Value::Array(_) => v.to_string(),
                    _ => cell(v),
                })
                .collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{{{},{v}}}", Value::String(k.clone())))
                .collect();
            format!("[{}]", entries.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Table {
        Table {
            columns: vec!["name".into(), "arguments".into()],
            rows: vec![
                vec![
                    json!("q1"),
                    json!({"x-max-length": 10, "x-queue-mode": "lazy"}),
                ],
                vec![json!("q2"), json!({})],
            ],
        }
    }

    #[test]
    fn cells_read_like_rabbitmqctl() {
        assert_eq!(
            cell(&json!(["administrator", "monitoring"])),
            "[administrator, monitoring]"
        );
        assert_eq!(
            cell(&json!({"k": "v", "n": 1, "b": true})),
            r#"[{"k","v"},{"n",1},{"b",true}]"#
        );
        assert_eq!(cell(&json!({})), "[]");
        assert_eq!(cell(&json!(null)), "");
        assert_eq!(cell(&json!(false)), "false");
    }

    #[test]
    fn tsv_has_one_header_and_no_header_when_empty() {
        assert_eq!(
            tsv(&sample(), true),
            "name\targuments\nq1\t[{\"x-max-length\",10},{\"x-queue-mode\",\"lazy\"}]\nq2\t[]\n"
        );
        assert_eq!(tsv(&sample(), false).lines().count(), 2);
        let empty = Table {
            columns: vec!["name".into()],
            rows: vec![],
        };
        assert_eq!(tsv(&empty, true), "");
    }

    #[test]
    fn json_is_an_array_of_objects_in_column_order() {
        let text = json(&sample());
        assert!(
            text.starts_with("[\n{\"name\":\"q1\",\"arguments\":{"),
            "{text}"
        );
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed[1], json!({"name": "q2", "arguments": {}}));
        let empty = Table {
            columns: vec!["name".into()],
            rows: vec![],
        };
        assert_eq!(
            serde_json::from_str::<Value>(&json(&empty)).unwrap(),
            json!([])
        );
    }

    #[test]
    fn table_aligns_columns() {
        let text = boxed(&sample(), true);
        let widths: Vec<usize> = text.lines().map(|l| l.chars().count()).collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "{text}");
        assert!(text.contains("│ name │"), "{text}");
    }
}
