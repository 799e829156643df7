//! Prometheus' text exposition format (version 0.0.4), written by hand: a metric
//! family is a `# TYPE` and a `# HELP` line (in the order RabbitMQ's exporter writes
//! them) followed by its samples, `name{label="value",...} number`.

use std::fmt::Write;

/// What a family's samples mean to Prometheus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    /// RabbitMQ's exporter types its alarm and info metrics so.
    Untyped,
}

impl Kind {
    fn text(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Untyped => "untyped",
        }
    }
}

/// The text of one scrape.
pub struct Exposition {
    text: String,
    /// The family being written: its samples take its name.
    current: &'static str,
}

impl Exposition {
    pub fn with_capacity(bytes: usize) -> Exposition {
        Exposition {
            text: String::with_capacity(bytes),
            current: "",
        }
    }

    /// Starts a family; the samples that follow belong to it.
    pub fn family(&mut self, name: &'static str, kind: Kind, help: &str) -> &mut Self {
        let _ = write!(
            self.text,
            "# TYPE {name} {}\n# HELP {name} {help}\n",
            kind.text()
        );
        self.current = name;
        self
    }

    /// A sample of the current family without labels.
    pub fn value(&mut self, value: f64) -> &mut Self {
        self.sample(&[], value)
    }

    /// A sample of the current family with `labels` (name, value pairs).
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.text.push_str(self.current);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (name, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                self.text.push_str(name);
                self.text.push_str("=\"");
                push_escaped(&mut self.text, value);
                self.text.push('"');
            }
            self.text.push('}');
        }
        self.text.push(' ');
        push_number(&mut self.text, value);
        self.text.push('\n');
        self
    }

    pub fn finish(self) -> String {
        self.text
    }
}

/// A label value with `\`, `"` and newlines escaped, as the format requires.
fn push_escaped(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Whole numbers without a fraction (counters are integers), others as Rust prints
/// them; NaN and infinities as Prometheus spells them.
fn push_number(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        let _ = write!(out, "{}", value as i64);
    } else {
        let _ = write!(out, "{value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_families_samples_and_escaped_labels() {
        let mut e = Exposition::with_capacity(0);
        e.family("rabbitmq_queues", Kind::Gauge, "Queues available")
            .value(3.0);
        e.family("rabbitmq_queue_messages", Kind::Gauge, "Depth")
            .sample(&[("vhost", "/"), ("queue", "a\"b\\c\nd")], 2.0)
            .sample(&[("vhost", "/"), ("queue", "x")], 0.5);
        assert_eq!(
            e.finish(),
            "# TYPE rabbitmq_queues gauge\n# HELP rabbitmq_queues Queues available\n\
             rabbitmq_queues 3\n\
             # TYPE rabbitmq_queue_messages gauge\n# HELP rabbitmq_queue_messages Depth\n\
             rabbitmq_queue_messages{vhost=\"/\",queue=\"a\\\"b\\\\c\\nd\"} 2\n\
             rabbitmq_queue_messages{vhost=\"/\",queue=\"x\"} 0.5\n"
        );
    }

    #[test]
    fn numbers_as_prometheus_reads_them() {
        let mut s = String::new();
        for v in [0.0, 12.0, f64::NAN, f64::INFINITY, 1.25] {
            push_number(&mut s, v);
            s.push(' ');
        }
        assert_eq!(s, "0 12 NaN +Inf 1.25 ");
    }
}
