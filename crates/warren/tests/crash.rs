//! SIGKILL crash test: a message the broker confirmed is never lost.
//!
//! Each cycle starts the real `warren` binary on the same data directory, declares four
//! durable queues, runs two confirming publishers (persistent, uniquely numbered messages)
//! and two consumers (manual ack, a random half acked, the rest left unacked), and
//! SIGKILLs the broker after a random stretch of traffic. After the last cycle the broker
//! is started once more and every queue is drained. Then, per queue:
//!
//! * lost: confirmed, never acked, and absent from the drain (must be 0);
//! * duplicated: seen more than once in the drain (must be 0);
//! * reordered: for one publisher, a number lower than the one before it (must be 0);
//! * resurrected: acked (the ack may have died with the broker) yet back (allowed).
//!
//! A message whose confirm had not arrived when the broker died may or may not come back;
//! either is fine. `CRASH_CYCLES` sets the number of cycles (default 3), `CRASH_SEED`
//! replays the random choices of an earlier run (the timing of course differs),
//! `CRASH_KEEP_DATA=1` keeps the data directory. `scripts/crash-test` runs the long version.

#![cfg(unix)]

mod common;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, Consumer};
use tokio::sync::watch;
use tokio::task::JoinSet;

use common::process::{spawn_warren, WarrenProcess};

const QUEUES: usize = 4;
const PUBLISHERS: usize = 2;
const CONSUMERS: usize = 2;
/// Per-consumer prefetch during the cycles.
const PREFETCH: u16 = 50;
/// Unacked deliveries a consumer holds at most; beyond that it acks the oldest it holds,
/// so the queues keep flowing. Under half the prefetch, so a consumer never stalls even
/// if prefetch were counted per channel.
const HOLD_CAP: usize = PREFETCH as usize / 2 - 5;
/// Outstanding confirms per publisher: picked per cycle in this range.
const WINDOW: (u64, u64) = (100, 500);
/// Traffic before the SIGKILL, in milliseconds: picked per cycle in this range.
const TRAFFIC_MS: (u64, u64) = (100, 800);
/// One broker interaction (connect, declare, publish, ack) while it is alive.
const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a start may take (recovery of a long log included).
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the clients get to notice the dead broker before their tasks are aborted.
const TEARDOWN: Duration = Duration::from_secs(5);
/// The final drain of a queue ends after this long without a delivery (and an empty queue).
const DRAIN_IDLE: Duration = Duration::from_secs(1);
/// The whole final drain.
const DRAIN_LIMIT: Duration = Duration::from_secs(600);

fn queue_name(q: usize) -> String {
    format!("crash-q{q}")
}

// ---------------------------------------------------------------------------------------
// Randomness: a seeded SplitMix64, so a run's choices can be replayed.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, (lo, hi): (u64, u64)) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------------------------------
// Message bodies: `"{publisher}:{n}:"` and a padding derived from both, so a body that
// comes back is checked byte for byte. One message in 64 is larger than a frame.

fn body(p: usize, n: u64) -> Vec<u8> {
    let h = mix((p as u64) << 56 ^ n);
    let pad = if h & 63 == 0 {
        64 * 1024 + (h >> 8) as usize % (160 * 1024)
    } else {
        (h >> 8) as usize % 1024
    };
    let mut b = format!("{p}:{n}:").into_bytes();
    b.extend((0..pad).map(|i| b'a' + ((n as usize + i) % 26) as u8));
    b
}

/// The (publisher, number) of a body, if it is exactly what that publisher sent.
fn parse(data: &[u8]) -> Option<(usize, u64)> {
    let mut fields = data.splitn(3, |&c| c == b':');
    let p = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
    let n = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
    (p < PUBLISHERS && body(p, n) == data).then_some((p, n))
}

// ---------------------------------------------------------------------------------------
// The ledger: what the clients did, kept in the test across broker lifetimes.

const PUBLISHED: u8 = 1;
const CONFIRMED: u8 = 2;
const NACKED: u8 = 4;
const ACKED: u8 = 8;
const DELIVERED: u8 = 16;

#[derive(Clone, Copy)]
struct Msg {
    queue: u8,
    flags: u8,
    cycle: u16,
}

