//! Exchange types as routing tables. Each type lives in its own file; `Router` is the
//! enum that dispatches to them without a virtual call.
//!
//! A router is generic over its destination `D` (the broker uses a handle to a queue or
//! an exchange), so the tables can be tested and benchmarked on their own.
//! PLACEHOLDER: filled in by the routing work (direct, fanout, topic trie, headers).

use amqp_codec::FieldTable;
use std::hash::Hash;

/// The exchange types Warren knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExchangeKind {
    Direct,
    Fanout,
    Topic,
    Headers,
}

impl ExchangeKind {
    /// Parses an AMQP exchange type name (`direct`, `fanout`, `topic`, `headers`).
    pub fn parse(name: &str) -> Option<ExchangeKind> {
        match name {
            "direct" => Some(ExchangeKind::Direct),
            "fanout" => Some(ExchangeKind::Fanout),
            "topic" => Some(ExchangeKind::Topic),
            "headers" => Some(ExchangeKind::Headers),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeKind::Direct => "direct",
            ExchangeKind::Fanout => "fanout",
            ExchangeKind::Topic => "topic",
            ExchangeKind::Headers => "headers",
        }
    }
}

/// One exchange's bindings, organised for its type's matching rule.
pub struct Router<D> {
    kind: ExchangeKind,
    _d: std::marker::PhantomData<D>,
}

impl<D: Clone + Eq + Hash> Router<D> {
    pub fn new(kind: ExchangeKind) -> Router<D> {
        Router {
            kind,
            _d: Default::default(),
        }
    }
    pub fn kind(&self) -> ExchangeKind {
        self.kind
    }
    /// Adds the binding (routing key, arguments, destination). False if it existed.
    pub fn bind(&mut self, _routing_key: &str, _args: &FieldTable, _dest: D) -> bool {
        todo!()
    }
    /// Removes that exact binding. False if there was none.
    pub fn unbind(&mut self, _routing_key: &str, _args: &FieldTable, _dest: &D) -> bool {
        todo!()
    }
    /// Removes every binding to `dest` (its queue or exchange was deleted); returns how many.
    pub fn unbind_destination(&mut self, _dest: &D) -> usize {
        todo!()
    }
    /// Appends the destinations a message matches. May append one destination more than
    /// once (several matching bindings); the caller removes duplicates.
    pub fn route(&self, _routing_key: &str, _headers: Option<&FieldTable>, _out: &mut Vec<D>) {
        todo!()
    }
    /// Every binding as (routing key, arguments, destination), for listing.
    pub fn bindings(&self) -> Vec<(String, FieldTable, D)> {
        todo!()
    }
    pub fn len(&self) -> usize {
        todo!()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// True when some binding leads to `dest`.
    pub fn has_destination(&self, _dest: &D) -> bool {
        todo!()
    }
}
