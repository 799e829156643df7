//! Routing a published message to its queues.
//!
//! A `Publisher` belongs to one channel (or one MQTT/STOMP session) and caches name
//! lookups, so steady-state publishing takes no vhost-wide lock: only the read locks
//! of the exchanges the message passes through. Its cache holds only exchanges the
//! publisher may write to, so the write permission is checked once per exchange name,
//! not once per message.

use super::exchange::{Dest, ExchangeRef};
use super::VHostRef;
use crate::access::{Access, ResourceKind};
use crate::error::{CoreError, CoreResult};
use crate::exchange::ExchangeKind;
use crate::fast_hash::{FastMap, FastSet};
use crate::queue::QueueRef;
use amqp_codec::FieldTable;

/// Cached entries beyond this are dropped wholesale: publishers to many short-lived
/// queues (RPC replies) must not grow the cache without bound.
const CACHE_LIMIT: usize = 1024;

pub struct Publisher {
    vhost: VHostRef,
    access: Access,
    exchanges: FastMap<Box<str>, ExchangeRef>,
    queues: FastMap<Box<str>, QueueRef>,
    /// Scratch space reused across routes.
    pending: Vec<ExchangeRef>,
    visited: Vec<ExchangeRef>,
    matched: Vec<Dest>,
    /// Delayed exchanges the last routes reached with a positive `x-delay`, and the
    /// delay: the message waits there instead of going on (`take_delayed`).
    delayed: Vec<(ExchangeRef, u64)>,
    /// The ids of the queues in a large route output (see `push_unique`).
    seen: FastSet<u64>,
}

impl Publisher {
    pub fn new(vhost: VHostRef, access: Access) -> Publisher {
        Publisher {
            vhost,
            access,
            exchanges: FastMap::default(),
            queues: FastMap::default(),
            pending: Vec::new(),
            visited: Vec::new(),
            matched: Vec::new(),
            delayed: Vec::new(),
            seen: FastSet::default(),
        }
    }

    pub fn vhost(&self) -> &VHostRef {
        &self.vhost
    }

    /// The exchange to publish to: 403 without write permission on it (checked first,
    /// as RabbitMQ does), 404 when it does not exist.
    pub fn exchange(&mut self, name: &str) -> CoreResult<ExchangeRef> {
        if let Some(e) = self.exchanges.get(name) {
            if !e.is_deleted() {
                return Ok(e.clone());
            }
        }
        self.access.write(ResourceKind::Exchange, name)?;
        let e = self
            .vhost
            .exchange(name)
            .ok_or_else(|| CoreError::not_found("exchange", name, &self.vhost.name))?;
        if self.exchanges.len() >= CACHE_LIMIT {
            self.exchanges.clear();
        }
        self.exchanges.insert(name.into(), e.clone());
        Ok(e)
    }

    fn queue_by_name(&mut self, name: &str) -> Option<QueueRef> {
        if let Some(q) = self.queues.get(name) {
            if !q.is_deleted() {
                return Some(q.clone());
            }
            self.queues.remove(name);
        }
        let q = self.vhost.queue(name)?;
        if self.queues.len() >= CACHE_LIMIT {
            self.queues.clear();
        }
        self.queues.insert(name.into(), q.clone());
        Some(q)
    }

    /// Appends to `out` every queue the message reaches from `exchange`, each once,
    /// following exchange-to-exchange bindings (cycles are visited once) and alternate
    /// exchanges of exchanges that route nowhere.
    ///
    /// `properties` are the message's encoded AMQP properties; their headers table is
    /// decoded only if a headers exchange is on the way.
    ///
    /// A delayed exchange on the way (`x-delayed-message`) keeps a message with a
    /// positive `x-delay` header instead: the caller hands it over to each exchange
    /// `take_delayed` returns.
    pub fn route(
        &mut self,
        exchange: &ExchangeRef,
        routing_key: &str,
        properties: &[u8],
        out: &mut Vec<QueueRef>,
    ) {
        self.route_from(exchange, routing_key, properties, out, false);
    }