#[derive(Default, Clone, Copy, Debug)]
struct CycleStats {
    published: u64,
    confirmed: u64,
    nacked: u64,
    delivered: u64,
    redelivered: u64,
    acked: u64,
}

#[derive(Default)]
struct Ledger {
    /// Per publisher, indexed by message number: numbers are dense and never reused.
    msgs: Vec<Vec<Msg>>,
    cycle: u16,
    stats: CycleStats,
    /// Deliveries in the current broker lifetime, to spot one delivered twice.
    seen_this_run: HashSet<(usize, u64)>,
    /// A message delivered twice while the broker and the consumer stayed up.
    live_duplicates: u64,
    /// Deliveries that are not a message we published, or that came from the wrong queue.
    bad_deliveries: u64,
    /// Deliveries without the redelivered flag of a message delivered in an earlier broker
    /// lifetime (allowed: the broker may not have recorded that delivery before the kill).
    redelivered_missing: u64,
}

type Shared = Arc<Mutex<Ledger>>;

fn lock(ledger: &Shared) -> MutexGuard<'_, Ledger> {
    ledger.lock().unwrap_or_else(|e| e.into_inner())
}

impl Ledger {
    fn new() -> Ledger {
        Ledger {
            msgs: vec![Vec::new(); PUBLISHERS],
            ..Ledger::default()
        }
    }

    /// The next number of publisher `p`, recorded as going to `queue`.
    fn next_message(&mut self, p: usize, queue: usize) -> u64 {
        let n = self.msgs[p].len() as u64;
        self.msgs[p].push(Msg {
            queue: queue as u8,
            flags: 0,
            cycle: self.cycle,
        });
        n
    }

    fn set(&mut self, p: usize, n: u64, flag: u8) {
        let m = &mut self.msgs[p][n as usize];
        if m.flags & flag == 0 {
            m.flags |= flag;
            match flag {
                PUBLISHED => self.stats.published += 1,
                CONFIRMED => self.stats.confirmed += 1,
                NACKED => self.stats.nacked += 1,
                ACKED => self.stats.acked += 1,
                _ => {}
            }
        }
    }

    /// Records a delivery from queue `q`; returns the message if it is one of ours.
    fn delivered(&mut self, q: usize, data: &[u8], redelivered: bool) -> Option<(usize, u64)> {
        self.stats.delivered += 1;
        if redelivered {
            self.stats.redelivered += 1;
        }
        let Some((p, n)) = parse(data).filter(|&(p, n)| {
            self.msgs[p]
                .get(n as usize)
                .is_some_and(|m| m.queue as usize == q)
        }) else {
            self.bad_deliveries += 1;
            return None;
        };
        let earlier = self.msgs[p][n as usize].flags & DELIVERED != 0;
        if !self.seen_this_run.insert((p, n)) {
            self.live_duplicates += 1;
        } else if earlier && !redelivered {
            self.redelivered_missing += 1;
        }
        self.set(p, n, DELIVERED);
        Some((p, n))
    }
}

// ---------------------------------------------------------------------------------------
// The broker process.

/// A running `warren` binary; killed (SIGKILL) and reaped when dropped, so a failing
/// test never leaves it behind.
struct Broker {
    process: WarrenProcess,
    addr: SocketAddr,
}

impl Broker {
    /// Starts the binary on `data_dir` and waits for its `ready` line.
    fn start(data_dir: &Path) -> Broker {
        let mut process = spawn_warren(&["--http-port", "0", "--bind", "127.0.0.1"], data_dir);
        process.wait_ready(READY_TIMEOUT);
        let addr = process.listener("AMQP");
        Broker { process, addr }
    }

    fn url(&self) -> String {
        format!("amqp://guest:guest@{}/%2F", self.addr)
    }

    /// SIGKILL (what `Child::kill` sends on Unix) and reap.
    fn kill(&mut self) {
        self.process.kill();
    }

