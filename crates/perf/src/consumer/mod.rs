//! Consumers: every frame of one read decoded in place, one multiple-ack per batch.
//!
//! A read takes whatever the socket has; the scanner walks it without allocating,
//! reading only each delivery's tag and the 16-byte stamp at the front of its body.
//! Latencies of the whole read are recorded under one lock with one clock reading,
//! counters are bumped once, and the acks the batch owes go out in one write.
//! A connection may carry several consumers (one channel each).
//!
//! Two loops feed that: [`evented`] wakes whenever data arrives, like any tokio program
//! (for latency runs and `--get`); [`batched`] wakes when half a prefetch window (or
//! 32 KiB) has arrived, or after `--linger-ms`, which costs far less CPU.
//!
//! `--get` mode polls with basic.get: each channel keeps one in flight and sends the
//! next as soon as the answer is complete; after a get-empty it waits 1 ms.

mod batched;
mod evented;

use crate::client::raw::{self, RawFrame};
use crate::client::{BrokerClosed, Connection};
use crate::payload::{read_stamp, Stamp, STAMP_LEN};
use crate::stats::Stats;
use crate::stop::Stop;
use amqp_codec::{
    encode_ack, encode_method, BasicConsume, BasicGet, BasicQos, ConnectionClose, FieldTable,
    Method,
};
use anyhow::{anyhow, bail, Result};
use bytes::BytesMut;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long a closing connection waits for the broker's close-ok.
const CLOSE_WAIT: Duration = Duration::from_secs(3);

#[derive(Clone, Debug)]
pub struct ConsumeSpec {
    pub auto_ack: bool,
    /// Multiple-ack every N messages; 0 = once per read batch.
    pub ack_every: u32,
    pub prefetch: u16,
    pub get: bool,
    /// Wake for batches, or after this long (see [`batched`]); `None`: every arrival.
    pub linger: Option<Duration>,
    /// Message body size, for the batched loop's low-water mark.
    pub body_size: usize,
}

/// Where a delivery's content stands on its channel.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Content {
    Idle,
    Header {
        tag: u64,
    },
    /// `stamp` collects the body's first 16 bytes when the broker splits them over
    /// frames (`have` of them so far; 16 once the stamp has been read).
    Body {
        tag: u64,
        left: u64,
        stamp: [u8; STAMP_LEN],
        have: u8,
    },
}

struct Chan {
    channel: u16,
    content: Content,
    unacked: u32,
    last_tag: u64,
    /// Highest sequence number seen per producer id.
    last_seq: Vec<u64>,
    /// The encoded basic.get for this channel's queue (`--get` mode).
    get_frame: Vec<u8>,
    /// Got basic.get-empty; poll again later.
    empty: bool,
}

/// What one read batch added up to.
#[derive(Default)]
struct Batch {
    consumed: u64,
    redelivered: u64,
    reordered: u64,
    latencies: Vec<u64>,
}

/// A consuming connection with its channels open and consumers registered.
pub struct Prepared {
    conn: Connection,
    chans: Vec<Chan>,
}

/// Opens one channel per queue (channels 1, 2, ...), sets the prefetch and registers
/// a consumer on each (or, in get mode, prepares its basic.get).
pub async fn prepare(
    mut conn: Connection,
    queues: &[String],
    tag: &str,
    spec: &ConsumeSpec,
) -> Result<Prepared> {
    let mut chans = Vec::with_capacity(queues.len());
    for (i, queue) in queues.iter().enumerate() {
        let channel = i as u16 + 1;
        conn.open_channel(channel).await?;
        let mut get_frame = BytesMut::new();
        if spec.get {
            let get = BasicGet {
                queue: queue.clone().into(),
                no_ack: spec.auto_ack,
            };
            encode_method(&mut get_frame, channel, &get.into());
        } else {
            if spec.prefetch > 0 {
                let qos = BasicQos {
                    prefetch_size: 0,
                    prefetch_count: spec.prefetch,
                    global: false,
                };
                match conn.rpc(channel, qos.into()).await? {
                    Method::BasicQosOk(_) => {}
                    other => bail!("expected basic.qos-ok, got {}", other.name()),
                }
            }
            let consume = BasicConsume {
                queue: queue.clone().into(),
                consumer_tag: format!("{tag}-{i}").into(),
                no_local: false,
                no_ack: spec.auto_ack,
                exclusive: false,
                no_wait: false,
                arguments: FieldTable::new(),
            };
            match conn.rpc(channel, consume.into()).await? {
                Method::BasicConsumeOk(_) => {}
                other => bail!("expected basic.consume-ok, got {}", other.name()),
            }
        }
        chans.push(Chan {
            channel,
            content: Content::Idle,
            unacked: 0,
            last_tag: 0,
            last_seq: Vec::new(),
            get_frame: get_frame.to_vec(),
            empty: false,
        });
    }
    Ok(Prepared { conn, chans })
}