    /// As `route`, for a message a delayed exchange held and now lets go: that
    /// exchange routes it at once (others further on still delay it).
    pub fn route_released(
        &mut self,
        exchange: &ExchangeRef,
        routing_key: &str,
        properties: &[u8],
        out: &mut Vec<QueueRef>,
    ) {
        self.route_from(exchange, routing_key, properties, out, true);
    }

    /// The delayed exchanges the routes since the last call stopped at, with the
    /// message's delay.
    pub fn take_delayed(&mut self) -> Vec<(ExchangeRef, u64)> {
        std::mem::take(&mut self.delayed)
    }

    fn route_from(
        &mut self,
        exchange: &ExchangeRef,
        routing_key: &str,
        properties: &[u8],
        out: &mut Vec<QueueRef>,
        released: bool,
    ) {
        if exchange.is_default() {
            if let Some(q) = self.queue_by_name(routing_key) {
                push_unique(&mut self.seen, out, q);
            }
            return;
        }
        self.pending.clear();
        self.visited.clear();
        self.pending.push(exchange.clone());
        let mut headers: Option<FieldTable> = None;
        while let Some(current) = self.pending.pop() {
            if self.visited.iter().any(|v| v == &current) {
                continue;
            }
            self.visited.push(current.clone());
            if current.delayer().is_some() && !(released && &current == exchange) {
                let headers = headers.get_or_insert_with(|| decode_headers(properties));
                if let Some(delay) = super::delayed::delay_of(headers) {
                    if !self.delayed.iter().any(|(e, _)| e == &current) {
                        self.delayed.push((current, delay));
                    }
                    continue;
                }
            }
            self.matched.clear();
            if current.kind == ExchangeKind::Headers && headers.is_none() {
                headers = Some(decode_headers(properties));
            }
            current
                .router
                .read()
                .route(routing_key, headers.as_ref(), &mut self.matched);
            if self.matched.is_empty() {
                if let Some(alternate) = current.alternate() {
                    if let Ok(ae) = self.exchange(&alternate) {
                        self.pending.push(ae);
                    }
                }
                continue;
            }
            for dest in self.matched.drain(..) {
                match dest {
                    Dest::Queue(q) => push_unique(&mut self.seen, out, q),
                    Dest::Exchange(e) => self.pending.push(e),
                }
            }
        }
    }
}

/// The headers table of encoded properties; empty when absent or unreadable (the
/// adapter has already checked the properties when the message arrived).
fn decode_headers(properties: &[u8]) -> FieldTable {
    amqp_codec::scan_properties(properties)
        .ok()
        .and_then(|view| view.headers.map(amqp_codec::decode_table))
        .and_then(|table| table.ok())
        .unwrap_or_default()
}

/// Up to this many queues in a route's output, duplicates are found by a linear
/// scan (cheapest for the usual handful); beyond it, by a set of queue ids.
const SCAN_LIMIT: usize = 32;

/// Adds `queue` to `out` unless it is there already. Every push to `out` goes
/// through here, so once `out` is past `SCAN_LIMIT` the `seen` set matches it
/// exactly; it is rebuilt when `out` crosses the limit (a caller clears `out`
/// between messages, and may route one message with several keys into it).
fn push_unique(seen: &mut FastSet<u64>, out: &mut Vec<QueueRef>, queue: QueueRef) {
    if out.len() < SCAN_LIMIT {
        if !out.iter().any(|q| q.id() == queue.id()) {
            out.push(queue);
            if out.len() == SCAN_LIMIT {
                seen.clear();
                seen.extend(out.iter().map(|q| q.id()));
            }
        }
        return;
    }
    if seen.len() != out.len() {
        seen.clear();
        seen.extend(out.iter().map(|q| q.id()));
    }
    if seen.insert(queue.id()) {
        out.push(queue);
    }
}
