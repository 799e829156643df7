//! One MQTT subscriber connection: reads deliveries in place, acknowledges them in
//! the same write (PUBACK at QoS 1; PUBREC, then PUBCOMP for the broker's PUBREL at
//! QoS 2), and accounts every stamp: latency, and per publisher the sequence
//! numbers (loss, duplicates, reordering).

use super::session::Client;
use super::tracker::SeqTracker;
use super::wire::{next_packet, put_ack, Incoming, PUBACK, PUBCOMP, PUBREC};
use crate::payload::{now_ns, read_stamp};
use crate::stats::Stats;
use crate::stop::Stop;
use anyhow::{bail, Result};
use bytes::{Buf, BytesMut};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use tokio::io::Interest;

#[derive(Debug, Default)]
pub struct SubscriberResult {
    /// Indexed by publisher id.
    pub trackers: Vec<SeqTracker>,
    pub deliveries: u64,
    /// Deliveries too short to carry a stamp (not this tool's messages).
    pub unstamped: u64,
}

/// Runs until `done` fires (the orchestrator's call: everything expected arrived, or
/// the drain time is up).
pub async fn run(client: Client, stats: Arc<Stats>, done: Arc<Stop>) -> Result<SubscriberResult> {
    let v5 = client.version.is_v5();
    let stream = client.stream;
    let mut rbuf = client.rbuf;
    let mut wbuf = BytesMut::with_capacity(16 * 1024);
    let mut out = SubscriberResult::default();
    let mut latencies: Vec<u64> = Vec::with_capacity(4096);
    let mut leftover = !rbuf.is_empty();
    loop {
        let mut interest = Interest::READABLE;
        if !wbuf.is_empty() {
            interest |= Interest::WRITABLE;
        }
        // Whatever arrived with the SUBACK is handled before the first wait.
        let ready = if std::mem::take(&mut leftover) {
            None
        } else {
            tokio::select! {
                r = stream.ready(interest) => Some(r?),
                _ = done.wait() => break,
            }
        };
        if ready.is_some_and(|r| r.is_writable()) && !wbuf.is_empty() {
            match stream.try_write(&wbuf) {
                Ok(n) => wbuf.advance(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
        if ready.is_some_and(|r| r.is_readable()) {
            rbuf.reserve(64 * 1024);
            match stream.try_read_buf(&mut rbuf) {
                Ok(0) => bail!("the broker closed the subscriber's connection"),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let ns = now_ns();
        let mut at = 0;
        let mut delivered = 0;
        while let Some((packet, n)) = next_packet(&rbuf[at..], v5)? {
            at += n;
            match packet {
                Incoming::Publish {
                    qos,
                    packet_id,
                    payload,
                } => {
                    delivered += 1;
                    match read_stamp(payload) {
                        Some(stamp) => {
                            let p = stamp.producer as usize;
                            if out.trackers.len() <= p {
                                out.trackers.resize_with(p + 1, SeqTracker::default);
                            }
                            out.trackers[p].see(stamp.seq);
                            latencies.push(ns.saturating_sub(stamp.sent_ns));
                        }
                        None => out.unstamped += 1,
                    }
                    match qos {
                        1 => put_ack(&mut wbuf, PUBACK, packet_id),
                        2 => put_ack(&mut wbuf, PUBREC, packet_id),
                        _ => {}
                    }
                }
                Incoming::PubRel(id) => put_ack(&mut wbuf, PUBCOMP, id),
                Incoming::Disconnect(code) => {
                    bail!("the broker disconnected the subscriber (reason {code:#04x})")
                }
                _ => {}
            }
        }
        rbuf.advance(at);
        if delivered > 0 {
            out.deliveries += delivered;
            Stats::add(&stats.counters.consumed, delivered);
            stats.counters.last_consumed_ns.fetch_max(ns, Relaxed);
            stats.record_e2e(&latencies);
            latencies.clear();
        }
    }
    // Acknowledge what was read, then say goodbye; neither is waited for.
    wbuf.extend_from_slice(&[0xe0, 0]);
    let _ = stream.try_write(&wbuf);
    Ok(out)
}