    /// SIGTERM, then wait for a clean exit.
    fn stop(mut self) -> std::process::ExitStatus {
        self.process.sigterm();
        self.process.wait_exit(Duration::from_secs(30))
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The data directory, removed at the end unless the test failed or `CRASH_KEEP_DATA` is set.
struct DataDir(PathBuf);

impl DataDir {
    fn new() -> DataDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path =
            std::env::temp_dir().join(format!("warren-crash-{}-{nanos:x}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create the data directory");
        DataDir(path)
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("CRASH_KEEP_DATA").is_some() {
            eprintln!("crash: data directory kept: {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Client helpers.

/// Awaits a lapin call for at most `OP_TIMEOUT`; a timeout is an error like any other.
async fn timed<T>(fut: impl Future<Output = lapin::Result<T>>) -> Result<T, String> {
    match tokio::time::timeout(OP_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {OP_TIMEOUT:?}")),
    }
}

async fn connect(url: &str) -> Connection {
    timed(Connection::connect(url, ConnectionProperties::default()))
        .await
        .expect("connect to warren")
}

async fn channel(conn: &Connection) -> Channel {
    timed(conn.create_channel()).await.expect("open a channel")
}

/// Declares the durable queues; returns their ready-message counts.
async fn declare_queues(ch: &Channel) -> Vec<u32> {
    let mut counts = Vec::new();
    for q in 0..QUEUES {
        let ok = timed(ch.queue_declare(
            queue_name(q).as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        ))
        .await
        .expect("declare a durable queue");
        counts.push(ok.message_count());
    }
    counts
}

/// Publishes persistent messages to random queues with up to `window` confirms
/// outstanding, until the connection dies. Every confirm is recorded as it arrives.
async fn publisher(ch: Channel, p: usize, window: usize, ledger: Shared, seed: u64) {
    let mut rng = Rng(seed);
    let mut confirms = JoinSet::new();
    loop {
        while confirms.len() >= window {
            match tokio::time::timeout(OP_TIMEOUT, confirms.join_next()).await {
                Ok(_) => {}
                Err(_) => return, // the broker stopped confirming; the kill ends the cycle
            }
        }
        let q = (rng.next() % QUEUES as u64) as usize;
        let n = lock(&ledger).next_message(p, q);
        let confirm = match timed(ch.basic_publish(
            "".into(),
            queue_name(q).as_str().into(),
            BasicPublishOptions::default(),
            &body(p, n),
            BasicProperties::default().with_delivery_mode(2),
        ))
        .await
        {
            Ok(confirm) => confirm,
            Err(_) => break,
        };
        lock(&ledger).set(p, n, PUBLISHED);
        let ledger = ledger.clone();
        confirms.spawn(async move {
            // Only the broker's ack counts; an error (the connection died) confirms nothing.
            match tokio::time::timeout(OP_TIMEOUT * 3, confirm).await {
                Ok(Ok(Confirmation::Ack(_))) => lock(&ledger).set(p, n, CONFIRMED),
                Ok(Ok(Confirmation::Nack(_))) => lock(&ledger).set(p, n, NACKED),
                _ => {}
            }
        });
    }
    // The connection is gone: the confirms still pending fail now.
    let deadline = tokio::time::Instant::now() + TEARDOWN;
    while let Ok(Some(_)) = tokio::time::timeout_at(deadline, confirms.join_next()).await {}
}

/// Consumes queue `q`: acks a random half of the deliveries at once and holds the other
/// half unacked; once `HOLD_CAP` are held, the oldest held one is acked (so acks also come
/// out of order). An ack is recorded before it is sent, since a sent ack may take effect.
/// Whatever is held when the broker dies must come back.
async fn consumer(
    mut consumer: Consumer,
    q: usize,
    ledger: Shared,
    seed: u64,
    mut dead: watch::Receiver<bool>,
) {
    let mut rng = Rng(seed);
    let mut held = VecDeque::new();
    loop {
        let d = tokio::select! {
            next = tokio::time::timeout(OP_TIMEOUT, consumer.next()) => match next {
                Ok(Some(Ok(d))) => d,
                Ok(Some(Err(_)) | None) => return,
                Err(_) => continue, // idle; the kill ends the cycle
            },
            _ = dead.wait_for(|&dead| dead) => return,
        };
        let ours = lock(&ledger).delivered(q, &d.data, d.redelivered);
        let to_ack = if rng.coin() {
            Some((ours, d.acker))
        } else {
            held.push_back((ours, d.acker));
            (held.len() > HOLD_CAP).then(|| held.pop_front()).flatten()
        };
        if let Some((ours, acker)) = to_ack {
            if *dead.borrow() {
                return; // too late to send it
            }
            if let Some((p, n)) = ours {
                lock(&ledger).set(p, n, ACKED);
            }
            // lapin may never resolve an ack that was under way when the socket died:
            // stop waiting once the broker is known dead.
            let sent = tokio::select! {
                res = timed(acker.ack(BasicAckOptions::default())) => res.is_ok(),
                _ = dead.wait_for(|&dead| dead) => false,
            };
            if !sent {
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// One cycle: start, traffic, SIGKILL.

async fn cycle(cycle: u16, cycles: u16, data_dir: &Path, ledger: &Shared, rng: &mut Rng) {
    let started = Instant::now();
    let mut broker = tokio::task::block_in_place(|| Broker::start(data_dir));
    let url = broker.url();
    let boot = started.elapsed();

    let setup = connect(&url).await;
    let ready = declare_queues(&channel(&setup).await).await;
    let _ = timed(setup.close(200, "declared".into())).await;
    {
        let mut l = lock(ledger);
        l.cycle = cycle;
        l.stats = CycleStats::default();
        l.seen_this_run.clear();
    }

    let (dead_tx, dead) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut labels = HashMap::new();
    let mut conns = Vec::new();
    for c in 0..CONSUMERS {
        let conn = connect(&url).await;
        let ch = channel(&conn).await;
        timed(ch.basic_qos(PREFETCH, BasicQosOptions::default()))
            .await
            .expect("basic.qos");
        for q in (0..QUEUES).filter(|q| q % CONSUMERS == c) {
            let stream = timed(ch.basic_consume(
                queue_name(q).as_str().into(),
                format!("crash-c{c}-q{q}").as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            ))
            .await
            .expect("basic.consume");
            let task = tasks.spawn(consumer(
                stream,
                q,
                ledger.clone(),
                rng.next(),
                dead.clone(),
            ));
            labels.insert(task.id(), format!("consumer {c} of {}", queue_name(q)));
        }
        conns.push(conn);
    }
    let mut windows = Vec::new();
    for p in 0..PUBLISHERS {
        let conn = connect(&url).await;
        let ch = channel(&conn).await;
        timed(ch.confirm_select(ConfirmSelectOptions::default()))
            .await
            .expect("confirm.select");
        let window = rng.range(WINDOW) as usize;
        windows.push(window);
        let task = tasks.spawn(publisher(ch, p, window, ledger.clone(), rng.next()));
        labels.insert(task.id(), format!("publisher {p}"));
        conns.push(conn);
    }

    let traffic = Duration::from_millis(rng.range(TRAFFIC_MS));
    tokio::time::sleep(traffic).await;
    tokio::task::block_in_place(|| broker.kill());
    let _ = dead_tx.send(true);

    // Every client error from here on is expected; the tasks end when they notice.
    let deadline = tokio::time::Instant::now() + TEARDOWN;
    loop {
        match tokio::time::timeout_at(deadline, tasks.join_next_with_id()).await {
            Ok(Some(Err(e))) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Ok(Some(Err(e))) => {
                labels.remove(&e.id());
            }
            Ok(Some(Ok((id, ())))) => {
                labels.remove(&id);
            }
            Ok(None) => break,
            Err(_) => {
                tasks.abort_all();
                break;
            }
        }
    }
    let stragglers: Vec<String> = labels.into_values().collect();
    drop(conns);

    let s = lock(ledger).stats;
    eprintln!(
        "crash: cycle {cycle}/{cycles} boot={boot:.0?} ready_at_start={} traffic={traffic:?} \
         windows={windows:?} published={} confirmed={} nacked={} delivered={} redelivered={} \
         acked={}{}",
        ready.iter().sum::<u32>(),
        s.published,
        s.confirmed,
        s.nacked,
        s.delivered,
        s.redelivered,
        s.acked,
        if !stragglers.is_empty() {
            format!(" still_running_after_{TEARDOWN:?}={stragglers:?}")
        } else {
            String::new()
        }
    );
    if s.published > 0 && s.confirmed == 0 {
        eprintln!("crash: warning: cycle {cycle} confirmed nothing");
    }
}

// ---------------------------------------------------------------------------------------
// The final drain and the verdict.

/// Consumes every queue to the end (all four at once, one channel each), acking
/// everything. Per queue, the messages in delivery order with their redelivered flag.
async fn drain(url: &str, ledger: &Shared) -> Vec<Vec<(usize, u64, bool)>> {
    let conn = connect(url).await;
    declare_queues(&channel(&conn).await).await;
    let mut tasks = Vec::new();
    for q in 0..QUEUES {
        let ch = channel(&conn).await;
        tasks.push(tokio::spawn(drain_queue(ch, q, ledger.clone())));
    }
    let mut out = Vec::new();
    for task in tasks {
        match tokio::time::timeout(DRAIN_LIMIT, task).await {
            Ok(Ok(got)) => out.push(got),
            Ok(Err(e)) => std::panic::resume_unwind(e.into_panic()),
            Err(_) => panic!("the drain took over {DRAIN_LIMIT:?}"),
        }
    }
    let _ = timed(conn.close(200, "drained".into())).await;
    out
}

async fn drain_queue(ch: Channel, q: usize, ledger: Shared) -> Vec<(usize, u64, bool)> {
    let name = queue_name(q);
    timed(ch.basic_qos(500, BasicQosOptions::default()))
        .await
        .expect("basic.qos");
    let mut stream = timed(ch.basic_consume(
        name.as_str().into(),
        "crash-drain".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("basic.consume for the drain");
    let mut got = Vec::new();
    let mut unacked = None;
    let mut pending = 0;
    loop {
        match tokio::time::timeout(DRAIN_IDLE, stream.next()).await {
            Ok(Some(Ok(d))) => {
                let ours = lock(&ledger).delivered(q, &d.data, d.redelivered);
                match ours {
                    Some((p, n)) => got.push((p, n, d.redelivered)),
                    None => eprintln!(
                        "crash: {name}: a delivery that is not ours: {:?}",
                        String::from_utf8_lossy(&d.data[..d.data.len().min(64)])
                    ),
                }
                unacked = Some(d.delivery_tag);
                pending += 1;
                if pending == 100 {
                    pending = 0;
                    ack_up_to(&ch, unacked.take()).await;
                }
            }
            Ok(Some(Err(e))) => panic!("the drain consumer of {name} failed: {e}"),
            Ok(None) => panic!("the drain consumer of {name} ended"),
            Err(_) => {
                pending = 0;
                ack_up_to(&ch, unacked.take()).await;
                let left = timed(ch.queue_declare(
                    name.as_str().into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                ))
                .await
                .expect("passive declare")
                .message_count();
                if left == 0 {
                    break;
                }
                eprintln!("crash: {name}: idle with {left} ready; still draining");
            }
        }
    }
    timed(ch.basic_cancel("crash-drain".into(), BasicCancelOptions::default()))
        .await
        .expect("basic.cancel");
    got
}

async fn ack_up_to(ch: &Channel, tag: Option<u64>) {
    if let Some(tag) = tag {
        timed(ch.basic_ack(tag, BasicAckOptions { multiple: true }))
            .await
            .expect("basic.ack in the drain");
    }
}

#[derive(Default, Debug, PartialEq)]
struct QueueVerdict {
    published: u64,
    confirmed: u64,
    nacked: u64,
    acked: u64,
    recovered: u64,
    lost: u64,
    duplicated: u64,
    reordered: u64,
    resurrected: u64,
    unconfirmed_recovered: u64,
    redelivered_flag: u64,
}

/// Compares what the clients did (`msgs`, per publisher) with the final drain (per
/// queue, in delivery order). Returns the per-queue verdicts, a few lost messages, and
/// how many were lost of each cycle's messages.
fn verdict(
    msgs: &[Vec<Msg>],
    drained: &[Vec<(usize, u64, bool)>],
) -> (Vec<QueueVerdict>, Vec<String>, BTreeMap<u16, u64>) {
    let mut verdicts: Vec<QueueVerdict> = (0..QUEUES).map(|_| QueueVerdict::default()).collect();
    let mut present: HashMap<(usize, u64), u32> = HashMap::new();
    for (q, got) in drained.iter().enumerate() {
        let v = &mut verdicts[q];
        let mut last: Vec<Option<u64>> = vec![None; PUBLISHERS];
        for &(p, n, redelivered) in got {
            let seen = present.entry((p, n)).or_default();
            *seen += 1;
            if *seen > 1 {
                v.duplicated += 1;
            } else {
                v.recovered += 1;
            }
            if last[p].is_some_and(|prev| n < prev) {
                v.reordered += 1;
            }
            last[p] = Some(n);
            if redelivered {
                v.redelivered_flag += 1;
            }
        }
    }
    let mut lost_examples = Vec::new();
    let mut lost_by_cycle = BTreeMap::new();
    for (p, msgs) in msgs.iter().enumerate() {
        for (n, m) in msgs.iter().enumerate() {
            let v = &mut verdicts[m.queue as usize];
            let is_present = present.contains_key(&(p, n as u64));
            let confirmed = m.flags & CONFIRMED != 0;
            let acked = m.flags & ACKED != 0;
            v.published += u64::from(m.flags & PUBLISHED != 0);
            v.confirmed += u64::from(confirmed);
            v.nacked += u64::from(m.flags & NACKED != 0);
            v.acked += u64::from(acked);
            if confirmed && !acked && !is_present {
                v.lost += 1;
                *lost_by_cycle.entry(m.cycle).or_default() += 1;
                if lost_examples.len() < 10 {
                    lost_examples.push(format!(
                        "{}:{p}:{n} (cycle {}, {})",
                        queue_name(m.queue as usize),
                        m.cycle,
                        if m.flags & DELIVERED != 0 {
                            "delivered unacked"
                        } else {
                            "never delivered"
                        }
                    ));
                }
            }
            if acked && is_present {
                v.resurrected += 1;
            }
            if !confirmed && is_present {
                v.unconfirmed_recovered += 1;
            }
        }
    }
    (verdicts, lost_examples, lost_by_cycle)
}

#[test]
fn the_verdict_counts_lost_duplicated_reordered_and_resurrected() {
    let m = |queue: u8, flags: u8| Msg {
        queue,
        flags,
        cycle: 1,
    };
    let ok = PUBLISHED | CONFIRMED;
    // Publisher 0: 0 and 1 confirmed to q0; 2 confirmed to q0 but missing (lost);
    // 3 acked yet back (resurrected); 4 unconfirmed and absent (fine).
    // Publisher 1: 0 and 1 confirmed to q1, drained in the wrong order and 1 twice;
    // 2 unconfirmed but back (fine); 3 confirmed, acked and gone (fine).
    let msgs = vec![
        vec![
            m(0, ok),
            m(0, ok | DELIVERED),
            m(0, ok | DELIVERED),
            m(0, ok | ACKED),
            m(0, PUBLISHED),
        ],
        vec![m(1, ok), m(1, ok), m(1, PUBLISHED), m(1, ok | ACKED)],
    ];
    let drained = vec![
        vec![(0, 0, false), (0, 1, true), (0, 3, true)],
        vec![(1, 1, false), (1, 0, false), (1, 1, false), (1, 2, false)],
        vec![],
        vec![],
    ];
    let (v, lost, by_cycle) = verdict(&msgs, &drained);
    assert_eq!(
        v[0],
        QueueVerdict {
            published: 5,
            confirmed: 4,
            acked: 1,
            recovered: 3,
            lost: 1,
            resurrected: 1,
            redelivered_flag: 2,
            ..Default::default()
        }
    );
    assert_eq!(lost, ["crash-q0:0:2 (cycle 1, delivered unacked)"]);
    assert_eq!(by_cycle, BTreeMap::from([(1, 1)]));
    assert_eq!(
        v[1],
        QueueVerdict {
            published: 4,
            confirmed: 3,
            acked: 1,
            recovered: 3,
            duplicated: 1,
            reordered: 1,
            unconfirmed_recovered: 1,
            ..Default::default()
        }
    );
    assert_eq!(v[2], QueueVerdict::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn confirmed_messages_survive_sigkill() {
    let cycles: u16 = std::env::var("CRASH_CYCLES")
        .ok()
        .map(|v| v.parse().expect("CRASH_CYCLES is a number"))
        .unwrap_or(3);
    let seed: u64 = match std::env::var("CRASH_SEED") {
        Ok(v) => v.parse().expect("CRASH_SEED is a number"),
        Err(_) => mix(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ u64::from(std::process::id())),
    };
    let data = DataDir::new();
    eprintln!(
        "crash: seed={seed} (replay with CRASH_SEED={seed}) cycles={cycles} data={}",
        data.0.display()
    );
    let started = Instant::now();
    let mut rng = Rng(seed);
    let ledger: Shared = Arc::new(Mutex::new(Ledger::new()));

    for c in 1..=cycles {
        cycle(c, cycles, &data.0, &ledger, &mut rng).await;
    }

    // Once more, to read back what survived.
    let broker = tokio::task::block_in_place(|| Broker::start(&data.0));
    {
        let mut l = lock(&ledger);
        l.cycle = cycles + 1;
        l.seen_this_run.clear();
    }
    let drained = drain(&broker.url(), &ledger).await;

    // Acks of the drain should outlive a clean shutdown: report what comes back.
    let status = tokio::task::block_in_place(|| broker.stop());
    let broker = tokio::task::block_in_place(|| Broker::start(&data.0));
    let conn = connect(&broker.url()).await;
    let left_after_clean_restart: u32 = declare_queues(&channel(&conn).await).await.iter().sum();
    let _ = timed(conn.close(200, "bye".into())).await;
    drop(broker);

    // The verdict.
    let l = lock(&ledger);
    let (verdicts, lost_examples, lost_by_cycle) = verdict(&l.msgs, &drained);
    for (q, v) in verdicts.iter().enumerate() {
        eprintln!("crash: {}: {v:?}", queue_name(q));
    }
    let total = |f: fn(&QueueVerdict) -> u64| verdicts.iter().map(f).sum::<u64>();
    let (lost, duplicated, reordered) = (
        total(|v| v.lost),
        total(|v| v.duplicated),
        total(|v| v.reordered),
    );
    if !lost_examples.is_empty() {
        eprintln!("crash: lost per cycle of publication: {lost_by_cycle:?}");
        eprintln!("crash: lost, for example: {}", lost_examples.join(", "));
    }
    eprintln!(
        "crash: drain: unconfirmed_recovered={} redelivered_flag={} redelivered_missing={} \
         bad_deliveries={} live_duplicates={} nacked={} clean_shutdown={status} \
         ready_after_clean_restart={left_after_clean_restart} elapsed={:.1?}",
        total(|v| v.unconfirmed_recovered),
        total(|v| v.redelivered_flag),
        l.redelivered_missing,
        l.bad_deliveries,
        l.live_duplicates,
        total(|v| v.nacked),
        started.elapsed()
    );
    println!(
        "crash: cycles={cycles} seed={seed} published={} confirmed={} acked={} recovered={} \
         lost={lost} duplicated={duplicated} reordered={reordered} resurrected={}",
        total(|v| v.published),
        total(|v| v.confirmed),
        total(|v| v.acked),
        total(|v| v.recovered),
        total(|v| v.resurrected),
    );
    assert_eq!(lost, 0, "confirmed messages lost (seed {seed})");
    assert_eq!(
        duplicated, 0,
        "messages duplicated in the drain (seed {seed})"
    );
    assert_eq!(reordered, 0, "messages out of publish order (seed {seed})");
    assert_eq!(
        l.bad_deliveries, 0,
        "corrupt or misrouted deliveries (seed {seed})"
    );
    // After a crash every recovered message is flagged: a consumer must never take a
    // message it may have seen before for a new one.
    assert_eq!(
        l.redelivered_missing, 0,
        "messages delivered before a restart came back without redelivered (seed {seed})"
    );
}
