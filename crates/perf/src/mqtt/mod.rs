//! `--mqtt HOST:PORT`: the MQTT load generator. Publishers and subscribers on
//! Warren's MQTT codec with a hand-written pipelined client (see `publisher.rs`,
//! `subscriber.rs`), any broker that speaks MQTT 3.1.1 or 5.
//!
//! Every payload starts with the same 16-byte stamp as the AMQP mode (send time,
//! publisher id and sequence number), so latency, loss, duplicates and reordering
//! are counted per publisher on every subscriber, not assumed.

pub mod idle;
mod publisher;
mod session;
mod subscriber;
mod tracker;
mod wire;

use crate::cli::Args;
use crate::payload::now_ns;
use crate::report::{self, latency_line, usage_line, Lines, ProcUsage, Reporter, Usage};
use crate::stats::{LatencySummary, Stats};
use crate::stop::Stop;
use anyhow::{bail, Context, Result};
use mqtt_codec::{QoS, Version};
use publisher::{PublisherResult, PublisherSpec};
use serde::Serialize;
use session::{Client, Target};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use subscriber::SubscriberResult;
use tracker::SeqTracker;

/// The MQTT settings common to every mode.
pub struct MqttOptions {
    pub target: Target,
    pub qos: QoS,
}

impl MqttOptions {
    pub fn from_args(args: &Args, addr: &str) -> Result<MqttOptions> {
        let version = match args.mqtt_version.as_str() {
            "3.1.1" | "4" => Version::V3_1_1,
            "5" | "5.0" => Version::V5,
            other => bail!("--mqtt-version {other}: use 3.1.1 or 5"),
        };
        let qos = QoS::from_u8(args.qos).context("--qos must be 0, 1 or 2")?;
        let addr = addr.strip_prefix("mqtt://").unwrap_or(addr).to_owned();
        Ok(MqttOptions {
            target: Target {
                addr,
                version,
                username: (!args.mqtt_user.is_empty()).then(|| args.mqtt_user.clone()),
                password: (!args.mqtt_user.is_empty()).then(|| args.mqtt_password.clone()),
            },
            qos,
        })
    }
}

/// Publisher `i`'s topic: `{i}` in the template is replaced by its index.
pub fn topic_for(template: &str, i: usize) -> String {
    template.replace("{i}", &i.to_string())
}

/// The subscribers' filter: as given, else the publishers' topic with `{i}` as a
/// single-level wildcard when there are several publishers.
pub fn filter_for(template: &str, given: Option<&str>, producers: usize) -> String {
    match given {
        Some(f) => f.to_owned(),
        None if producers > 1 => template.replace("{i}", "+"),
        None => topic_for(template, 0),
    }
}

/// Messages per publisher for a total `--count`: an even share, the remainder to
/// the first ones.
pub fn share(total: u64, producers: usize, i: usize) -> u64 {
    let n = producers.max(1) as u64;
    total / n + u64::from((i as u64) < total % n)
}

/// Loss, duplicates and reordering over every (subscriber, publisher) pair whose
/// filter matches the publisher's topic.
#[derive(Serialize, Debug, Default, PartialEq, Eq)]
pub struct Accounting {
    pub expected: u64,
    pub received: u64,
    pub missing: u64,
    pub duplicates: u64,
    pub reordered: u64,
    /// Sequence numbers above what the publisher sent (stale or corrupt messages).
    pub unknown: u64,
}

pub fn account(published: &[u64], matches: &[bool], subscribers: &[Vec<SeqTracker>]) -> Accounting {
    let mut a = Accounting::default();
    let none = SeqTracker::default();
    for trackers in subscribers {
        for (p, &sent) in published.iter().enumerate() {
            let t = trackers.get(p).unwrap_or(&none);
            if matches[p] {
                a.expected += sent;
                a.missing += t.missing(sent);
                a.unknown += t.beyond(sent);
            } else {
                a.unknown += t.received;
            }
            a.received += t.received;
            a.duplicates += t.duplicates;
            a.reordered += t.reordered;
        }
        // Stamps naming a publisher that does not exist.
        for t in trackers.iter().skip(published.len()) {
            a.unknown += t.received + t.duplicates;
        }
    }
    a
}

#[derive(Serialize)]
pub struct Summary {
    pub scenario: &'static str,
    pub mqtt_version: String,
    pub qos: u8,
    pub producers: usize,
    pub consumers: usize,
    pub size: usize,
    pub inflight: u16,
    pub topic: String,
    pub filter: String,
    pub published: u64,
    pub acked: u64,
    pub unacked: u64,
    pub consumed: u64,
    pub accounting: Accounting,
    /// `accounting.missing`, where the AMQP mode reports it.
    pub missing: Option<u64>,
    pub publish_seconds: f64,
    pub publish_rate: f64,
    pub consume_rate: f64,
    pub e2e_latency: Option<LatencySummary>,
    pub confirm_latency: Option<LatencySummary>,
    pub broker: Option<ProcUsage>,
    pub perf: ProcUsage,
    pub errors: Vec<String>,
}

