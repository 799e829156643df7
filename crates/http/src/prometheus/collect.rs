//! What a scrape reports, gathered from the broker: names, types, help texts and
//! labels as RabbitMQ's `rabbitmq_prometheus` plugin writes them, for what Warren has.
//!
//! The aggregated form sums each family into one unlabelled sample; the per-object
//! form labels queue metrics with `vhost` and `queue`, channel metrics with
//! `channel` (the channel's name, `"peer -> local (n)"`) and connection metrics with
//! `channel` too (the connection's name), as RabbitMQ labels its connection
//! processes. Everything is read from counters the queues, channels and connections
//! keep up to date themselves: no queue is asked, so a scrape over 100,000 queues is
//! a walk over atomics.

use super::exposition::{Exposition, Kind};
use warren_core::metrics::{ChannelCounter, ChannelCounts, QueueLifecycleCounts};
use warren_core::queue::stats::QueueStatsSnapshot;
use warren_core::registry::Traffic;
use warren_core::{Broker, Name};

/// Which of the exporter's two endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `/metrics`: one sample per family.
    Aggregated,
    /// `/metrics/per-object`: one sample per queue, channel or connection.
    PerObject,
}

/// What the node is, for `rabbitmq_identity_info` and `rabbitmq_build_info`.
pub struct Identity<'a> {
    pub node: &'a str,
    /// When the broker started, seconds since the Unix epoch.
    pub started_unix: u64,
}

struct QueueRow {
    vhost: Name,
    name: Name,
    stats: QueueStatsSnapshot,
}

/// Queue gauges, one queue's or summed.
#[derive(Default)]
struct QueueTotals {
    ready: u64,
    unacked: u64,
    consumers: u64,
}

impl QueueTotals {
    fn of(s: &QueueStatsSnapshot) -> QueueTotals {
        QueueTotals {
            ready: s.ready as u64,
            unacked: s.unacked as u64,
            consumers: s.consumers as u64,
        }
    }
}

struct ChannelRow {
    name: String,
    vhost: Name,
    consumers: usize,
    prefetch: u32,
    global_prefetch: u32,
    unacked: u32,
    counts: ChannelCounts,
}

struct ConnectionRow {
    name: String,
    channels: usize,
    traffic: Traffic,
}

