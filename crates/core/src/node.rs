//! This broker node's name, as RabbitMQ's `rabbit@host`: `warren@` and the host
//! name. The management API, tracing headers and (later) clustering use it.

use std::sync::OnceLock;

/// The node name, read once.
pub fn name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_string());
        format!("warren@{host}")
    })
}
