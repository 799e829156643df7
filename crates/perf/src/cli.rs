//! Command-line flags. Names follow RabbitMQ's PerfTest where it has one.

use clap::Parser;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "warren-perf",
    version,
    about = "A lean AMQP 0-9-1 load generator: publishers and consumers that batch frames, \
             with broker CPU per message from /proc",
    after_help = "Scenarios other than publish/consume: --idle-connections, --connection-churn, \
                  --declare-queues, --publish-then-drain; --mqtt HOST:PORT for MQTT. \
                  See crates/perf/README.md."
)]
pub struct Args {
    /// Broker URI.
    #[arg(
        long,
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2F",
        env = "WARREN_PERF_URI"
    )]
    pub uri: String,

    /// Number of publishers.
    #[arg(short = 'x', long, default_value_t = 1)]
    pub producers: usize,

    /// Number of consumers.
    #[arg(short = 'y', long, default_value_t = 1)]
    pub consumers: usize,

    /// Number of queues; producers and consumers are spread over them round-robin.
    #[arg(long, default_value_t = 1)]
    pub queues: usize,

    /// Queue names are PREFIX-0, PREFIX-1, ...
    #[arg(long, default_value = "perf-q")]
    pub queue_prefix: String,

    /// Body size in bytes; the first 16 carry the send time and a sequence number.
    #[arg(short = 's', long, default_value_t = 16)]
    pub size: usize,

    /// Persistent messages (delivery_mode 2) and durable queues.
    #[arg(long)]
    pub persistent: bool,

    /// Publisher confirms with at most N unconfirmed per producer (1 = confirm each).
    #[arg(short = 'c', long, default_value_t = 0)]
    pub confirm: u32,

    /// basic.qos prefetch count per consumer (0 = unlimited).
    #[arg(short = 'q', long, default_value_t = 0)]
    pub prefetch: u16,

    /// Consume with no_ack (the broker does not wait for acks).
    #[arg(short = 'a', long)]
    pub auto_ack: bool,

    /// Manual ack: one multiple-ack every N messages (0 = one per read batch). Capped at
    /// the prefetch so a consumer never waits on itself.
    #[arg(short = 'A', long, default_value_t = 0)]
    pub multiple_ack_every: u32,

    /// Publish rate per producer, msg/s (0 = as fast as the broker takes them).
    /// Producers at a fixed rate start evenly spread over one interval, as
    /// independent clients would be, so their messages arrive spaced out rather
    /// than all in the same instant; see --lockstep.
    #[arg(short = 'r', long, default_value_t = 0.0)]
    pub rate: f64,

    /// With --rate: all producers publish at the same instants (bursts of one
    /// message per producer) instead of spread over the interval.
    #[arg(long)]
    pub lockstep: bool,

    /// Publish to a fanout exchange bound to K queues, each with its own consumer
    /// (overrides --queues and --consumers).
    #[arg(long, default_value_t = 0)]
    pub fanout: usize,

    /// Name of the fanout exchange.
    #[arg(long, default_value = "perf-fanout")]
    pub exchange: String,

    /// Publish to this existing exchange instead of to each producer's queue (e.g.
    /// `amq.topic`, where MQTT subscriptions are bound), with --routing-key.
    #[arg(long, requires = "routing_key", conflicts_with = "fanout")]
    pub publish_exchange: Option<String>,

    /// The routing key for --publish-exchange (`perf.0` reaches an MQTT subscriber
    /// of `perf/0`).
    #[arg(long, requires = "publish_exchange")]
    pub routing_key: Option<String>,

    /// Stop after this many seconds (default 10 unless --count is given).
    #[arg(short = 'z', long)]
    pub duration: Option<f64>,

    /// Stop after N messages published in total.
    #[arg(short = 'C', long)]
    pub count: Option<u64>,

    /// Channels per connection: producers (and consumers) are grouped N to a
    /// connection; 1 gives each its own connection.
    #[arg(long, default_value_t = 1)]
    pub channels_per_connection: usize,

    /// Consumers poll with basic.get, one message at a time per consumer.
    #[arg(long)]
    pub get: bool,

    /// Publish --count messages with no consumer, wait until the queues hold them all,
    /// then start the consumers and drain; both phases are timed.
    #[arg(long, alias = "no-consume-until-published")]
    pub publish_then_drain: bool,

    /// Open N connections with one channel each, hold them, and report the broker's
    /// memory per connection (needs --broker-pid).
    #[arg(long)]
    pub idle_connections: Option<usize>,

    /// Open a connection and a channel, then close it, N times in a row; report
    /// connections per second.
    #[arg(long)]
    pub connection_churn: Option<usize>,

    /// Declare N queues (then delete them); report declares per second.
    #[arg(long)]
    pub declare_queues: Option<usize>,

    /// The million-message benchmark: enqueue --count (default 1,000,000) messages of
    /// --size into one empty queue, then dequeue them all, timing every --step; see
    /// --mode, --backend.
    #[arg(long)]
    pub million: bool,

    /// --million: one (confirm awaited per publish, basic.get / LPUSH, RPOP awaiting
    /// each reply), streamed (no confirms, basic.consume / pipelined), or
    /// streamed-confirms (confirms in a --window).
    #[arg(long, default_value = "streamed")]
    pub mode: String,

    /// --million: amqp (--uri) or redis (--redis, a list: LPUSH / RPOP on one key).
    #[arg(long, default_value = "amqp")]
    pub backend: String,

    /// --million --backend redis: where Redis listens.
    #[arg(long, default_value = "127.0.0.1:6379")]
    pub redis: String,

    /// --million: record the elapsed time every N messages.
    #[arg(long, default_value_t = 100_000)]
    pub step: u64,

    /// --million --mode streamed-confirms: at most N unconfirmed publishes.
    #[arg(long, default_value_t = 1000)]
    pub window: u32,

    /// --million --backend redis, streamed: commands per pipelined write.
    #[arg(long, default_value_t = 100)]
    pub pipeline: usize,

    /// The broker's process id: every report then carries its CPU time per message
    /// and its resident memory, read from /proc/PID.
    #[arg(long, env = "WARREN_PERF_BROKER_PID")]
    pub broker_pid: Option<u32>,

    /// Print the final summary as one JSON object (per-second lines go to stderr).
    #[arg(long)]
    pub json: bool,

    /// No per-second lines.
    #[arg(long)]
    pub quiet: bool,

    /// Runtime worker threads (1 = a single-threaded runtime, the leanest).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,

    /// Consumers are woken when 32 KiB (or, with a prefetch window, half the window)
    /// has arrived, or after this many milliseconds, instead of by every arrival: far
    /// less CPU for up to this much added e2e latency. Default 1 for consumers that no
    /// window holds back (auto-ack or --prefetch 0) in unlimited-rate runs; else 0
    /// (wake on every arrival: latency runs, --get, and prefetch-bound consumers, for
    /// which waking on arrival measured faster against Warren).
    #[arg(long)]
    pub linger_ms: Option<f64>,

    /// Bytes of frames a publisher encodes before one write.
    #[arg(long, default_value_t = 64 * 1024)]
    pub batch_bytes: usize,

    /// After the publishers stop, how long consumers may take to catch up (seconds).
    #[arg(long, default_value_t = 10.0)]
    pub drain_timeout: f64,

    /// Speak MQTT to this broker (HOST:PORT) instead of AMQP: publishers (-x) and
    /// subscribers (-y) on --topic / --subscribe at --qos; with --idle-connections,
    /// MQTT clients. --uri is then unused.
    #[arg(long, value_name = "HOST:PORT")]
    pub mqtt: Option<String>,

    /// --mqtt: protocol version, 3.1.1 or 5.
    #[arg(long, default_value = "3.1.1")]
    pub mqtt_version: String,

    /// --mqtt: QoS of publishes and subscriptions (0, 1 or 2).
    #[arg(long, default_value_t = 0)]
    pub qos: u8,

    /// --mqtt: unacknowledged QoS 1/2 publishes per publisher at most (an MQTT 5
    /// server's receive maximum lowers it).
    #[arg(long, default_value_t = 100)]
    pub inflight: u16,

    /// --mqtt: publisher i publishes to this topic, `{i}` replaced by i.
    #[arg(long, default_value = "perf/{i}")]
    pub topic: String,

    /// --mqtt: the subscribers' filter (default: --topic with `{i}` as `+` when there
    /// are several publishers, else publisher 0's topic).
    #[arg(long)]
    pub subscribe: Option<String>,

    /// --mqtt --idle-connections: each client also subscribes to a topic of its own.
    #[arg(long)]
    pub idle_subscribe: bool,

    /// --mqtt: user name in CONNECT (empty: none, for anonymous brokers).
    #[arg(long, default_value = "guest")]
    pub mqtt_user: String,

    /// --mqtt: password in CONNECT (with --mqtt-user).
    #[arg(long, default_value = "guest")]
    pub mqtt_password: String,

    /// Leave the queues (and exchange) in place at the end instead of deleting them.
    #[arg(long)]
    pub keep_queues: bool,

    /// Declare the queues without deleting them first, and leave them at the end: for
    /// producers and consumers in separate warren-perf processes.
    #[arg(long)]
    pub reuse_queues: bool,
}

