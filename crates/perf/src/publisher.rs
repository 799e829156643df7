//! Publishers: many messages encoded into one buffer, written with one call.
//!
//! Each message is the same three frames (basic.publish, content header, body), so
//! they are encoded once per producer into a template; publishing is a copy of the
//! template and a 16-byte stamp patched into the body. One clock read per batch, one
//! atomic add per batch, one `write_all` per batch. A connection may carry several
//! producers (one channel each); its reader half takes the broker's confirms.

use crate::client::connection::read_more;
use crate::client::raw::{self, RawFrame};
use crate::client::{BrokerClosed, Connection};
use crate::confirms::ConfirmTrack;
use crate::payload::{now_ns, tagged_seq, write_stamp, STAMP_LEN};
use crate::stats::Stats;
use crate::stop::Stop;
use amqp_codec::{
    encode_content, encode_method, BasicProperties, BasicPublish, ConfirmSelect, ConnectionClose,
    Method, BASIC_CLASS_ID,
};
use anyhow::{bail, Result};
use bytes::{Buf, BytesMut};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Notify;

/// What every producer publishes.
#[derive(Clone, Debug)]
pub struct PublishSpec {
    pub size: usize,
    pub persistent: bool,
    /// Max unconfirmed per producer; 0 = no confirms.
    pub confirm: u32,
    /// msg/s per producer; 0 = unlimited.
    pub rate: f64,
    /// Paced producers in all: producer `i` starts `i / producers` of an interval
    /// late, so together they publish evenly spaced (1: all at once, lockstep).
    pub phases: u32,
    pub batch_bytes: usize,
}

/// Where one producer publishes.
#[derive(Clone, Debug)]
pub struct Route {
    pub producer_id: u16,
    pub exchange: String,
    pub routing_key: String,
}

/// How many messages may still be published in total (`--count`), shared by all.
pub struct Budget(Option<AtomicU64>);

impl Budget {
    pub fn new(count: Option<u64>) -> Budget {
        Budget(count.map(AtomicU64::new))
    }

    /// Takes up to `want` messages from the budget; returns how many were granted.
    fn claim(&self, want: u64) -> u64 {
        let Some(left) = &self.0 else { return want };
        let mut granted = 0;
        let _ = left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| {
            granted = l.min(want);
            Some(l - granted)
        });
        granted
    }

    fn exhausted(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|l| l.load(Ordering::Relaxed) == 0)
    }
}

/// Shared run control: stop publishing, and shut everything down.
#[derive(Default)]
pub struct Control {
    pub stop_publishing: Stop,
    pub shutdown: Stop,
    /// Publish loops still running; the published count is final once it is 0.
    pub publishing: AtomicUsize,
}

/// Spaces one producer's messages `interval_ns` apart from `start_ns`.
struct Pacer {
    start_ns: u64,
    interval_ns: f64,
}

impl Pacer {
    /// Messages due by `now` beyond the `sent` already published (the first at
    /// `start_ns`).
    fn due(&self, now: u64, sent: u64) -> u64 {
        if now < self.start_ns {
            return 0;
        }
        let elapsed = (now - self.start_ns) as f64;
        ((elapsed / self.interval_ns) as u64 + 1).saturating_sub(sent)
    }

    fn next_at(&self, sent: u64) -> u64 {
        self.start_ns + (sent as f64 * self.interval_ns) as u64
    }
}

struct Producer {
    channel: u16,
    id: u16,
    template: Vec<u8>,
    /// Offset of the body's first byte in `template`, when the body can hold a stamp.
    stamp_at: Option<usize>,
    /// Messages published so far: also the last delivery tag on a confirm channel.
    sent: u64,
    pacer: Option<Pacer>,
    /// A paced producer writes at most once per [`PACE_QUANTUM_NS`], so a high rate
    /// goes out in batches rather than a write per message.
    hold_until: u64,
    confirms: Option<Arc<ConfirmTrack>>,
}

const PACE_QUANTUM_NS: u64 = 1_000_000;

