//! CPU time and resident memory of a process, from /proc.
//!
//! CPU is utime + stime from `/proc/PID/stat` (all threads), in clock ticks of 10 ms
//! (USER_HZ is 100 on every Linux architecture this runs on); over a one-second
//! interval that is 1% resolution, over a whole run much better. RSS is `VmRSS` from
//! `/proc/PID/status`.

use anyhow::{bail, Context, Result};

const TICK_NS: u64 = 10_000_000;

/// One reading of a process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcSample {
    /// utime + stime, nanoseconds.
    pub cpu_ns: u64,
    pub rss_kb: u64,
}

/// Which process: ours, or the broker's.
#[derive(Clone, Copy, Debug)]
pub enum Pid {
    Own,
    Other(u32),
}

impl Pid {
    fn dir(self) -> String {
        match self {
            Pid::Own => "/proc/self".to_owned(),
            Pid::Other(pid) => format!("/proc/{pid}"),
        }
    }
}

pub fn sample(pid: Pid) -> Result<ProcSample> {
    let dir = pid.dir();
    let stat = std::fs::read_to_string(format!("{dir}/stat"))
        .with_context(|| format!("reading {dir}/stat"))?;
    let status = std::fs::read_to_string(format!("{dir}/status"))
        .with_context(|| format!("reading {dir}/status"))?;
    Ok(ProcSample {
        cpu_ns: parse_cpu_ticks(&stat)? * TICK_NS,
        rss_kb: parse_rss_kb(&status).unwrap_or(0),
    })
}

/// utime + stime (fields 14 and 15) from a `/proc/PID/stat` line. The command name
/// (field 2) is in parentheses and may hold spaces, so fields are counted after the
/// last `)`.
fn parse_cpu_ticks(stat: &str) -> Result<u64> {
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        bail!("unexpected /proc stat format");
    };
    // After ")" come field 3 (state) onwards: utime is the 12th of those.
    let mut fields = after.split_whitespace().skip(11);
    let utime: u64 = fields.next().context("no utime")?.parse()?;
    let stime: u64 = fields.next().context("no stime")?.parse()?;
    Ok(utime + stime)
}

fn parse_rss_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU microseconds per message between two samples (`None` without messages).
pub fn cpu_us_per_msg(before: ProcSample, after: ProcSample, messages: u64) -> Option<f64> {
    if messages == 0 {
        return None;
    }
    let ns = after.cpu_ns.saturating_sub(before.cpu_ns);
    Some(ns as f64 / 1000.0 / messages as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_and_status() {
        let stat =
            "1234 (beam.smp (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 30 0 1 2 3";
        assert_eq!(parse_cpu_ticks(stat).unwrap(), 325);
        let status = "Name:\twarren\nVmPeak:\t  9000 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(parse_rss_kb(status), Some(12345));
        let own = sample(Pid::Own).unwrap();
        assert!(own.rss_kb > 0);
    }

    #[test]
    fn per_message_cost() {
        let a = ProcSample {
            cpu_ns: 1_000_000_000,
            rss_kb: 0,
        };
        let b = ProcSample {
            cpu_ns: 1_500_000_000,
            rss_kb: 0,
        };
        assert_eq!(cpu_us_per_msg(a, b, 250_000), Some(2.0));
        assert_eq!(cpu_us_per_msg(a, b, 0), None);
    }
}
