//! The main scenario: producers and consumers over queues (or a fanout exchange),
//! for a duration or a count, and its publish-then-drain variant.

use crate::cli::Args;
use crate::client::{AmqpUri, Connection};
use crate::consumer::{self, ConsumeSpec};
use crate::payload::now_ns;
use crate::publisher::{self, Budget, Control, PublishSpec, Route};
use crate::report::{self, Lines, ProcUsage, Reporter, Usage};
use crate::stats::{LatencySummary, Stats};
use crate::stop::Stop;
use crate::topology::{Topology, CHANNEL};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

#[derive(Serialize)]
pub struct Summary {
    pub scenario: &'static str,
    pub config: RunConfig,
    /// Seconds the producers were publishing.
    pub publish_seconds: f64,
    pub published: u64,
    pub confirmed: u64,
    pub nacked: u64,
    pub consumed: u64,
    /// What the consumers should have seen (published x copies), when they ran.
    pub expected: Option<u64>,
    pub missing: Option<u64>,
    pub reordered: u64,
    pub redelivered: u64,
    pub publish_rate: f64,
    pub consume_rate: f64,
    pub e2e_latency: Option<LatencySummary>,
    pub confirm_latency: Option<LatencySummary>,
    pub broker: Option<ProcUsage>,
    pub perf: ProcUsage,
    pub phases: Vec<Phase>,
    pub errors: Vec<String>,
}

#[derive(Serialize)]
pub struct RunConfig {
    pub producers: usize,
    pub consumers: usize,
    pub queues: usize,
    pub size: usize,
    pub persistent: bool,
    pub confirm: u32,
    pub prefetch: u16,
    pub auto_ack: bool,
    pub multiple_ack_every: u32,
    pub rate: f64,
    pub fanout: usize,
    pub get: bool,
    pub channels_per_connection: usize,
    pub linger_ms: f64,
}

/// One timed phase of publish-then-drain.
#[derive(Serialize)]
pub struct Phase {
    pub name: &'static str,
    pub messages: u64,
    pub seconds: f64,
    pub rate: f64,
    pub broker_cpu_us_per_msg: Option<f64>,
    pub perf_cpu_us_per_msg: Option<f64>,
}

impl Phase {
    fn new(
        name: &'static str,
        messages: u64,
        from: (Instant, Usage),
        to: (Instant, Usage),
    ) -> Phase {
        let seconds = to.0.duration_since(from.0).as_secs_f64();
        let (broker, own) = from.1.until(&to.1, messages, 0);
        Phase {
            name,
            messages,
            seconds,
            rate: messages as f64 / seconds.max(1e-9),
            broker_cpu_us_per_msg: broker.and_then(|b| b.cpu_us_per_msg),
            perf_cpu_us_per_msg: own.cpu_us_per_msg,
        }
    }
}

/// Everything the publishing and consuming tasks share.
struct Run {
    args: Args,
    uri: AmqpUri,
    stats: Arc<Stats>,
    control: Arc<Control>,
    pspec: Arc<PublishSpec>,
    cspec: Arc<ConsumeSpec>,
    tasks: JoinSet<Result<()>>,
}

pub async fn run(args: &Args, uri: &AmqpUri) -> Result<Summary> {
    if args.publish_then_drain && args.count.is_none() {
        bail!("--publish-then-drain needs --count");
    }
    let topo = Topology {
        queues: args.queue_names(),
        exchange: (args.fanout > 0).then(|| args.exchange.clone()),
        durable: args.persistent,
        reuse: args.reuse_queues,
    };
    let mut admin = Connection::open(uri, "perf-admin").await?;
    admin.open_channel(CHANNEL).await?;
    topo.declare(&mut admin).await.context("declaring queues")?;

    let mut run = Run {
        args: args.clone(),
        uri: uri.clone(),
        stats: Arc::new(Stats::default()),
        control: Arc::new(Control::default()),
        pspec: Arc::new(PublishSpec {
            size: args.size,
            persistent: args.persistent,
            confirm: args.confirm,
            rate: args.rate,
            phases: if args.lockstep {
                1
            } else {
                args.producers.max(1) as u32
            },
            batch_bytes: args.batch_bytes.max(1),
        }),
        cspec: Arc::new(ConsumeSpec {
            auto_ack: args.auto_ack,
            ack_every: args.ack_every(),
            prefetch: args.prefetch,
            get: args.get,
            linger: args.linger(),
            body_size: args.size,
        }),
        tasks: JoinSet::new(),
    };
    let result = drive(&mut run, &topo, &mut admin).await;
    run.control.shutdown.stop();
    while let Ok(Some(joined)) =
        tokio::time::timeout(Duration::from_secs(5), run.tasks.join_next()).await
    {
        if let Ok(Err(e)) = joined {
            run.stats.error(format!("{e:#}"));
        }
    }
    if !args.keep_queues && !args.reuse_queues {
        if let Err(e) = topo.delete(&mut admin).await {
            run.stats.error(format!("deleting queues: {e:#}"));
        }
    }
    let _ = admin.close().await;
    let mut summary = result?;
    summary.errors = run.stats.errors();
    Ok(summary)
}