/// The three frames of one message, with a zeroed body.
pub(crate) fn template(
    channel: u16,
    route: &Route,
    spec: &PublishSpec,
    frame_max: u32,
) -> (Vec<u8>, Option<usize>) {
    let props = BasicProperties {
        delivery_mode: Some(if spec.persistent { 2 } else { 1 }),
        ..Default::default()
    }
    .encode();
    let mut buf = BytesMut::new();
    let publish = BasicPublish {
        exchange: route.exchange.clone().into(),
        routing_key: route.routing_key.clone().into(),
        mandatory: false,
        immediate: false,
    };
    encode_method(&mut buf, channel, &publish.into());
    let header_at = buf.len();
    encode_content(
        &mut buf,
        channel,
        BASIC_CLASS_ID,
        &props,
        &vec![0u8; spec.size],
        frame_max,
    );
    // Header frame: 7 (frame header) + 12 (class, weight, size) + props + 1 (end);
    // then the first body frame's 7-byte header.
    let body_at = header_at + 7 + 12 + props.len() + 1 + 7;
    (buf.to_vec(), (spec.size >= STAMP_LEN).then_some(body_at))
}

/// A publishing connection with its channels open, ready to go.
pub struct Prepared {
    conn: Connection,
    producers: Vec<Producer>,
}

/// Opens a channel per route on `conn` (with confirm.select when confirms are on) and
/// builds each producer's message template.
pub async fn prepare(
    mut conn: Connection,
    first_channel: u16,
    routes: &[Route],
    spec: &PublishSpec,
) -> Result<Prepared> {
    let mut producers = Vec::with_capacity(routes.len());
    for (i, route) in routes.iter().enumerate() {
        let channel = first_channel + i as u16;
        conn.open_channel(channel).await?;
        if spec.confirm > 0 {
            match conn
                .rpc(channel, ConfirmSelect { no_wait: false }.into())
                .await?
            {
                Method::ConfirmSelectOk(_) => {}
                other => bail!("expected confirm.select-ok, got {}", other.name()),
            }
        }
        let (template, stamp_at) = template(channel, route, spec, conn.frame_max);
        producers.push(Producer {
            channel,
            id: route.producer_id,
            template,
            stamp_at,
            sent: 0,
            pacer: None,
            hold_until: 0,
            confirms: (spec.confirm > 0).then(|| Arc::new(ConfirmTrack::default())),
        });
    }
    Ok(Prepared { conn, producers })
}

/// Publishes until told to stop (or the budget runs out), then waits for shutdown,
/// collecting confirms all along, and closes the connection.
pub async fn run(
    prepared: Prepared,
    spec: Arc<PublishSpec>,
    stats: Arc<Stats>,
    control: Arc<Control>,
    budget: Arc<Budget>,
) -> Result<()> {
    let Prepared {
        conn,
        mut producers,
    } = prepared;
    let (r, w, rbuf, frame_max) = conn.into_split();
    control.publishing.fetch_add(1, Ordering::AcqRel);
    let start = now_ns();
    if spec.rate > 0.0 {
        let interval_ns = 1e9 / spec.rate;
        let phases = spec.phases.max(1);
        for p in &mut producers {
            let phase = (p.id as u32 % phases) as f64 / phases as f64;
            p.pacer = Some(Pacer {
                start_ns: start + (phase * interval_ns) as u64,
                interval_ns,
            });
        }
    }
    let channels = producers
        .iter()
        .map(|p| p.channel as usize + 1)
        .max()
        .unwrap_or(0);
    let mut tracks = vec![None; channels];
    for p in &producers {
        tracks[p.channel as usize] = p.confirms.clone();
    }
    let wake = Notify::new();
    let writer = write_loop(w, producers, &spec, &stats, &control, &budget, &wake);
    let reader = async {
        let r = read_loop(r, rbuf, frame_max, tracks, &stats, &control, &wake).await;
        if r.is_err() {
            control.shutdown.stop();
        }
        r
    };
    let (w, r) = tokio::join!(writer, reader);
    // The reader's error says why (the broker's close reason); a writer's broken pipe
    // is only its echo.
    r.and(w)
}

async fn write_loop(
    mut w: OwnedWriteHalf,
    mut producers: Vec<Producer>,
    spec: &PublishSpec,
    stats: &Stats,
    control: &Control,
    budget: &Budget,
    wake: &Notify,
) -> Result<()> {
    let result = publish(&mut w, &mut producers, spec, stats, control, budget, wake).await;
    control.publishing.fetch_sub(1, Ordering::Release);
    if let Err(e) = result {
        control.shutdown.stop();
        return Err(e);
    }
    control.shutdown.wait().await;
    let mut buf = BytesMut::new();
    let close = ConnectionClose {
        reply_code: 200,
        reply_text: "done".into(),
        class_id: 0,
        method_id: 0,
    };
    encode_method(&mut buf, 0, &close.into());
    // The broker may already be gone; the reader reports that.
    let _ = w.write_all(&buf).await;
    Ok(())
}

