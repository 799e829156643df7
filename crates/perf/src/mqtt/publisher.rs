//! One MQTT publisher connection: a single task that fills a write buffer from the
//! PUBLISH template, writes it when the socket takes it, and reads the broker's
//! acknowledgements in between, with no locks and no per-message allocation.
//!
//! QoS 1 and 2 messages hold a packet id from PUBLISH until PUBACK (QoS 1) or
//! PUBCOMP (QoS 2); at most `window` are held at once, and the time each was sent is
//! kept under its id for the confirm latency.

use super::session::Client;
use super::wire::{next_packet, put_ack, Incoming, PublishTemplate, PUBREL};
use crate::payload::{now_ns, tagged_seq};
use crate::stats::Stats;
use crate::stop::Stop;
use anyhow::{bail, Result};
use bytes::{Buf, BytesMut};
use mqtt_codec::QoS;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::Interest;

pub struct PublisherSpec {
    /// Carried in every stamp, so subscribers can tell publishers apart.
    pub id: u16,
    pub topic: String,
    pub qos: QoS,
    pub size: usize,
    /// Messages per second; 0 = as fast as the broker takes them.
    pub rate: f64,
    /// Unacknowledged QoS 1/2 messages at most (lowered to the server's receive
    /// maximum).
    pub window: u16,
    /// Stop after this many messages (else when `stop` fires).
    pub limit: Option<u64>,
    pub batch_bytes: usize,
    /// After stopping, how long to wait for outstanding acknowledgements.
    pub drain: Duration,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct PublisherResult {
    pub published: u64,
    /// Acknowledged by the broker (PUBACK, or PUBCOMP at QoS 2); 0 at QoS 0.
    pub acked: u64,
    /// Still unacknowledged when the drain time ran out.
    pub unacked: u64,
}

/// Packet ids in use and when each was sent (0 = free).
struct InFlight {
    sent_at: Vec<u64>,
    next_id: u16,
    held: usize,
}

impl InFlight {
    fn new() -> InFlight {
        InFlight {
            sent_at: vec![0; 65536],
            next_id: 0,
            held: 0,
        }
    }

    /// A free packet id, marked sent at `ns`. The caller keeps `held` below 65535,
    /// so there always is one.
    fn take(&mut self, ns: u64) -> u16 {
        loop {
            self.next_id = self.next_id % u16::MAX + 1;
            let slot = &mut self.sent_at[self.next_id as usize];
            if *slot == 0 {
                *slot = ns.max(1);
                self.held += 1;
                return self.next_id;
            }
        }
    }