async fn drive(run: &mut Run, topo: &Topology, admin: &mut Connection) -> Result<Summary> {
    let args = run.args.clone();
    let queues = &topo.queues;
    let routes: Vec<Route> = (0..args.producers)
        .map(|i| match (&args.publish_exchange, &args.routing_key) {
            (Some(exchange), Some(key)) => Route {
                producer_id: i as u16,
                exchange: exchange.clone(),
                routing_key: key.clone(),
            },
            _ => Route {
                producer_id: i as u16,
                exchange: if args.fanout > 0 {
                    args.exchange.clone()
                } else {
                    String::new()
                },
                routing_key: if args.fanout > 0 {
                    String::new()
                } else {
                    queues[i % queues.len()].clone()
                },
            },
        })
        .collect();
    let consumer_queues: Vec<String> = (0..args.consumer_count())
        .map(|j| queues[j % queues.len()].clone())
        .collect();
    let drain_mode = args.publish_then_drain;
    let lines = Lines {
        to_stderr: args.json,
        quiet: args.quiet,
    };
    if !drain_mode {
        start_consumers(run, &consumer_queues).await?;
    }
    let producers = prepare_producers(run, &routes).await?;
    let budget = Arc::new(Budget::new(args.count));

    let reporter_stop = Arc::new(Stop::default());
    let reporter = tokio::spawn(
        Reporter::new(run.stats.clone(), args.broker_pid, lines).run(reporter_stop.clone()),
    );
    let start = (Instant::now(), Usage::sample(args.broker_pid));
    let start_ns = now_ns();
    for p in producers {
        let (spec, stats, control, budget) = (
            run.pspec.clone(),
            run.stats.clone(),
            run.control.clone(),
            budget.clone(),
        );
        run.tasks
            .spawn(async move { publisher::run(p, spec, stats, control, budget).await });
    }

    wait_publishing(&args, &run.stats, &run.control).await;
    run.control.stop_publishing.stop();
    let published_at = Instant::now();
    // A batch being written when the stop came is counted once its write is done.
    wait_for(
        &run.control,
        5.0,
        || run.control.publishing.load(Relaxed) == 0,
        || 0,
    )
    .await;
    let stats = run.stats.clone();
    let c = &stats.counters;
    let published = c.published.load(Relaxed);
    if args.confirm > 0 {
        let settled = || c.confirmed.load(Relaxed) + c.nacked.load(Relaxed);
        wait_for(
            &run.control,
            args.drain_timeout,
            || settled() >= published,
            settled,
        )
        .await;
    }
    let expected =
        (args.consumer_count() > 0 && args.producers > 0).then(|| published * args.copies());

    let mut phases = Vec::new();
    if drain_mode {
        // Publish phase: until the queues hold every message.
        let want = expected.unwrap_or(published);
        let mut depth = 0;
        let mut last_change = Instant::now();
        while depth < want && !run.control.shutdown.is_stopped() {
            let d = topo.depth(admin).await?;
            if d != depth {
                depth = d;
                last_change = Instant::now();
            } else if last_change.elapsed().as_secs_f64() > args.drain_timeout {
                run.stats.error(format!(
                    "queue depth stuck at {depth} of {want} published for {:.0} s",
                    args.drain_timeout
                ));
                break;
            }
            if depth < want {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let enqueued = (Instant::now(), Usage::sample(args.broker_pid));
        phases.push(Phase::new("publish", published, start, enqueued));
        if expected.is_some() {
            start_consumers(run, &consumer_queues).await?;
        }
    }
    let drain_from = (Instant::now(), Usage::sample(args.broker_pid));
    if let Some(expected) = expected {
        let consumed = || c.consumed.load(Relaxed);
        wait_for(
            &run.control,
            args.drain_timeout,
            || consumed() >= expected,
            consumed,
        )
        .await;
    }
    let end = (Instant::now(), Usage::sample(args.broker_pid));
    if drain_mode && expected.is_some() {
        phases.push(Phase::new(
            "drain",
            c.consumed.load(Relaxed),
            drain_from,
            end,
        ));
    }
    reporter_stop.stop();
    let reporter = reporter.await?;

    let consumed = c.consumed.load(Relaxed);
    let confirmed = c.confirmed.load(Relaxed);
    let publish_seconds = published_at.duration_since(start.0).as_secs_f64();
    let consume_from_ns = if drain_mode {
        drain_from.0.duration_since(start.0).as_nanos() as u64 + start_ns
    } else {
        start_ns
    };
    let consume_seconds = c
        .last_consumed_ns
        .load(Relaxed)
        .saturating_sub(consume_from_ns) as f64
        / 1e9;
    let (broker, perf) = start
        .1
        .until(&end.1, published.max(consumed), reporter.broker_rss_max_kb);
    Ok(Summary {
        scenario: if drain_mode {
            "publish-then-drain"
        } else {
            "publish-consume"
        },
        config: RunConfig {
            producers: args.producers,
            consumers: args.consumer_count(),
            queues: queues.len(),
            size: args.size,
            persistent: args.persistent,
            confirm: args.confirm,
            prefetch: args.prefetch,
            auto_ack: args.auto_ack,
            multiple_ack_every: args.ack_every(),
            rate: args.rate,
            fanout: args.fanout,
            get: args.get,
            channels_per_connection: args.channels_per_connection,
            linger_ms: args.linger().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        },
        publish_seconds,
        published,
        confirmed,
        nacked: c.nacked.load(Relaxed),
        consumed,
        expected,
        missing: expected.map(|e| e.saturating_sub(consumed)),
        reordered: c.reordered.load(Relaxed),
        redelivered: c.redelivered.load(Relaxed),
        publish_rate: published as f64 / publish_seconds.max(1e-9),
        consume_rate: if consume_seconds > 0.0 {
            consumed as f64 / consume_seconds
        } else {
            0.0
        },
        e2e_latency: LatencySummary::of(&reporter.total.e2e),
        confirm_latency: LatencySummary::of(&reporter.total.confirm),
        broker,
        perf,
        phases,
        errors: Vec::new(),
    })
}

/// Until the duration is up, the count is published, an error, or Ctrl-C.
async fn wait_publishing(args: &Args, stats: &Stats, control: &Control) {
    let duration = match (args.duration, args.count) {
        (Some(d), _) => Some(d),
        (None, Some(_)) => None,
        (None, None) => Some(Args::DEFAULT_DURATION),
    };
    let timer = async {
        match duration {
            Some(d) => tokio::time::sleep(Duration::from_secs_f64(d)).await,
            None => std::future::pending().await,
        }
    };
    let counted = async {
        let Some(count) = args.count else {
            return std::future::pending().await;
        };
        while stats.counters.published.load(Relaxed) < count {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    tokio::select! {
        _ = timer => {}
        _ = counted => {}
        _ = control.shutdown.wait() => {}
        _ = tokio::signal::ctrl_c() => eprintln!("interrupted"),
    }
}

/// Waits until `done`, giving up after `timeout` seconds without `progress` changing.
async fn wait_for(
    control: &Control,
    timeout: f64,
    done: impl Fn() -> bool,
    progress: impl Fn() -> u64,
) {
    let mut last = progress();
    let mut since = Instant::now();
    while !done() && !control.shutdown.is_stopped() {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let now = progress();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed().as_secs_f64() > timeout {
            return;
        }
    }
}

/// Opens one connection per name (a few at a time) and runs `setup` on each; the
/// results come back in the order of `names`.
async fn open_all<T, F, Fut>(uri: &AmqpUri, names: Vec<String>, setup: F) -> Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize, Connection) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<T>> + Send + 'static,
{
    let setup = Arc::new(setup);
    let gate = Arc::new(tokio::sync::Semaphore::new(32));
    let mut set = JoinSet::new();
    let n = names.len();
    for (i, name) in names.into_iter().enumerate() {
        let (uri, setup, gate) = (uri.clone(), setup.clone(), gate.clone());
        set.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let conn = Connection::open(&uri, &name).await?;
            setup(i, conn).await.map(|t| (i, t))
        });
    }
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        let (i, t) = joined??;
        out[i] = Some(t);
    }
    Ok(out.into_iter().flatten().collect())
}