impl Args {
    /// Run length when neither --duration nor --count is given.
    pub const DEFAULT_DURATION: f64 = 10.0;

    /// How many copies of each message the consumers should see in total.
    pub fn copies(&self) -> u64 {
        if self.fanout > 0 {
            self.fanout as u64
        } else {
            1
        }
    }

    pub fn queue_names(&self) -> Vec<String> {
        let n = if self.fanout > 0 {
            self.fanout
        } else {
            self.queues.max(1)
        };
        (0..n)
            .map(|i| format!("{}-{i}", self.queue_prefix))
            .collect()
    }

    pub fn consumer_count(&self) -> usize {
        if self.fanout > 0 {
            self.fanout
        } else {
            self.consumers
        }
    }

    /// The consumer linger actually used (see --linger-ms).
    pub fn linger(&self) -> Option<std::time::Duration> {
        let ms = self.linger_ms.unwrap_or({
            let unthrottled = self.auto_ack || self.prefetch == 0;
            if unthrottled && self.rate == 0.0 && !self.get {
                1.0
            } else {
                0.0
            }
        });
        (ms > 0.0).then(|| std::time::Duration::from_secs_f64(ms / 1000.0))
    }

    /// The multiple-ack interval actually used (see --multiple-ack-every).
    pub fn ack_every(&self) -> u32 {
        match (self.multiple_ack_every, self.prefetch) {
            (0, _) => 0,
            (n, 0) => n,
            (n, p) => n.min(p as u32),
        }
    }
}