    /// Frees `id`; its send time, or `None` for an id not in flight.
    fn release(&mut self, id: u16) -> Option<u64> {
        let slot = &mut self.sent_at[id as usize];
        if *slot == 0 {
            return None;
        }
        let sent = std::mem::take(slot);
        self.held -= 1;
        Some(sent)
    }
}

pub async fn run(
    client: Client,
    spec: PublisherSpec,
    stats: Arc<Stats>,
    stop: Arc<Stop>,
) -> Result<PublisherResult> {
    let v5 = client.version.is_v5();
    let stream = client.stream;
    let mut rbuf = client.rbuf;
    let acked_qos = spec.qos != QoS::AtMostOnce;
    let window = spec
        .window
        .min(client.server_receive_maximum)
        .clamp(1, u16::MAX - 1) as usize;
    let template = PublishTemplate::new(&spec.topic, spec.qos, client.version, spec.size);
    let batch = spec.batch_bytes.max(template.len());
    let mut wbuf = BytesMut::with_capacity(batch + 4096);
    let mut inflight = InFlight::new();
    let mut result = PublisherResult::default();
    let mut confirms: Vec<u64> = Vec::with_capacity(1024);
    let limit = spec.limit.unwrap_or(u64::MAX);
    let start = Instant::now();
    let due_at = |seq: u64| start + Duration::from_secs_f64(seq as f64 / spec.rate);
    let mut stopped_at: Option<Instant> = None;
    // Reported once at the end, not per packet: a broker that answers QoS 2 with
    // PUBACK (RabbitMQ 3.x downgrades QoS 2 to 1) would otherwise fill the errors.
    let mut wrong_acks = 0u64;
    let mut unknown_ids = 0u64;

    loop {
        let stopping = stop.is_stopped() || result.published >= limit;
        if stopping && stopped_at.is_none() {
            stopped_at = Some(Instant::now());
        }
        if !stopping {
            let ns = now_ns();
            let now = Instant::now();
            let before = result.published;
            while wbuf.len() < batch
                && (!acked_qos || inflight.held < window)
                && result.published < limit
                && (spec.rate <= 0.0 || due_at(result.published) <= now)
            {
                let id = if acked_qos { inflight.take(ns) } else { 0 };
                template.append(&mut wbuf, id, ns, tagged_seq(spec.id, result.published));
                result.published += 1;
            }
            Stats::add(&stats.counters.published, result.published - before);
        }
        if stopping && wbuf.is_empty() && inflight.held == 0 {
            break;
        }
        let drain_left = stopped_at.map(|t| spec.drain.saturating_sub(t.elapsed()));
        if drain_left == Some(Duration::ZERO) {
            result.unacked = inflight.held as u64;
            break;
        }
        // The next rated message, if it is only the clock that holds it back.
        let next_due = (spec.rate > 0.0
            && !stopping
            && result.published < limit
            && (!acked_qos || inflight.held < window)
            && wbuf.len() < batch)
            .then(|| due_at(result.published));

        let mut interest = Interest::READABLE;
        if !wbuf.is_empty() {
            interest |= Interest::WRITABLE;
        }
        let ready = tokio::select! {
            r = stream.ready(interest) => Some(r?),
            _ = tokio::time::sleep_until(next_due.unwrap_or_else(Instant::now).into()),
                if next_due.is_some() => None,
            _ = stop.wait(), if stopped_at.is_none() => None,
            _ = tokio::time::sleep(drain_left.unwrap_or_default()), if drain_left.is_some() => None,
        };
        let Some(ready) = ready else { continue };

        if ready.is_writable() && !wbuf.is_empty() {
            match stream.try_write(&wbuf) {
                Ok(n) => wbuf.advance(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
        if ready.is_readable() {
            rbuf.reserve(16 * 1024);
            match stream.try_read_buf(&mut rbuf) {
                Ok(0) => bail!("the broker closed the publisher's connection"),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e.into()),
            }
            let ns = now_ns();
            let mut at = 0;
            let before = result.acked;
            while let Some((packet, n)) = next_packet(&rbuf[at..], v5)? {
                at += n;
                let done = match packet {
                    Incoming::PubAck(id) if spec.qos == QoS::AtLeastOnce => inflight.release(id),
                    Incoming::PubComp(id) if spec.qos == QoS::ExactlyOnce => inflight.release(id),
                    Incoming::PubRec(id) if spec.qos == QoS::ExactlyOnce => {
                        put_ack(&mut wbuf, PUBREL, id);
                        continue;
                    }
                    Incoming::Disconnect(code) => {
                        bail!("the broker disconnected the publisher (reason {code:#04x})")
                    }
                    Incoming::PubAck(_)
                    | Incoming::PubRec(_)
                    | Incoming::PubComp(_)
                    | Incoming::PubRel(_) => {
                        wrong_acks += 1;
                        continue;
                    }
                    Incoming::Publish { .. } | Incoming::Other(_) => continue,
                };
                match done {
                    Some(sent) => {
                        result.acked += 1;
                        confirms.push(ns.saturating_sub(sent));
                    }
                    None => unknown_ids += 1,
                }
            }
            rbuf.advance(at);
            Stats::add(&stats.counters.confirmed, result.acked - before);
            stats.record_confirms(&confirms);
            confirms.clear();
        }
    }
    if wrong_acks > 0 {
        stats.error(format!(
            "{wrong_acks} acknowledgements of the wrong kind for QoS {} publishes \
             (PUBACK to QoS 2: the broker downgraded them)",
            spec.qos as u8
        ));
    }
    if unknown_ids > 0 {
        stats.error(format!(
            "{unknown_ids} acknowledgements for packet ids not in flight"
        ));
    }
    // A clean goodbye; the broker's answer does not matter.
    let _ = stream.try_write(&[0xe0, 0]);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_ids_skip_those_in_flight_and_wrap() {
        let mut f = InFlight::new();
        assert_eq!(f.take(5), 1);
        assert_eq!(f.take(6), 2);
        assert_eq!(f.release(1), Some(5));
        assert_eq!(f.release(1), None);
        f.next_id = u16::MAX - 1;
        assert_eq!(f.take(7), u16::MAX);
        // 1 is free again, 2 is still held.
        assert_eq!(f.take(8), 1);
        assert_eq!(f.take(9), 3);
        assert_eq!(f.held, 4);
        // A send time of 0 still marks the id as taken.
        let id = f.take(0);
        assert_eq!(f.release(id), Some(1));
    }
}