async fn prepare_producers(run: &Run, routes: &[Route]) -> Result<Vec<publisher::Prepared>> {
    let groups: Vec<Vec<Route>> = routes
        .chunks(run.args.channels_per_connection.max(1))
        .map(<[Route]>::to_vec)
        .collect();
    let names = (0..groups.len())
        .map(|i| format!("perf-producer-{i}"))
        .collect();
    let spec = run.pspec.clone();
    open_all(&run.uri, names, move |i, conn| {
        let routes = groups[i].clone();
        let spec = spec.clone();
        async move { publisher::prepare(conn, 1, &routes, &spec).await }
    })
    .await
    .context("setting up producers")
}

async fn start_consumers(run: &mut Run, queues: &[String]) -> Result<()> {
    let groups: Vec<Vec<String>> = queues
        .chunks(run.args.channels_per_connection.max(1))
        .map(<[String]>::to_vec)
        .collect();
    let names = (0..groups.len())
        .map(|i| format!("perf-consumer-{i}"))
        .collect();
    let spec = run.cspec.clone();
    let prepared = open_all(&run.uri, names, move |i, conn| {
        let queues = groups[i].clone();
        let spec = spec.clone();
        async move { consumer::prepare(conn, &queues, &format!("perf-c{i}"), &spec).await }
    })
    .await
    .context("setting up consumers")?;
    for p in prepared {
        let (spec, stats, control) = (run.cspec.clone(), run.stats.clone(), run.control.clone());
        run.tasks.spawn(async move {
            let r = consumer::run(p, &spec, &stats, &control.shutdown).await;
            if r.is_err() {
                control.shutdown.stop();
            }
            r
        });
    }
    Ok(())
}