/// Consumes until `shutdown`, then closes the connection.
pub async fn run(
    prepared: Prepared,
    spec: &ConsumeSpec,
    stats: &Stats,
    shutdown: &Stop,
) -> Result<()> {
    match spec.linger {
        Some(linger) if !spec.get => batched::run(prepared, spec, linger, stats, shutdown).await,
        _ => evented::run(prepared, spec, stats, shutdown).await,
    }
}

/// The connection.close we send at shutdown.
fn encode_close(wbuf: &mut BytesMut) {
    let close = ConnectionClose {
        reply_code: 200,
        reply_text: "done".into(),
        class_id: 0,
        method_id: 0,
    };
    encode_method(wbuf, 0, &close.into());
}

/// Handles one frame; `true` once the broker has confirmed our connection.close.
fn handle(
    frame: RawFrame<'_>,
    chans: &mut [Chan],
    spec: &ConsumeSpec,
    now: u64,
    batch: &mut Batch,
    wbuf: &mut BytesMut,
) -> Result<bool> {
    let chan = |chans: &mut [Chan], channel: u16| -> Result<usize> {
        let i = (channel as usize).wrapping_sub(1);
        if i < chans.len() {
            Ok(i)
        } else {
            Err(anyhow!(
                "broker sent content on channel {channel}, which we did not open"
            ))
        }
    };
    match frame {
        RawFrame::Method {
            channel,
            class_id: raw::BASIC,
            method_id: raw::BASIC_DELIVER | raw::BASIC_GET_OK,
            args,
        } => {
            let i = chan(chans, channel)?;
            let (tag, redelivered) = if spec.get {
                raw::get_ok_tag(args)?
            } else {
                raw::deliver_tag(args)?
            };
            batch.redelivered += redelivered as u64;
            let ch = &mut chans[i];
            if ch.content != Content::Idle {
                bail!("broker started a delivery on channel {channel} before the last one's content was complete");
            }
            ch.content = Content::Header { tag };
        }
        RawFrame::Method {
            channel,
            class_id: raw::BASIC,
            method_id: raw::BASIC_GET_EMPTY,
            ..
        } => {
            let i = chan(chans, channel)?;
            chans[i].empty = true;
        }
        RawFrame::Method {
            class_id,
            method_id,
            args,
            ..
        } => match RawFrame::decode_method(class_id, method_id, args)? {
            Method::ConnectionCloseOk(_) => return Ok(true),
            Method::ConnectionClose(c) => {
                return Err(BrokerClosed::from_connection_close(&c).into())
            }
            Method::ChannelClose(c) => return Err(BrokerClosed::from_channel_close(&c).into()),
            Method::BasicCancel(c) => bail!("the broker cancelled consumer {}", c.consumer_tag),
            _ => {}
        },
        RawFrame::Header { channel, body_size } => {
            let i = chan(chans, channel)?;
            let Content::Header { tag } = chans[i].content else {
                bail!("content header on channel {channel} without a delivery");
            };
            chans[i].content = Content::Body {
                tag,
                left: body_size,
                stamp: [0; STAMP_LEN],
                have: 0,
            };
            if body_size == 0 {
                complete(&mut chans[i], tag, spec, batch, wbuf);
            }
        }
        RawFrame::Body { channel, payload } => {
            let i = chan(chans, channel)?;
            let ch = &mut chans[i];
            let Content::Body {
                tag,
                left,
                mut stamp,
                mut have,
            } = ch.content
            else {
                bail!("body frame on channel {channel} without a content header");
            };
            if (have as usize) < STAMP_LEN {
                let got = if have == 0 && payload.len() >= STAMP_LEN {
                    have = STAMP_LEN as u8;
                    read_stamp(payload)
                } else {
                    let take = (STAMP_LEN - have as usize).min(payload.len());
                    stamp[have as usize..have as usize + take].copy_from_slice(&payload[..take]);
                    have += take as u8;
                    (have as usize == STAMP_LEN)
                        .then(|| read_stamp(&stamp))
                        .flatten()
                };
                if let Some(got) = got {
                    check_stamp(ch, got, now, batch);
                }
            }
            let Some(left) = left.checked_sub(payload.len() as u64) else {
                bail!("body frames on channel {channel} exceed the header's body size");
            };
            ch.content = Content::Body {
                tag,
                left,
                stamp,
                have,
            };
            if left == 0 {
                complete(ch, tag, spec, batch, wbuf);
            }
        }
        RawFrame::Heartbeat => {}
    }
    Ok(false)
}