pub async fn run(args: &Args, addr: &str) -> Result<Summary> {
    let opts = MqttOptions::from_args(args, addr)?;
    let stats = Arc::new(Stats::default());
    let producers = args.producers;
    let topics: Vec<String> = (0..producers).map(|i| topic_for(&args.topic, i)).collect();
    let filter = filter_for(&args.topic, args.subscribe.as_deref(), producers);
    let matches: Vec<bool> = topics
        .iter()
        .map(|t| mqtt_codec::topic::matches(&filter, t))
        .collect();
    let tag = std::process::id();

    // Subscribers first, each with its SUBACK, so no message goes to nobody.
    let done = Arc::new(Stop::default());
    let mut subs = Vec::new();
    for i in 0..args.consumers {
        let mut c = Client::connect(&opts.target, &format!("perf-sub-{tag}-{i}"), 600)
            .await
            .with_context(|| format!("subscriber {i}"))?;
        c.subscribe(&filter, opts.qos, 1)
            .await
            .with_context(|| format!("subscriber {i}"))?;
        subs.push(tokio::spawn(subscriber::run(
            c,
            stats.clone(),
            done.clone(),
        )));
    }
    let mut clients = Vec::new();
    for i in 0..producers {
        let c = Client::connect(&opts.target, &format!("perf-pub-{tag}-{i}"), 600)
            .await
            .with_context(|| format!("publisher {i}"))?;
        clients.push(c);
    }

    let lines = Lines {
        to_stderr: args.json,
        quiet: args.quiet,
    };
    let stop = Arc::new(Stop::default());
    let reporter_stop = Arc::new(Stop::default());
    let reporter = tokio::spawn(
        Reporter::new(stats.clone(), args.broker_pid, lines).run(reporter_stop.clone()),
    );
    let before = Usage::sample(args.broker_pid);
    let start = Instant::now();
    let start_ns = now_ns();
    let drain = Duration::from_secs_f64(args.drain_timeout);
    let mut pubs = Vec::new();
    for (i, c) in clients.into_iter().enumerate() {
        let spec = PublisherSpec {
            id: i as u16,
            topic: topics[i].clone(),
            qos: opts.qos,
            size: args.size,
            rate: args.rate,
            window: args.inflight,
            limit: args.count.map(|n| share(n, producers, i)),
            batch_bytes: args.batch_bytes,
            drain,
        };
        pubs.push(tokio::spawn(publisher::run(
            c,
            spec,
            stats.clone(),
            stop.clone(),
        )));
    }

    // Stop at the duration; with only a count, the publishers stop themselves.
    let duration = match (args.duration, args.count) {
        (Some(d), _) => Some(d),
        (None, None) => Some(Args::DEFAULT_DURATION),
        (None, Some(_)) => None,
    };
    if let Some(d) = duration {
        let stopper = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs_f64(d)).await;
            stopper.stop();
        });
        if producers == 0 {
            // Subscribers only (of another client's messages): they listen for the
            // whole duration.
            stop.wait().await;
        }
    }
    let mut published = vec![0u64; producers];
    let mut pub_total = PublisherResult::default();
    for (i, h) in pubs.into_iter().enumerate() {
        match h.await? {
            Ok(r) => {
                published[i] = r.published;
                pub_total.published += r.published;
                pub_total.acked += r.acked;
                pub_total.unacked += r.unacked;
            }
            Err(e) => stats.error(format!("publisher {i}: {e:#}")),
        }
    }
    stop.stop();
    let publish_seconds = start.elapsed().as_secs_f64();

    // Drain: until every expected copy arrived, nothing arrived for a while (lost
    // messages will not come), or the drain time is up.
    let copies_per_round: u64 = published
        .iter()
        .zip(&matches)
        .filter(|(_, &m)| m)
        .map(|(&n, _)| n)
        .sum();
    let expected = copies_per_round * args.consumers as u64;
    let drain_start = Instant::now();
    let mut last = (stats.counters.consumed.load(Relaxed), Instant::now());
    while stats.counters.consumed.load(Relaxed) < expected && drain_start.elapsed() < drain {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let now = stats.counters.consumed.load(Relaxed);
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(2) {
            break;
        }
    }
    let after = Usage::sample(args.broker_pid);
    done.stop();
    let mut results: Vec<SubscriberResult> = Vec::new();
    for (i, h) in subs.into_iter().enumerate() {
        match h.await? {
            Ok(r) => results.push(r),
            Err(e) => {
                stats.error(format!("subscriber {i}: {e:#}"));
                results.push(SubscriberResult::default());
            }
        }
    }
    reporter_stop.stop();
    let reporter = reporter.await?;

    let trackers: Vec<Vec<SeqTracker>> = results.iter().map(|r| r.trackers.clone()).collect();
    let accounting = account(&published, &matches, &trackers);
    let consumed = stats.counters.consumed.load(Relaxed);
    let consume_secs = (stats
        .counters
        .last_consumed_ns
        .load(Relaxed)
        .saturating_sub(start_ns)) as f64
        / 1e9;
    let messages = pub_total.published.max(consumed);
    let (broker, perf) = before.until(&after, messages, reporter.broker_rss_max_kb);
    let mut errors = stats.errors();
    let unstamped: u64 = results.iter().map(|r| r.unstamped).sum();
    if unstamped > 0 {
        errors.push(format!("{unstamped} deliveries without a stamp"));
    }
    if pub_total.unacked > 0 {
        errors.push(format!(
            "{} messages still unacknowledged after the drain time",
            pub_total.unacked
        ));
    }
    Ok(Summary {
        scenario: "mqtt",
        mqtt_version: match opts.target.version {
            Version::V5 => "5".into(),
            _ => "3.1.1".into(),
        },
        qos: opts.qos as u8,
        producers,
        consumers: args.consumers,
        size: args.size.max(crate::payload::STAMP_LEN),
        inflight: args.inflight,
        topic: args.topic.clone(),
        filter,
        published: pub_total.published,
        acked: pub_total.acked,
        unacked: pub_total.unacked,
        consumed,
        missing: Some(accounting.missing),
        accounting,
        publish_seconds,
        publish_rate: pub_total.published as f64 / publish_seconds.max(1e-9),
        consume_rate: if consume_secs > 0.0 {
            consumed as f64 / consume_secs
        } else {
            0.0
        },
        e2e_latency: LatencySummary::of(&reporter.total.e2e),
        confirm_latency: LatencySummary::of(&reporter.total.confirm),
        broker,
        perf,
        errors,
    })
}