impl Summary {
    pub fn text(&self) -> Vec<String> {
        let mut out = vec![format!("== {} ==", self.scenario)];
        out.push(format!(
            "published        {} msgs in {:.2} s = {} msg/s{}",
            report::thousands(self.published),
            self.publish_seconds,
            report::thousands(self.publish_rate as u64),
            if self.config.confirm > 0 {
                format!(
                    "  (confirmed {}, nacked {})",
                    report::thousands(self.confirmed),
                    report::thousands(self.nacked)
                )
            } else {
                String::new()
            }
        ));
        if let Some(expected) = self.expected {
            out.push(format!(
                "consumed         {} msgs = {} msg/s  (expected {}, missing {}, reordered {}, redelivered {})",
                report::thousands(self.consumed),
                report::thousands(self.consume_rate as u64),
                report::thousands(expected),
                report::thousands(self.missing.unwrap_or(0)),
                self.reordered,
                self.redelivered
            ));
        }
        for p in &self.phases {
            out.push(format!(
                "phase {:<10} {} msgs in {:.3} s = {} msg/s, broker {} µs/msg, perf {} µs/msg",
                p.name,
                report::thousands(p.messages),
                p.seconds,
                report::thousands(p.rate as u64),
                report::opt(p.broker_cpu_us_per_msg, 3),
                report::opt(p.perf_cpu_us_per_msg, 3)
            ));
        }
        out.push(report::latency_line("e2e latency", &self.e2e_latency));
        if self.config.confirm > 0 {
            out.push(report::latency_line(
                "confirm latency",
                &self.confirm_latency,
            ));
        }
        match &self.broker {
            Some(b) => out.push(report::usage_line("broker", b, "msg")),
            None => out.push("broker           (pass --broker-pid for its CPU and memory)".into()),
        }
        out.push(report::usage_line("warren-perf", &self.perf, "msg"));
        for e in &self.errors {
            out.push(format!("ERROR: {e}"));
        }
        out
    }
}