/// Records a delivery's latency and checks its producer's sequence order.
fn check_stamp(ch: &mut Chan, stamp: Stamp, now: u64, batch: &mut Batch) {
    batch.latencies.push(now.saturating_sub(stamp.sent_ns));
    let p = stamp.producer as usize;
    if ch.last_seq.len() <= p {
        ch.last_seq.resize(p + 1, 0);
    }
    if stamp.seq <= ch.last_seq[p] {
        batch.reordered += 1;
    }
    ch.last_seq[p] = stamp.seq;
}

/// A message's content is all there: count it, ack it when due, poll for the next.
fn complete(ch: &mut Chan, tag: u64, spec: &ConsumeSpec, batch: &mut Batch, wbuf: &mut BytesMut) {
    ch.content = Content::Idle;
    batch.consumed += 1;
    if !spec.auto_ack {
        ch.unacked += 1;
        ch.last_tag = tag;
        if spec.ack_every > 0 && ch.unacked >= spec.ack_every {
            encode_ack(wbuf, ch.channel, tag, true);
            ch.unacked = 0;
        }
    }
    if spec.get {
        wbuf.extend_from_slice(&ch.get_frame);
    }
}

/// End of a read: the batch's acks, counters and latencies; schedule empty polls.
fn finish_batch(
    chans: &mut [Chan],
    spec: &ConsumeSpec,
    stats: &Stats,
    now: u64,
    batch: &mut Batch,
    wbuf: &mut BytesMut,
    retry_at: &mut Option<tokio::time::Instant>,
) {
    if !spec.auto_ack && spec.ack_every == 0 {
        for ch in chans.iter_mut().filter(|c| c.unacked > 0) {
            encode_ack(wbuf, ch.channel, ch.last_tag, true);
            ch.unacked = 0;
        }
    }
    if spec.get && retry_at.is_none() && chans.iter().any(|c| c.empty) {
        *retry_at = Some(tokio::time::Instant::now() + Duration::from_millis(1));
    }
    // A stamp is read from a message's first body frame, which may come in an earlier
    // read than its last: latencies are recorded even when nothing completed.
    stats.record_e2e(&batch.latencies);
    if batch.consumed > 0 {
        let c = &stats.counters;
        Stats::add(&c.consumed, batch.consumed);
        Stats::add(&c.redelivered, batch.redelivered);
        Stats::add(&c.reordered, batch.reordered);
        c.last_consumed_ns.fetch_max(now, Ordering::Relaxed);
    }
    batch.consumed = 0;
    batch.redelivered = 0;
    batch.reordered = 0;
    batch.latencies.clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{tagged_seq, write_stamp};
    use amqp_codec::{encode_content, encode_deliver};

    fn chan() -> Chan {
        Chan {
            channel: 1,
            content: Content::Idle,
            unacked: 0,
            last_tag: 0,
            last_seq: Vec::new(),
            get_frame: Vec::new(),
            empty: false,
        }
    }

    /// Feeds deliveries through the frame handler as the read loop would.
    fn feed(
        chans: &mut [Chan],
        spec: &ConsumeSpec,
        seqs: &[u64],
        wbuf: &mut BytesMut,
        frame_max: u32,
    ) -> Batch {
        let mut input = BytesMut::new();
        for (i, &seq) in seqs.iter().enumerate() {
            let mut body = [0u8; 20];
            write_stamp(&mut body, 1_000, tagged_seq(0, seq));
            encode_deliver(&mut input, 1, "c", i as u64 + 1, false, "", "q");
            // Split the body over two frames to cover continuation.
            encode_content(&mut input, 1, 60, &[0, 0], &body, frame_max);
        }
        let mut batch = Batch::default();
        let mut pos = 0;
        while let Some(f) = raw::next_frame(&input, &mut pos, 1 << 20).unwrap() {
            assert!(!handle(f, chans, spec, 5_000, &mut batch, wbuf).unwrap());
        }
        assert_eq!(pos, input.len());
        batch
    }

    #[test]
    fn counts_latency_order_and_acks() {
        let spec = ConsumeSpec {
            auto_ack: false,
            ack_every: 2,
            prefetch: 10,
            get: false,
            linger: None,
            body_size: 16,
        };
        let mut chans = vec![chan()];
        let mut wbuf = BytesMut::new();
        let batch = feed(&mut chans, &spec, &[1, 2, 4, 3, 5], &mut wbuf, 8 + 16);
        assert_eq!(batch.consumed, 5);
        assert_eq!(batch.latencies, vec![4_000; 5]);
        assert_eq!(batch.reordered, 1);
        // Acks after the 2nd and 4th message; the 5th waits for the batch end.
        let mut pos = 0;
        let mut acks = Vec::new();
        while let Some(RawFrame::Method { args, .. }) =
            raw::next_frame(&wbuf, &mut pos, 64).unwrap()
        {
            acks.push(raw::confirm_tag(args).unwrap());
        }
        assert_eq!(acks, vec![(2, true), (4, true)]);
        assert_eq!((chans[0].unacked, chans[0].last_tag), (1, 5));
    }

    #[test]
    fn stamp_split_over_body_frames() {
        let spec = ConsumeSpec {
            auto_ack: true,
            ack_every: 0,
            prefetch: 0,
            get: false,
            linger: None,
            body_size: 16,
        };
        for frame_max in [8 + 1, 8 + 5, 8 + 15, 8 + 16, 8 + 17, 0] {
            let mut chans = vec![chan()];
            let batch = feed(
                &mut chans,
                &spec,
                &[1, 2, 3],
                &mut BytesMut::new(),
                frame_max,
            );
            assert_eq!(batch.consumed, 3, "frame_max {frame_max}");
            assert_eq!(batch.latencies, vec![4_000; 3], "frame_max {frame_max}");
            assert_eq!(batch.reordered, 0);
        }
    }

    #[test]
    fn content_out_of_place_is_an_error() {
        let spec = ConsumeSpec {
            auto_ack: true,
            ack_every: 0,
            prefetch: 0,
            get: false,
            linger: None,
            body_size: 16,
        };
        let mut chans = vec![chan()];
        let mut batch = Batch::default();
        let mut wbuf = BytesMut::new();
        let body = RawFrame::Body {
            channel: 1,
            payload: b"x",
        };
        assert!(handle(body, &mut chans, &spec, 0, &mut batch, &mut wbuf).is_err());
        let stray = RawFrame::Header {
            channel: 9,
            body_size: 1,
        };
        assert!(handle(stray, &mut chans, &spec, 0, &mut batch, &mut wbuf).is_err());
    }
}