impl Summary {
    pub fn text(&self) -> Vec<String> {
        let a = &self.accounting;
        let mut out = vec![
            format!(
                "== mqtt {} QoS {}: {} -> {} ({} -> {}), {} B ==",
                self.mqtt_version,
                self.qos,
                self.producers,
                self.consumers,
                self.topic,
                self.filter,
                self.size
            ),
            format!(
                "published        {} in {:.2} s = {}/s (acknowledged {})",
                report::thousands(self.published),
                self.publish_seconds,
                report::thousands(self.publish_rate as u64),
                report::thousands(self.acked)
            ),
            format!(
                "consumed         {} = {}/s",
                report::thousands(self.consumed),
                report::thousands(self.consume_rate as u64)
            ),
            format!(
                "accounting       expected {}, received {}, missing {}, duplicates {}, \
                 reordered {}, unknown {}",
                report::thousands(a.expected),
                report::thousands(a.received),
                report::thousands(a.missing),
                report::thousands(a.duplicates),
                report::thousands(a.reordered),
                report::thousands(a.unknown)
            ),
            latency_line("e2e latency", &self.e2e_latency),
            latency_line("confirm latency", &self.confirm_latency),
        ];
        if let Some(b) = &self.broker {
            out.push(usage_line("broker", b, "msg"));
        }
        out.push(usage_line("warren-perf", &self.perf, "msg"));
        for e in &self.errors {
            out.push(format!("error            {e}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_filters_and_shares() {
        assert_eq!(topic_for("sensors/{i}/temp", 3), "sensors/3/temp");
        assert_eq!(filter_for("sensors/{i}/temp", None, 10), "sensors/+/temp");
        assert_eq!(filter_for("perf/{i}", None, 1), "perf/0");
        assert_eq!(filter_for("perf/{i}", Some("perf/#"), 1), "perf/#");
        assert_eq!(
            (0..3).map(|i| share(10, 3, i)).collect::<Vec<_>>(),
            [4, 3, 3]
        );
    }

    fn tracker(seqs: impl IntoIterator<Item = u64>) -> SeqTracker {
        let mut t = SeqTracker::default();
        for s in seqs {
            t.see(s);
        }
        t
    }

    #[test]
    fn accounting_over_subscribers_and_publishers() {
        // Two publishers of 5 each; publisher 1's topic does not match the filter.
        let published = [5, 5];
        let matches = [true, false];
        let subs = vec![
            // Everything from publisher 0.
            vec![tracker(0..5)],
            // 3 lost, 1 twice, and a message from publisher 1 it should not have had.
            vec![tracker([0, 1, 1, 2, 4]), tracker([0])],
            // Nothing at all.
            vec![],
        ];
        let a = account(&published, &matches, &subs);
        assert_eq!(
            a,
            Accounting {
                expected: 15,
                received: 10,
                missing: 6,
                duplicates: 1,
                reordered: 0,
                unknown: 1,
            }
        );
    }
}
