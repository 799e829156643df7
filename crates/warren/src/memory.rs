//! The memory high watermark (RabbitMQ's `vm_memory_high_watermark`): while the
//! broker's memory in use is above it, the memory alarm is on and publishers are
//! blocked; consumers go on draining, and the alarm clears once use falls below.
//!
//! "In use" is what the allocator has handed out and not had back (glibc's
//! `mallinfo2`), not resident memory: glibc keeps freed pages mapped, so RSS would
//! keep the alarm on long after a backlog drained.

use std::time::Duration;
use tokio::sync::watch;
use warren_core::alarms::Resource;
use warren_core::BrokerRef;

/// How often memory use is checked.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// RabbitMQ's default: 40% of the machine's (or the container's) memory.
pub const DEFAULT_RELATIVE: f64 = 0.4;

/// RabbitMQ's default `vm_memory_high_watermark_paging_ratio`: queues page messages
/// out from half the watermark on.
pub const DEFAULT_PAGING_RATIO: f64 = 0.5;

/// The watermark, as a fraction of total memory or in bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Watermark {
    Relative(f64),
    Absolute(u64),
}

impl Default for Watermark {
    fn default() -> Self {
        Watermark::Relative(DEFAULT_RELATIVE)
    }
}

impl Watermark {
    /// The limit in bytes on this machine.
    pub fn bytes(self) -> u64 {
        match self {
            Watermark::Absolute(b) => b,
            Watermark::Relative(f) => (total_memory() as f64 * f) as u64,
        }
    }
}

/// The memory available to the process: the machine's, or its cgroup's limit when
/// that is lower.
pub fn total_memory() -> u64 {
    let machine = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(u64::MAX, |kb| kb * 1024);
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    machine.min(cgroup)
}

/// Bytes the allocator has handed out and not had back.
pub fn used_memory() -> u64 {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads the allocator's statistics.
        let info = unsafe { libc::mallinfo2() };
        (info.uordblks + info.hblkhd) as u64
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        resident_memory()
    }
}

/// Memory in use when it is over `limit`. Resident memory (cheap, from /proc) is
/// looked at first: the allocator's count (`mallinfo2`) walks every arena's free
/// lists under their locks, a few ms with a large, fragmented heap during which
/// every other thread's allocations wait, so it is asked only once resident memory
/// says the limit may be crossed. (Memory handed out but never touched is not
/// resident; it is no pressure either.)
fn memory_over(limit: u64) -> Option<u64> {
    if resident_memory() <= limit {
        return None;
    }
    let used = used_memory();
    (used > limit).then_some(used)
}

/// Resident memory, from /proc.
fn resident_memory() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// Raises and clears the memory alarm as use crosses `limit`.
pub async fn watch_memory(broker: BrokerRef, limit: u64, mut shutdown: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(CHECK_INTERVAL);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        let used = memory_over(limit);
        let over = used.is_some();
        if over != broker.alarm(Resource::Memory) && over {
            tracing::warn!(
                "memory in use {} MB is over the high watermark {} MB",
                used.unwrap_or(0) >> 20,
                limit >> 20
            );
        }
        broker.set_alarm(Resource::Memory, over);
    }
}

/// Parses `0.4` (a fraction of total memory) or a size such as `2GiB`.
pub fn parse_watermark(
    text: &str,
    parse_size: fn(&str) -> Result<u64, String>,
) -> Result<Watermark, String> {
    let text = text.trim();
    if text.contains('.') || text == "0" || text == "1" {
        let f: f64 = text
            .parse()
            .map_err(|_| format!("'{text}' is neither a fraction nor a size"))?;
        if !(0.0..=1.0).contains(&f) {
            return Err(format!("a relative watermark is between 0 and 1, not {f}"));
        }
        return Ok(Watermark::Relative(f));
    }
    parse_size(text).map(Watermark::Absolute)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(s: &str) -> Result<u64, String> {
        s.trim_end_matches("MiB")
            .parse::<u64>()
            .map(|n| n << 20)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn watermarks_parse_as_fractions_or_sizes() {
        assert_eq!(parse_watermark("0.4", size), Ok(Watermark::Relative(0.4)));
        assert_eq!(
            parse_watermark("512MiB", size),
            Ok(Watermark::Absolute(512 << 20))
        );
        assert!(parse_watermark("1.5", size).is_err());
        assert!(parse_watermark("lots", size).is_err());
    }

    #[test]
    fn memory_in_use_is_measured() {
        let before = used_memory();
        let block = vec![1u8; 64 << 20];
        let during = used_memory();
        assert!(during >= before + (60 << 20), "{before} -> {during}");
        drop(block);
        assert!(total_memory() > 0);
    }
}