async fn publish(
    w: &mut OwnedWriteHalf,
    producers: &mut [Producer],
    spec: &PublishSpec,
    stats: &Stats,
    control: &Control,
    budget: &Budget,
    wake: &Notify,
) -> Result<()> {
    let largest = producers
        .iter()
        .map(|p| p.template.len())
        .max()
        .unwrap_or(1);
    let per_producer = (spec.batch_bytes / producers.len().max(1) / largest).max(1) as u64;
    let mut buf = BytesMut::with_capacity(spec.batch_bytes + largest);
    let mut pause = MIN_PAUSE;
    loop {
        if control.stop_publishing.is_stopped() || control.shutdown.is_stopped() {
            return Ok(());
        }
        let now = now_ns();
        let mut batch = 0;
        let mut next_due: Option<u64> = None;
        for p in producers.iter_mut() {
            let mut k = per_producer;
            if let Some(pacer) = &p.pacer {
                let due = if now < p.hold_until {
                    0
                } else {
                    pacer.due(now, p.sent)
                };
                if due == 0 {
                    let at = pacer.next_at(p.sent).max(p.hold_until);
                    next_due = Some(next_due.map_or(at, |d| d.min(at)));
                }
                k = k.min(due);
            }
            if let Some(track) = &p.confirms {
                let free = (spec.confirm as usize).saturating_sub(track.outstanding());
                k = k.min(free as u64);
            }
            let k = if k == 0 { 0 } else { budget.claim(k) };
            if k == 0 {
                continue;
            }
            for i in 0..k {
                let at = buf.len();
                buf.extend_from_slice(&p.template);
                if let Some(s) = p.stamp_at {
                    let seq = tagged_seq(p.id, p.sent + i + 1);
                    write_stamp(&mut buf[at + s..at + s + STAMP_LEN], now, seq);
                }
            }
            if let Some(track) = &p.confirms {
                track.push(p.sent + 1, k, now);
            }
            p.sent += k;
            batch += k;
            if p.pacer.is_some() {
                p.hold_until = now + PACE_QUANTUM_NS;
            }
        }
        if batch > 0 {
            write_patiently(w, &buf, &mut pause).await?;
            buf.clear();
            Stats::add(&stats.counters.published, batch);
            // Let the consumers on this thread run between batches.
            tokio::task::yield_now().await;
            continue;
        }
        if budget.exhausted() {
            return Ok(());
        }
        // Nothing may go out now: wait for the pacer, a confirm, or the end.
        let sleep = async {
            match next_due {
                Some(at) => {
                    tokio::time::sleep(Duration::from_nanos(at.saturating_sub(now_ns()))).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            _ = wake.notified() => {}
            _ = control.stop_publishing.wait() => {}
            _ = control.shutdown.wait() => {}
        }
    }
}

/// Writes all of `buf`. When the socket buffer is full the broker is behind (it may be
/// throttling us, as RabbitMQ's credit flow does): rather than waking for every few
/// kilobytes it frees, which costs a context switch and a small write each time and
/// steals CPU from the broker on a shared machine, sleep and then fill the room it
/// made in one go. The sleep adapts so that each wake-up writes at least
/// [`PATIENT_TARGET`] bytes (1 to 8 ms); the kernel buffer (autotuned to megabytes on
/// loopback) holds far more than that of the broker's work, so it never runs dry.
async fn write_patiently(
    w: &mut OwnedWriteHalf,
    buf: &[u8],
    pause: &mut Duration,
) -> std::io::Result<()> {
    let mut off = 0;
    let mut since_pause: Option<usize> = None;
    while off < buf.len() {
        match w.try_write(&buf[off..]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                off += n;
                if let Some(written) = &mut since_pause {
                    *written += n;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Some(written) = since_pause {
                    *pause = if written < PATIENT_TARGET {
                        (*pause * 2).min(MAX_PAUSE)
                    } else {
                        (*pause / 2).max(MIN_PAUSE)
                    };
                }
                tokio::time::sleep(*pause).await;
                w.writable().await?;
                since_pause = Some(0);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// What a publisher blocked by a full socket wants to write per wake-up.
const PATIENT_TARGET: usize = 128 * 1024;
const MIN_PAUSE: Duration = Duration::from_millis(1);
const MAX_PAUSE: Duration = Duration::from_millis(8);

/// Reads confirms (and errors) until the connection closes after shutdown.
async fn read_loop(
    mut r: OwnedReadHalf,
    mut buf: BytesMut,
    frame_max: u32,
    tracks: Vec<Option<Arc<ConfirmTrack>>>,
    stats: &Stats,
    control: &Control,
    wake: &Notify,
) -> Result<()> {
    let limit = frame_max as usize + 8;
    let mut latencies = Vec::new();
    let deadline = async {
        control.shutdown.wait().await;
        tokio::time::sleep(Duration::from_secs(3)).await;
    };
    tokio::pin!(deadline);
    loop {
        let mut pos = 0;
        let now = now_ns();
        let (mut acked, mut nacked) = (0, 0);
        while let Some(frame) = raw::next_frame(&buf, &mut pos, limit)? {
            let RawFrame::Method {
                channel,
                class_id,
                method_id,
                args,
            } = frame
            else {
                continue;
            };
            match (class_id, method_id) {
                (raw::BASIC, raw::BASIC_ACK | raw::BASIC_NACK) => {
                    let (tag, multiple) = raw::confirm_tag(args)?;
                    let Some(Some(track)) = tracks.get(channel as usize) else {
                        bail!("confirm on channel {channel}, which is not in confirm mode");
                    };
                    let n = track.settle(tag, multiple, now, &mut latencies).count;
                    if method_id == raw::BASIC_ACK {
                        acked += n;
                    } else {
                        nacked += n;
                    }
                }
                _ => match RawFrame::decode_method(class_id, method_id, args)? {
                    Method::ConnectionCloseOk(_) => return Ok(()),
                    Method::ConnectionClose(c) => {
                        return Err(BrokerClosed::from_connection_close(&c).into())
                    }
                    Method::ChannelClose(c) => {
                        return Err(BrokerClosed::from_channel_close(&c).into())
                    }
                    Method::ConnectionBlocked(b) => {
                        stats.error(format_args!("broker blocked a publisher: {}", b.reason));
                    }
                    // channel.flow, connection.unblocked, basic.return (never asked for).
                    _ => {}
                },
            }
        }
        buf.advance(pos);
        if acked + nacked > 0 {
            stats.record_confirms(&latencies);
            latencies.clear();
            Stats::add(&stats.counters.confirmed, acked);
            Stats::add(&stats.counters.nacked, nacked);
            wake.notify_one();
        }
        tokio::select! {
            res = read_more(&mut r, &mut buf) => {
                // Once we have sent connection.close, a reset (the broker dropping
                // publishes it had not read yet) is an acceptable end.
                if res.is_err() && control.shutdown.is_stopped() {
                    return Ok(());
                }
                res?;
            }
            _ = &mut deadline => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::raw::next_frame;
    use crate::payload::read_stamp;

    #[test]
    fn template_holds_one_message() {
        let spec = PublishSpec {
            size: 40,
            persistent: true,
            confirm: 0,
            rate: 0.0,
            phases: 1,
            batch_bytes: 65536,
        };
        let route = Route {
            producer_id: 3,
            exchange: "ex".into(),
            routing_key: "rk".into(),
        };
        let (mut t, stamp_at) = template(5, &route, &spec, 131072);
        let at = stamp_at.unwrap();
        write_stamp(&mut t[at..at + 16], 99, tagged_seq(3, 1));
        let mut pos = 0;
        let mut frames = Vec::new();
        while let Some(f) = next_frame(&t, &mut pos, 1 << 20).unwrap() {
            frames.push(f);
        }
        assert_eq!(pos, t.len());
        assert!(matches!(
            frames[0],
            RawFrame::Method {
                channel: 5,
                class_id: 60,
                method_id: 40,
                ..
            }
        ));
        assert_eq!(
            frames[1],
            RawFrame::Header {
                channel: 5,
                body_size: 40
            }
        );
        let RawFrame::Body { payload, .. } = frames[2] else {
            panic!("no body")
        };
        let s = read_stamp(payload).unwrap();
        assert_eq!((s.sent_ns, s.producer, s.seq), (99, 3, 1));
    }

    #[test]
    fn pacer_spaces_messages() {
        let p = Pacer {
            start_ns: 1_000,
            interval_ns: 1e6,
        };
        assert_eq!(p.due(1_000, 0), 1);
        assert_eq!(p.due(1_000, 1), 0);
        assert_eq!(p.next_at(1), 1_001_000);
        assert_eq!(p.due(3_500_000, 1), 3);
        // Nothing before its phase starts.
        assert_eq!(p.due(999, 0), 0);
    }

    #[test]
    fn budget_is_shared() {
        let b = Budget::new(Some(5));
        assert_eq!(b.claim(3), 3);
        assert_eq!(b.claim(3), 2);
        assert!(b.exhausted());
        assert_eq!(Budget::new(None).claim(7), 7);
    }
}