/// The text of one scrape.
pub fn render(broker: &Broker, identity: &Identity<'_>, scope: Scope) -> String {
    let per_object = scope == Scope::PerObject;
    let vhosts = broker.live_vhosts();
    let mut queue_lifecycle = QueueLifecycleCounts::default();
    let mut queues = Vec::new();
    // Summed in u64: 100,000 queues' u32 depths can exceed a u32.
    let mut queue_total = QueueTotals::default();
    let mut queue_published = 0u64;
    let mut queue_count = 0usize;
    for vhost in &vhosts {
        queue_lifecycle.add(vhost.queue_lifecycle.snapshot());
        for queue in vhost.queues() {
            let s = queue.stats.snapshot();
            queue_count += 1;
            queue_total.ready += s.ready as u64;
            queue_total.unacked += s.unacked as u64;
            queue_total.consumers += s.consumers as u64;
            queue_published += s.published;
            if per_object {
                queues.push(QueueRow {
                    vhost: queue.vhost.clone(),
                    name: queue.name.clone(),
                    stats: s,
                });
            }
        }
    }
    let mut channels = Vec::new();
    let (mut channel_count, mut channel_consumers, mut channel_unacked) = (0usize, 0u64, 0u64);
    let (mut prefetch_total, mut global_prefetch_total) = (0u64, 0u64);
    let channel_totals = broker
        .registry
        .channel_counts(|connection, channel, counts| {
            let state = channel.state();
            channel_count += 1;
            channel_consumers += state.consumers.len() as u64;
            channel_unacked += channel.unacked() as u64;
            prefetch_total += state.prefetch_count as u64;
            global_prefetch_total += state.global_prefetch_count as u64;
            if per_object {
                channels.push(ChannelRow {
                    name: format!("{} ({})", connection.info.name, channel.number),
                    vhost: connection.info.vhost.clone(),
                    consumers: state.consumers.len(),
                    prefetch: state.prefetch_count,
                    global_prefetch: state.global_prefetch_count,
                    unacked: channel.unacked(),
                    counts: *counts,
                });
            }
        });
    let mut connections = Vec::new();
    let mut traffic_total = Traffic::default();
    let mut connection_channels = 0usize;
    for connection in broker.registry.connections() {
        let traffic = connection.traffic();
        let n = connection.channels().len();
        traffic_total.recv_oct += traffic.recv_oct;
        traffic_total.send_oct += traffic.send_oct;
        traffic_total.recv_cnt += traffic.recv_cnt;
        traffic_total.send_cnt += traffic.send_cnt;
        connection_channels += n;
        if per_object {
            connections.push(ConnectionRow {
                name: connection.info.name.clone(),
                channels: n,
                traffic,
            });
        }
    }

    let mut out = Exposition::with_capacity(
        8 * 1024 + queues.len() * 400 + (channels.len() + connections.len()) * 1500,
    );
    let e = &mut out;
    e.family(
        "rabbitmq_alarms_free_disk_space_watermark",
        Kind::Untyped,
        "is 1 if free disk space watermark alarm is in effect",
    )
    .value(flag(broker.disk_alarm()));
    e.family(
        "rabbitmq_alarms_memory_used_watermark",
        Kind::Untyped,
        "is 1 if VM memory watermark alarm is in effect",
    )
    .value(flag(broker.memory_alarm()));

    let lifecycle = broker.registry.lifecycle();
    let counters: [(&'static str, &str, u64); 7] = [
        (
            "rabbitmq_connections_opened_total",
            "Total number of connections opened",
            lifecycle.connections_opened,
        ),
        (
            "rabbitmq_connections_closed_total",
            "Total number of connections closed or terminated",
            lifecycle.connections_closed,
        ),
        (
            "rabbitmq_channels_opened_total",
            "Total number of channels opened",
            lifecycle.channels_opened,
        ),
        (
            "rabbitmq_channels_closed_total",
            "Total number of channels closed",
            lifecycle.channels_closed,
        ),
        (
            "rabbitmq_queues_declared_total",
            "Total number of queues declared",
            queue_lifecycle.declared,
        ),
        (
            "rabbitmq_queues_created_total",
            "Total number of queues created",
            queue_lifecycle.created,
        ),
        (
            "rabbitmq_queues_deleted_total",
            "Total number of queues deleted",
            queue_lifecycle.deleted,
        ),
    ];
    for (name, help, value) in counters {
        e.family(name, Kind::Counter, help).value(value as f64);
    }

    let process = super::process::read();
    let resources = broker.resource_readings();
    let gauges: [(&'static str, &str, u64); 6] = [
        (
            "rabbitmq_process_open_fds",
            "Open file descriptors",
            process.open_fds,
        ),
        (
            "rabbitmq_process_resident_memory_bytes",
            "Memory used in bytes",
            process.resident_bytes,
        ),
        (
            "rabbitmq_disk_space_available_bytes",
            "Disk space available in bytes",
            resources.disk_free,
        ),
        (
            "rabbitmq_process_max_fds",
            "Open file descriptors limit",
            process.max_fds,
        ),
        (
            "rabbitmq_resident_memory_limit_bytes",
            "Memory high watermark in bytes",
            resources.memory_limit,
        ),
        (
            "rabbitmq_disk_space_available_limit_bytes",
            "Free disk space low watermark in bytes",
            resources.disk_free_limit,
        ),
    ];
    for (name, help, value) in gauges {
        e.family(name, Kind::Gauge, help).value(value as f64);
    }

    type QueueValue = fn(&QueueTotals) -> u64;
    let queue_families: [(&'static str, &str, QueueValue); 4] = [
        (
            "rabbitmq_queue_messages_ready",
            "Messages ready to be delivered to consumers",
            |s| s.ready,
        ),
        (
            "rabbitmq_queue_messages_unacked",
            "Messages delivered to consumers but not yet acknowledged",
            |s| s.unacked,
        ),
        (
            "rabbitmq_queue_messages",
            "Sum of ready and unacknowledged messages - total queue depth",
            |s| s.ready + s.unacked,
        ),
        ("rabbitmq_queue_consumers", "Consumers on a queue", |s| {
            s.consumers
        }),
    ];
    for (name, help, value) in queue_families {
        e.family(name, Kind::Gauge, help);
        if per_object {
            for q in &queues {
                let one = QueueTotals::of(&q.stats);
                e.sample(
                    &[("vhost", &q.vhost), ("queue", &q.name)],
                    value(&one) as f64,
                );
            }
        } else {
            e.value(value(&queue_total) as f64);
        }
    }

    type ChannelGauge = fn(&ChannelRow) -> u64;
    let channel_gauges: [(&'static str, &str, ChannelGauge, u64); 4] = [
        (
            "rabbitmq_channel_consumers",
            "Consumers on a channel",
            |c| c.consumers as u64,
            channel_consumers,
        ),
        (
            "rabbitmq_channel_messages_unacked",
            "Delivered but not yet acknowledged messages",
            |c| c.unacked as u64,
            channel_unacked,
        ),
        (
            "rabbitmq_consumer_prefetch",
            "Limit of unacknowledged messages for each consumer",
            |c| c.prefetch as u64,
            prefetch_total,
        ),
        (
            "rabbitmq_channel_prefetch",
            "Total limit of unacknowledged messages for all consumers on a channel",
            |c| c.global_prefetch as u64,
            global_prefetch_total,
        ),
    ];
    for (name, help, value, total) in channel_gauges {
        e.family(name, Kind::Gauge, help);
        if per_object {
            for c in &channels {
                e.sample(&[("channel", &c.name)], value(c) as f64);
            }
        } else {
            e.value(total as f64);
        }
    }

    for (counter, name, help) in CHANNEL_COUNTERS {
        e.family(name, Kind::Counter, help);
        if per_object {
            // Only live channels, as RabbitMQ's per-object samples; what closed
            // channels counted stays in the aggregated totals.
            for c in &channels {
                e.sample(
                    &[("channel", &c.name), ("vhost", &c.vhost)],
                    c.counts.get(counter) as f64,
                );
            }
        } else {
            e.value(channel_totals.get(counter) as f64);
        }
    }

    type ConnectionValue = fn(&Traffic) -> u64;
    let connection_counters: [(&'static str, &str, ConnectionValue); 4] = [
        (
            "rabbitmq_connection_incoming_bytes_total",
            "Total number of bytes received on a connection",
            |t| t.recv_oct,
        ),
        (
            "rabbitmq_connection_outgoing_bytes_total",
            "Total number of bytes sent on a connection",
            |t| t.send_oct,
        ),
        (
            "rabbitmq_connection_incoming_packets_total",
            "Total number of packets received on a connection",
            |t| t.recv_cnt,
        ),
        (
            "rabbitmq_connection_outgoing_packets_total",
            "Total number of packets sent on a connection",
            |t| t.send_cnt,
        ),
    ];
    for (name, help, value) in connection_counters {
        e.family(name, Kind::Counter, help);
        if per_object {
            for c in &connections {
                e.sample(&[("channel", &c.name)], value(&c.traffic) as f64);
            }
        } else {
            e.value(value(&traffic_total) as f64);
        }
    }
    e.family(
        "rabbitmq_connection_channels",
        Kind::Gauge,
        "Channels on a connection",
    );
    if per_object {
        for c in &connections {
            e.sample(&[("channel", &c.name)], c.channels as f64);
        }
    } else {
        e.value(connection_channels as f64);
    }

    e.family(
        "rabbitmq_queue_messages_published_total",
        Kind::Counter,
        "Total number of messages published to queues",
    );
    if per_object {
        for q in &queues {
            e.sample(
                &[("queue_vhost", &q.vhost), ("queue", &q.name)],
                q.stats.published as f64,
            );
        }
    } else {
        e.value(queue_published as f64);
    }

    let totals: [(&'static str, &str, usize); 4] = [
        (
            "rabbitmq_connections",
            "Connections currently open",
            broker.connection_count(),
        ),
        (
            "rabbitmq_channels",
            "Channels currently open",
            channel_count,
        ),
        (
            "rabbitmq_consumers",
            "Consumers currently connected",
            queue_total.consumers as usize,
        ),
        ("rabbitmq_queues", "Queues available", queue_count),
    ];
    for (name, help, value) in totals {
        e.family(name, Kind::Gauge, help).value(value as f64);
    }

    e.family(
        "rabbitmq_build_info",
        Kind::Untyped,
        "RabbitMQ & Erlang/OTP version info",
    )
    .sample(
        &[
            ("rabbitmq_version", crate::api::RABBITMQ_VERSION),
            ("prometheus_plugin_version", crate::api::RABBITMQ_VERSION),
            ("product_name", "Warren"),
            ("product_version", crate::api::WARREN_VERSION),
        ],
        1.0,
    );
    e.family(
        "rabbitmq_identity_info",
        Kind::Untyped,
        "RabbitMQ node & cluster identity info",
    )
    .sample(
        &[
            ("rabbitmq_node", identity.node),
            ("rabbitmq_cluster", identity.node),
        ],
        1.0,
    );
    e.family(
        "process_start_time_seconds",
        Kind::Gauge,
        "Start time of the process since unix epoch in seconds.",
    )
    .value(identity.started_unix as f64);
    out.finish()
}

/// The channel counters' families, in RabbitMQ's order.
const CHANNEL_COUNTERS: [(ChannelCounter, &str, &str); 11] = [
    (
        ChannelCounter::Published,
        "rabbitmq_channel_messages_published_total",
        "Total number of messages published into an exchange on a channel",
    ),
    (
        ChannelCounter::Confirmed,
        "rabbitmq_channel_messages_confirmed_total",
        "Total number of messages published into an exchange and confirmed on the channel",
    ),
    (
        ChannelCounter::UnroutableReturned,
        "rabbitmq_channel_messages_unroutable_returned_total",
        "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable",
    ),
    (
        ChannelCounter::UnroutableDropped,
        "rabbitmq_channel_messages_unroutable_dropped_total",
        "Total number of messages published as non-mandatory into an exchange and dropped as unroutable",
    ),
    (
        ChannelCounter::GetAck,
        "rabbitmq_channel_get_ack_total",
        "Total number of messages fetched with basic.get in manual acknowledgement mode",
    ),
    (
        ChannelCounter::Get,
        "rabbitmq_channel_get_total",
        "Total number of messages fetched with basic.get in automatic acknowledgement mode",
    ),
    (
        ChannelCounter::DeliveredAck,
        "rabbitmq_channel_messages_delivered_ack_total",
        "Total number of messages delivered to consumers in manual acknowledgement mode",
    ),
    (
        ChannelCounter::Delivered,
        "rabbitmq_channel_messages_delivered_total",
        "Total number of messages delivered to consumers in automatic acknowledgement mode",
    ),
    (
        ChannelCounter::Redelivered,
        "rabbitmq_channel_messages_redelivered_total",
        "Total number of messages redelivered to consumers",
    ),
    (
        ChannelCounter::Acked,
        "rabbitmq_channel_messages_acked_total",
        "Total number of messages acknowledged by consumers",
    ),
    (
        ChannelCounter::GetEmpty,
        "rabbitmq_channel_get_empty_total",
        "Total number of times basic.get operations fetched no message",
    ),
];

fn flag(on: bool) -> f64 {
    if on {
        1.0
    } else {
        0.0
    }
}
