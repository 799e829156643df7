//! Headers exchange: bindings match on the message's header table, not its routing key.
//!
//! This follows `rabbit_exchange_type_headers` (RabbitMQ 3.10) rule for rule:
//! - `x-match` is `all` (also when absent, or invalid on a legacy binding), `any`,
//!   `all-with-x` or `any-with-x`. The `x-match` entry itself never takes part.
//! - Under `all`/`any` every other binding argument whose key starts with `x-` is
//!   skipped, so a binding of only `x-` arguments matches every message under `all` and
//!   none under `any`. Under the `-with-x` forms they take part like any other.
//! - A binding value of type void matches any value of a header that is present.
//! - Otherwise values compare as Erlang's `==` does (see `header_value`).
//! - RabbitMQ walks the binding arguments and the headers both sorted by key, pairing
//!   them merge-style; with a repeated key the n-th binding entry meets the n-th header
//!   entry of that key. Warren walks the same way, so even repeated keys behave alike.
//!
//! The routing key is ignored for matching, but stays part of a binding's identity.

use super::dest_set::{DestSet, Identity};
use super::fanout::KeyedArgs;
use super::header_value::values_match;
use amqp_codec::{FieldTable, FieldValue, ShortStr};
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::hash::Hash;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MatchMode {
    All,
    Any,
    AllWithX,
    AnyWithX,
}

impl MatchMode {
    /// The mode a binding's `x-match` names; values refused by
    /// `validate_binding_args` read as `All`, as in RabbitMQ.
    pub(crate) fn of(args: &FieldTable) -> MatchMode {
        match args.get("x-match").and_then(FieldValue::as_str) {
            Some("any") => MatchMode::Any,
            Some("all-with-x") => MatchMode::AllWithX,
            Some("any-with-x") => MatchMode::AnyWithX,
            _ => MatchMode::All,
        }
    }

    pub(crate) fn is_valid_name(name: &[u8]) -> bool {
        matches!(name, b"all" | b"any" | b"all-with-x" | b"any-with-x")
    }

    fn needs_all(self) -> bool {
        matches!(self, MatchMode::All | MatchMode::AllWithX)
    }

    fn counts_x_args(self) -> bool {
        matches!(self, MatchMode::AllWithX | MatchMode::AnyWithX)
    }
}

/// A binding compiled for matching: the arguments that take part, sorted by key.
pub(crate) struct HeadersBinding {
    id: KeyedArgs,
    mode: MatchMode,
    pattern: Vec<(ShortStr, FieldValue)>,
}

impl HeadersBinding {
    /// `args` must be canonical (sorted by key).
    fn compile(key: &str, args: FieldTable) -> HeadersBinding {
        let mode = MatchMode::of(&args);
        let pattern = args
            .iter()
            .filter(|(k, _)| {
                k.as_str() != "x-match" && (mode.counts_x_args() || !k.starts_with("x-"))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        HeadersBinding {
            id: KeyedArgs {
                key: key.into(),
                args,
            },
            mode,
            pattern,
        }
    }

    /// The merge walk of RabbitMQ's `headers_match/5`; `headers` sorted by key.
    fn matches<H: Borrow<(ShortStr, FieldValue)>>(&self, headers: &[H]) -> bool {
        let mut all = true;
        let mut any = false;
        let mut data = headers.iter().map(Borrow::borrow).peekable();
        for (pk, pv) in &self.pattern {
            // Headers sorting before this binding key cannot match it: skip them.
            while data
                .next_if(|(dk, _)| dk.as_bytes().as_ref() < pk.as_bytes().as_ref())
                .is_some()
            {}
            let hit = match data.peek() {
                Some((dk, dv)) if dk.as_bytes().cmp(pk.as_bytes()) == Ordering::Equal => {
                    let hit = matches!(pv, FieldValue::Void) || values_match(pv, dv);
                    data.next();
                    hit
                }
                // Absent from the headers.
                _ => false,
            };
            if hit {
                any = true;
            } else {
                all = false;
            }
            if self.mode.needs_all() && !all {
                return false;
            }
            if !self.mode.needs_all() && any {
                return true;
            }
        }
        if self.mode.needs_all() {
            all
        } else {
            any
        }
    }
}

impl Identity for HeadersBinding {
    fn same(&self, other: &Self) -> bool {
        self.id.same(&other.id)
    }
}

pub(crate) struct HeadersTable<D> {
    bindings: DestSet<D, HeadersBinding>,
}

impl<D> Default for HeadersTable<D> {
    fn default() -> Self {
        HeadersTable {
            bindings: DestSet::default(),
        }
    }
}

impl<D: Clone + Eq + Hash> HeadersTable<D> {
    /// `args` must be canonical (sorted by key).
    pub(crate) fn insert(&mut self, key: &str, args: FieldTable, dest: D) -> bool {
        self.bindings
            .insert(HeadersBinding::compile(key, args), dest)
    }

    pub(crate) fn remove(&mut self, key: &str, args: &FieldTable, dest: &D) -> bool {
        let probe = HeadersBinding {
            id: KeyedArgs {
                key: key.into(),
                args: args.clone(),
            },
            mode: MatchMode::All,
            pattern: Vec::new(),
        };
        self.bindings.remove(&probe, dest)
    }

    pub(crate) fn remove_dest(&mut self, dest: &D) -> usize {
        self.bindings.remove_dest(dest)
    }

    /// A destination is pushed once however many of its bindings match.
    pub(crate) fn route(&self, headers: Option<&FieldTable>, out: &mut Vec<D>) {
        if self.bindings.is_empty() {
            return;
        }
        let data = headers.map_or(&[][..], |h| &h.0[..]);
        let sorted = data.is_sorted_by(|a, b| a.0.as_bytes() <= b.0.as_bytes());
        if sorted {
            // Already in key order (common for small tables): no copy at all.
            self.route_sorted(data, out);
        } else {
            // One small copy of references per message, not per binding.
            let mut refs: Vec<&(ShortStr, FieldValue)> = data.iter().collect();
            refs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            self.route_sorted(&refs, out);
        }
    }

    fn route_sorted<H: Borrow<(ShortStr, FieldValue)>>(&self, headers: &[H], out: &mut Vec<D>) {
        for e in self.bindings.entries() {
            if e.ids.iter().any(|b| b.matches(headers)) {
                out.push(e.dest.clone());
            }
        }
    }

    pub(crate) fn for_each(&self, mut f: impl FnMut(&str, &FieldTable, &D)) {
        for e in self.bindings.entries() {
            for b in &e.ids {
                f(&b.id.key, &b.id.args, &e.dest);
            }
        }
    }
}

#[cfg(test)]
#[path = "headers_tests.rs"]
mod tests;
