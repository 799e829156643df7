//! The broker process's own figures, from /proc (zero where there is no /proc).

/// One reading.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessReading {
    pub resident_bytes: u64,
    pub open_fds: u64,
    pub max_fds: u64,
}

pub fn read() -> ProcessReading {
    ProcessReading {
        resident_bytes: resident_bytes(),
        open_fds: std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64),
        max_fds: max_open_files(),
    }
}

/// Resident pages times the page size (4 KiB on the platforms Warren runs on).
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// The soft limit on open files: the `Max open files` line of /proc/self/limits.
fn max_open_files() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("Max open files"))?;
            line.trim_start_matches("Max open files")
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}
