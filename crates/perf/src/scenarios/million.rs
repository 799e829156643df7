//! `--million`: the classic queue benchmark. Enqueue N messages (1,000,000) into one
//! empty queue, then dequeue N until it is empty, timing every `--step` (100,000) so
//! the curve shows whether the cost grows with the queue; the broker's peak resident
//! memory while it holds them all. Against an AMQP broker or against Redis used as a
//! list queue (LPUSH / RPOP on one key), in like-for-like modes:
//!
//! | `--mode`            | AMQP enqueue                    | AMQP dequeue              | Redis                          |
//! |---------------------|---------------------------------|---------------------------|--------------------------------|
//! | `one`               | publish, await its confirm      | `basic.get` (no-ack)      | LPUSH / RPOP, await each reply |
//! | `streamed`          | publish, no confirms            | consume, prefetch, multi-ack | LPUSH / RPOP pipelined `--pipeline` deep |
//! | `streamed-confirms` | publish, confirms in `--window` | consume, prefetch, multi-ack | as `streamed`               |
//!
//! `basic.get` is taken with no-ack because RPOP removes the message with no
//! acknowledgement either. Without confirms the enqueue phase ends when the queue
//! reports all N (a passive declare polled on a second connection), so it counts
//! what the broker accepted, not what the client wrote. Every message is counted on
//! the way out and the queue must be empty at the end; anything else fails the run.

use crate::cli::Args;
use crate::client::connection::read_more;
use crate::client::raw::{self, RawFrame};
use crate::client::{AmqpUri, BrokerClosed, Connection};
use crate::procstat::{self, Pid};
use crate::publisher::{template, PublishSpec, Route};
use crate::redis::{self, Redis, Reply};
use amqp_codec::{
    encode_ack, encode_method, BasicConsume, BasicGet, BasicQos, ConfirmSelect, FieldTable, Method,
    QueueDeclare,
};
use anyhow::{bail, Context, Result};
use bytes::{Buf, BytesMut};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedReadHalf;

const CHANNEL: u16 = 1;
const REDIS_KEY: &[u8] = b"perf-million";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    One,
    Streamed,
    StreamedConfirms,
}

impl Mode {
    fn parse(s: &str) -> Result<Mode> {
        Ok(match s {
            "one" | "one-at-a-time" => Mode::One,
            "streamed" => Mode::Streamed,
            "streamed-confirms" => Mode::StreamedConfirms,
            other => bail!("--mode {other}: one of one, streamed, streamed-confirms"),
        })
    }
}

/// One phase (enqueue or dequeue).
#[derive(Serialize, Default)]
pub struct Phase {
    pub messages: u64,
    pub seconds: f64,
    pub msg_per_s: f64,
    /// Cumulative seconds when each `step` messages were done (the last entry is the
    /// whole phase, even when `count` is not a multiple of `step`).
    pub cumulative_s: Vec<f64>,
    /// The last step's time over the first's (1.0 = flat).
    pub last_over_first: Option<f64>,
    /// AMQP enqueue without confirms: the curve is what the client wrote, and this is
    /// how long the broker then took until the queue reported all of them (included in
    /// `seconds`).
    pub settle_s: Option<f64>,
    pub broker_cpu_s: Option<f64>,
    pub broker_cpu_us_per_msg: Option<f64>,
    /// The broker's highest resident memory during the phase.
    pub broker_rss_mb_max: Option<f64>,
}

#[derive(Serialize)]
pub struct Summary {
    pub scenario: &'static str,
    pub backend: String,
    pub mode: Mode,
    pub size: usize,
    pub count: u64,
    pub step: u64,
    pub persistent: bool,
    /// What each phase did, in words (for the table).
    pub enqueue_how: String,
    pub dequeue_how: String,
    pub broker_rss_mb_idle: Option<f64>,
    /// Peak resident memory from the start through the end of the enqueue phase: while
    /// the broker holds the N messages.
    pub broker_rss_mb_full: Option<f64>,
    /// Redis's own `used_memory` when full (Redis only).
    pub redis_used_memory_mb: Option<f64>,
    pub enqueue: Phase,
    pub dequeue: Phase,
}

/// Samples the broker's RSS every 10 ms in a thread; the peak since the last `take`.
struct RssPeak {
    peak_kb: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    pid: u32,
}

impl RssPeak {
    fn start(pid: u32) -> RssPeak {
        let peak_kb = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak_kb.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Ok(x) = procstat::sample(Pid::Other(pid)) {
                    p.fetch_max(x.rss_kb, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        RssPeak { peak_kb, stop, pid }
    }

    /// The peak so far (including a reading now), and starts a new one.
    fn take(&self) -> f64 {
        if let Ok(x) = procstat::sample(Pid::Other(self.pid)) {
            self.peak_kb.fetch_max(x.rss_kb, Ordering::Relaxed);
        }
        self.peak_kb.swap(0, Ordering::Relaxed) as f64 / 1024.0
    }
}

impl Drop for RssPeak {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Times one phase: checkpoints every `step`, CPU of the broker.
struct Clock {
    start: Instant,
    step: u64,
    count: u64,
    cumulative: Vec<f64>,
    cpu0: Option<u64>,
    pid: Option<u32>,
}

impl Clock {
    fn start(step: u64, count: u64, pid: Option<u32>) -> Clock {
        Clock {
            start: Instant::now(),
            step,
            count,
            cumulative: Vec::new(),
            cpu0: cpu_ns(pid),
            pid,
        }
    }

    /// `done` messages are done: records every checkpoint passed.
    #[inline]
    fn at(&mut self, done: u64) {
        let mut now = None;
        loop {
            let k = self.cumulative.len() as u64;
            if k * self.step >= self.count || done < ((k + 1) * self.step).min(self.count) {
                return;
            }
            let t = *now.get_or_insert_with(|| self.start.elapsed().as_secs_f64());
            self.cumulative.push(t);
        }
    }

    fn finish(mut self, messages: u64, rss_max: Option<f64>) -> Phase {
        self.at(messages);
        let seconds = self.start.elapsed().as_secs_f64();
        let steps: Vec<f64> = self
            .cumulative
            .iter()
            .scan(0.0, |prev, &t| {
                let d = t - *prev;
                *prev = t;
                Some(d)
            })
            .collect();
        // A short last step (count not a multiple of step) is not comparable.
        let full = (self.count / self.step) as usize;
        let last_over_first = (full >= 2).then(|| steps[full - 1] / steps[0].max(1e-9));
        let cpu = match (self.cpu0, cpu_ns(self.pid)) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / 1e9),
            _ => None,
        };
        Phase {
            messages,
            seconds,
            msg_per_s: messages as f64 / seconds.max(1e-9),
            cumulative_s: self.cumulative,
            last_over_first,
            settle_s: None,
            broker_cpu_s: cpu,
            broker_cpu_us_per_msg: cpu.map(|c| c * 1e6 / messages.max(1) as f64),
            broker_rss_mb_max: rss_max,
        }
    }
}

fn cpu_ns(pid: Option<u32>) -> Option<u64> {
    pid.and_then(|p| procstat::sample(Pid::Other(p)).ok())
        .map(|s| s.cpu_ns)
}

pub async fn run(args: &Args, uri: &AmqpUri) -> Result<Summary> {
    let mode = Mode::parse(&args.mode)?;
    let count = args.count.unwrap_or(1_000_000);
    if count == 0 {
        bail!("--count must be at least 1");
    }
    let step = args.step.clamp(1, count);
    let sampler = args.broker_pid.map(RssPeak::start);
    let idle = sampler.as_ref().map(|s| s.take());
    let mut s = Summary {
        scenario: "million",
        backend: args.backend.clone(),
        mode,
        size: args.size,
        count,
        step,
        persistent: args.persistent,
        enqueue_how: String::new(),
        dequeue_how: String::new(),
        broker_rss_mb_idle: idle,
        broker_rss_mb_full: None,
        redis_used_memory_mb: None,
        enqueue: Phase::default(),
        dequeue: Phase::default(),
    };
    match args.backend.as_str() {
        "amqp" => amqp(args, uri, mode, count, step, sampler.as_ref(), &mut s).await?,
        "redis" => redis_run(args, mode, count, step, sampler.as_ref(), &mut s).await?,
        other => bail!("--backend {other}: amqp or redis"),
    }
    Ok(s)
}

// ------------------------------------------------------------------------- AMQP

async fn amqp(
    args: &Args,
    uri: &AmqpUri,
    mode: Mode,
    count: u64,
    step: u64,
    rss: Option<&RssPeak>,
    s: &mut Summary,
) -> Result<()> {
    let queue = format!("{}-million", args.queue_prefix);
    let mut admin = Connection::open(uri, "perf-million-admin").await?;
    admin.open_channel(CHANNEL).await?;
    crate::topology::delete_queue(&mut admin, &queue).await?;
    crate::topology::declare_queue(&mut admin, &queue, args.persistent).await?;

    // Enqueue.
    let mut conn = Connection::open(uri, "perf-million-publisher").await?;
    conn.open_channel(CHANNEL).await?;
    if mode != Mode::Streamed {
        match conn
            .rpc(CHANNEL, ConfirmSelect { no_wait: false }.into())
            .await?
        {
            Method::ConfirmSelectOk(_) => {}
            other => bail!("expected confirm.select-ok, got {}", other.name()),
        }
    }
    let spec = PublishSpec {
        size: args.size,
        persistent: args.persistent,
        confirm: 0,
        rate: 0.0,
        phases: 1,
        batch_bytes: args.batch_bytes,
    };
    let route = Route {
        producer_id: 0,
        exchange: String::new(),
        routing_key: queue.clone(),
    };
    let (msg, _) = template(CHANNEL, &route, &spec, conn.frame_max);
    let (mut r, mut w, mut rbuf, frame_max) = conn.into_split();
    let limit = frame_limit(frame_max);
    let per_batch = (args.batch_bytes / msg.len()).max(1) as u64;
    let mut wbuf = BytesMut::with_capacity(msg.len() * per_batch as usize);
    let persistent = if args.persistent { "persistent, " } else { "" };
    let mut clock = Clock::start(step, count, args.broker_pid);
    match mode {
        Mode::One => {
            s.enqueue_how = format!("basic.publish ({persistent}one at a time), confirm awaited");
            let mut confirmed = 0;
            for sent in 1..=count {
                w.write_all(&msg).await?;
                while confirmed < sent {
                    read_confirms(&mut r, &mut rbuf, limit, &mut confirmed).await?;
                }
                clock.at(confirmed);
            }
        }
        Mode::StreamedConfirms => {
            let window = args.window.max(1) as u64;
            s.enqueue_how =
                format!("basic.publish ({persistent}streamed), confirms in a window of {window}");
            let (mut sent, mut confirmed) = (0u64, 0u64);
            while confirmed < count {
                let room = (window - (sent - confirmed))
                    .min(count - sent)
                    .min(per_batch);
                if room > 0 {
                    wbuf.clear();
                    for _ in 0..room {
                        wbuf.extend_from_slice(&msg);
                    }
                    w.write_all(&wbuf).await?;
                    sent += room;
                }
                if sent - confirmed >= window || sent == count {
                    read_confirms(&mut r, &mut rbuf, limit, &mut confirmed).await?;
                    clock.at(confirmed);
                }
            }
        }
        Mode::Streamed => {
            s.enqueue_how = format!(
                "basic.publish ({persistent}streamed), no confirms; done when the queue holds all"
            );
            let mut sent = 0u64;
            while sent < count {
                let n = per_batch.min(count - sent);
                wbuf.clear();
                for _ in 0..n {
                    wbuf.extend_from_slice(&msg);
                }
                w.write_all(&wbuf).await?;
                sent += n;
                clock.at(sent);
            }
            // Done when the broker has them all. The curve is what the client wrote;
            // the phase's time includes this wait (`settle_s`).
            loop {
                let depth = depth(&mut admin, &queue).await?;
                if depth >= count {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }
    s.enqueue = clock.finish(count, None);
    if mode == Mode::Streamed {
        s.enqueue.settle_s =
            Some(s.enqueue.seconds - s.enqueue.cumulative_s.last().unwrap_or(&0.0));
    }
    let full = depth(&mut admin, &queue).await?;
    if full != count {
        bail!("after the enqueue phase the queue holds {full} messages, not {count}");
    }
    if let Some(rss) = rss {
        let peak = rss.take();
        s.broker_rss_mb_full = Some(peak);
        s.enqueue.broker_rss_mb_max = Some(peak);
    }
    drop(w);
    drop(r);

    // Dequeue.
    let mut conn = Connection::open(uri, "perf-million-consumer").await?;
    conn.open_channel(CHANNEL).await?;
    let prefetch = if args.prefetch > 0 {
        args.prefetch
    } else {
        1000
    };
    let mut get_frame = BytesMut::new();
    if mode == Mode::One {
        s.dequeue_how = "basic.get (no-ack), one at a time".into();
        let get = BasicGet {
            queue: queue.clone().into(),
            no_ack: true,
        };
        encode_method(&mut get_frame, CHANNEL, &get.into());
    } else {
        let ack_every = if args.multiple_ack_every > 0 {
            args.multiple_ack_every.min(prefetch as u32)
        } else {
            (prefetch as u32 / 2).max(1)
        };
        s.dequeue_how =
            format!("basic.consume, prefetch {prefetch}, one multiple-ack every {ack_every}");
        let qos = BasicQos {
            prefetch_size: 0,
            prefetch_count: prefetch,
            global: false,
        };
        match conn.rpc(CHANNEL, qos.into()).await? {
            Method::BasicQosOk(_) => {}
            other => bail!("expected basic.qos-ok, got {}", other.name()),
        }
    }
    let mut clock;
    let (mut r, mut w, mut rbuf, frame_max) = if mode == Mode::One {
        clock = Clock::start(step, count, args.broker_pid);
        conn.into_split()
    } else {
        let consume = BasicConsume {
            queue: queue.clone().into(),
            consumer_tag: "perf-million".into(),
            no_local: false,
            no_ack: false,
            exclusive: false,
            no_wait: false,
            arguments: FieldTable::new(),
        };
        // The clock starts before consume: deliveries may follow consume-ok at once.
        clock = Clock::start(step, count, args.broker_pid);
        conn.send(CHANNEL, &consume.into()).await?;
        conn.into_split()
    };
    let limit = frame_limit(frame_max);
    let mut got = 0u64;
    let mut body_left: Option<u64> = None;
    let mut last_tag = 0u64;
    let mut acked = 0u64;
    let ack_every = if args.multiple_ack_every > 0 {
        (args.multiple_ack_every.min(prefetch as u32)) as u64
    } else {
        (prefetch as u64 / 2).max(1)
    };
    let size = args.size as u64;
    if mode == Mode::One {
        while got < count {
            w.write_all(&get_frame).await?;
            let before = got;
            while got == before {
                read_more(&mut r, &mut rbuf).await?;
                let mut pos = 0;
                while let Some(f) = raw::next_frame(&rbuf, &mut pos, limit)? {
                    match f {
                        RawFrame::Method {
                            class_id: raw::BASIC,
                            method_id: raw::BASIC_GET_OK,
                            ..
                        } => body_left = Some(u64::MAX),
                        RawFrame::Method {
                            class_id: raw::BASIC,
                            method_id: raw::BASIC_GET_EMPTY,
                            ..
                        } => bail!("basic.get-empty after {got} of {count} messages"),
                        RawFrame::Method {
                            class_id,
                            method_id,
                            args,
                            ..
                        } => other_method(class_id, method_id, args)?,
                        RawFrame::Header { body_size, .. } => {
                            check_size(body_size, size)?;
                            body_left = Some(body_size);
                            if body_size == 0 {
                                got += 1;
                                body_left = None;
                            }
                        }
                        RawFrame::Body { payload, .. } => {
                            if let Some(left) = body_left.as_mut() {
                                *left = left.saturating_sub(payload.len() as u64);
                                if *left == 0 {
                                    got += 1;
                                    body_left = None;
                                }
                            }
                        }
                        RawFrame::Heartbeat => {}
                    }
                }
                rbuf.advance(pos);
            }
            clock.at(got);
        }
    } else {
        let mut abuf = BytesMut::with_capacity(64);
        while got < count {
            read_more(&mut r, &mut rbuf).await?;
            let mut pos = 0;
            while let Some(f) = raw::next_frame(&rbuf, &mut pos, limit)? {
                match f {
                    RawFrame::Method {
                        class_id: raw::BASIC,
                        method_id: raw::BASIC_DELIVER,
                        args,
                        ..
                    } => {
                        last_tag = raw::deliver_tag(args)?.0;
                        body_left = Some(u64::MAX);
                    }
                    RawFrame::Method {
                        class_id: 60,
                        method_id: 21, // consume-ok
                        ..
                    } => {}
                    RawFrame::Method {
                        class_id,
                        method_id,
                        args,
                        ..
                    } => other_method(class_id, method_id, args)?,
                    RawFrame::Header { body_size, .. } => {
                        check_size(body_size, size)?;
                        body_left = Some(body_size);
                        if body_size == 0 {
                            got += 1;
                            body_left = None;
                        }
                    }
                    RawFrame::Body { payload, .. } => {
                        if let Some(left) = body_left.as_mut() {
                            *left = left.saturating_sub(payload.len() as u64);
                            if *left == 0 {
                                got += 1;
                                body_left = None;
                            }
                        }
                    }
                    RawFrame::Heartbeat => {}
                }
            }
            rbuf.advance(pos);
            if got - acked >= ack_every || (got == count && got > acked) {
                abuf.clear();
                encode_ack(&mut abuf, CHANNEL, last_tag, true);
                w.write_all(&abuf).await?;
                acked = got;
            }
            clock.at(got);
        }
    }
    let dequeue_rss = rss.map(|x| x.take());
    s.dequeue = clock.finish(got, dequeue_rss);
    let left = depth(&mut admin, &queue).await?;
    if got != count || left != 0 {
        bail!("dequeued {got} of {count}; the queue still reports {left}");
    }
    drop(w);
    drop(r);
    crate::topology::delete_queue(&mut admin, &queue).await?;
    let _ = admin.close().await;
    Ok(())
}

/// The largest frame payload `raw::next_frame` accepts (frame_max 0 = unlimited).
fn frame_limit(frame_max: u32) -> usize {
    if frame_max == 0 {
        1 << 30
    } else {
        frame_max as usize + 8
    }
}

fn check_size(body_size: u64, size: u64) -> Result<()> {
    if body_size != size {
        bail!("a message of {body_size} bytes came back; {size} were sent");
    }
    Ok(())
}

/// A method the hot loops do not expect: a close is reported as the broker's error.
fn other_method(class_id: u16, method_id: u16, args: &[u8]) -> Result<()> {
    match RawFrame::decode_method(class_id, method_id, args)? {
        Method::ChannelClose(c) => Err(BrokerClosed::from_channel_close(&c).into()),
        Method::ConnectionClose(c) => Err(BrokerClosed::from_connection_close(&c).into()),
        other => bail!("unexpected {} from the broker", other.name()),
    }
}

/// One read's worth of confirms; `confirmed` becomes the highest tag confirmed.
async fn read_confirms(
    r: &mut OwnedReadHalf,
    rbuf: &mut BytesMut,
    limit: usize,
    confirmed: &mut u64,
) -> Result<()> {
    read_more(r, rbuf).await?;
    let mut pos = 0;
    while let Some(f) = raw::next_frame(rbuf, &mut pos, limit)? {
        match f {
            RawFrame::Method {
                class_id: raw::BASIC,
                method_id: raw::BASIC_ACK,
                args,
                ..
            } => {
                let (tag, _) = raw::confirm_tag(args)?;
                *confirmed = (*confirmed).max(tag);
            }
            RawFrame::Method {
                class_id: raw::BASIC,
                method_id: raw::BASIC_NACK,
                args,
                ..
            } => bail!("the broker nacked publish {}", raw::confirm_tag(args)?.0),
            RawFrame::Method {
                class_id,
                method_id,
                args,
                ..
            } => other_method(class_id, method_id, args)?,
            _ => {}
        }
    }
    rbuf.advance(pos);
    Ok(())
}

async fn depth(admin: &mut Connection, queue: &str) -> Result<u64> {
    let passive = QueueDeclare {
        queue: queue.to_owned().into(),
        passive: true,
        durable: false,
        exclusive: false,
        auto_delete: false,
        no_wait: false,
        arguments: FieldTable::new(),
    };
    match admin.rpc(CHANNEL, passive.into()).await? {
        Method::QueueDeclareOk(ok) => Ok(ok.message_count as u64),
        other => bail!("expected queue.declare-ok, got {}", other.name()),
    }
}

// ------------------------------------------------------------------------ Redis

async fn redis_run(
    args: &Args,
    mode: Mode,
    count: u64,
    step: u64,
    rss: Option<&RssPeak>,
    s: &mut Summary,
) -> Result<()> {
    let mut c = Redis::connect(&args.redis)
        .await
        .context("--redis (start Redis there, or pass --redis HOST:PORT)")?;
    c.call(&[b"DEL", REDIS_KEY]).await?;
    let depth = if mode == Mode::One {
        1
    } else {
        args.pipeline.max(1) as u64
    };
    let (enq, deq) = if depth == 1 {
        (
            "LPUSH, one at a time, reply awaited".to_owned(),
            "RPOP, one at a time, reply awaited".to_owned(),
        )
    } else {
        (
            format!("LPUSH pipelined {depth} deep"),
            format!("RPOP pipelined {depth} deep"),
        )
    };
    s.enqueue_how = enq;
    s.dequeue_how = deq;
    let body = vec![0u8; args.size];
    let mut push = BytesMut::new();
    redis::encode(&mut push, &[b"LPUSH", REDIS_KEY, &body]);
    let mut pop = BytesMut::new();
    redis::encode(&mut pop, &[b"RPOP", REDIS_KEY]);

    let mut clock = Clock::start(step, count, args.broker_pid);
    let mut done = 0u64;
    while done < count {
        let n = depth.min(count - done);
        for _ in 0..n {
            c.wbuf.extend_from_slice(&push);
        }
        c.flush().await?;
        for i in 1..=n {
            match c.reply().await? {
                Reply::Int(len) if len as u64 == done + i => {}
                other => bail!("LPUSH {} answered {other:?}", done + i),
            }
        }
        done += n;
        clock.at(done);
    }
    s.enqueue = clock.finish(count, None);
    if let Some(rss) = rss {
        let peak = rss.take();
        s.broker_rss_mb_full = Some(peak);
        s.enqueue.broker_rss_mb_max = Some(peak);
    }
    s.redis_used_memory_mb = c
        .used_memory()
        .await
        .ok()
        .map(|b| b as f64 / 1024.0 / 1024.0);

    let mut clock = Clock::start(step, count, args.broker_pid);
    let mut got = 0u64;
    while got < count {
        let n = depth.min(count - got);
        for _ in 0..n {
            c.wbuf.extend_from_slice(&pop);
        }
        c.flush().await?;
        for _ in 0..n {
            match c.reply().await? {
                Reply::Bulk(len) if len == args.size => got += 1,
                Reply::Nil => bail!("RPOP found the list empty after {got} of {count}"),
                other => bail!("RPOP answered {other:?}"),
            }
        }
        clock.at(got);
    }
    s.dequeue = clock.finish(got, rss.map(|x| x.take()));
    match c.call(&[b"LLEN", REDIS_KEY]).await? {
        Reply::Int(0) => {}
        other => bail!("after {got} RPOPs the list is not empty: LLEN {other:?}"),
    }
    Ok(())
}

impl Summary {
    pub fn text(&self) -> Vec<String> {
        let mut out = vec![format!(
            "== million: {} x {} B, {} ({:?}) ==",
            crate::report::thousands(self.count),
            self.size,
            self.backend,
            self.mode
        )];
        for (name, p, how) in [
            ("enqueue", &self.enqueue, &self.enqueue_how),
            ("dequeue", &self.dequeue, &self.dequeue_how),
        ] {
            out.push(format!(
                "{name}  {:.2} s = {:.0} msg/s  ({how})",
                p.seconds, p.msg_per_s
            ));
            let curve: Vec<String> = p.cumulative_s.iter().map(|t| format!("{t:.2}")).collect();
            out.push(format!(
                "         cumulative s per {}: {}",
                crate::report::thousands(self.step),
                curve.join(" ")
            ));
            if let Some(r) = p.last_over_first {
                out.push(format!("         last step / first step: {r:.2}"));
            }
            if let Some(c) = p.broker_cpu_us_per_msg {
                out.push(format!("         broker CPU {c:.2} µs/msg"));
            }
        }
        if let Some(m) = self.broker_rss_mb_full {
            out.push(format!("broker peak RSS while full: {m:.1} MB"));
        }
        if let Some(m) = self.redis_used_memory_mb {
            out.push(format!("Redis used_memory when full: {m:.1} MB"));
        }
        out
    }
}
