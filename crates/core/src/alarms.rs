//! Resource alarms, as RabbitMQ's: while memory use is over the high watermark or
//! free disk space under its limit, publishing connections are blocked
//! (`connection.blocked` with the alarm's reason) and consumers go on draining.
//! The broker holds the alarm state; watchers (in the binary) raise and clear it.

use crate::broker::Broker;
use crate::outlet::ConnEvent;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What an alarm is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    Memory,
    Disk,
}

impl Resource {
    /// RabbitMQ's `connection.blocked` reason for it.
    pub fn reason(self) -> &'static str {
        match self {
            Resource::Memory => "low on memory",
            Resource::Disk => DISK_ALARM_REASON,
        }
    }

    /// RabbitMQ's name for it in `/api/health/checks/alarms` and `rabbitmqctl status`.
    pub fn name(self) -> &'static str {
        match self {
            Resource::Memory => "memory",
            Resource::Disk => "disk",
        }
    }
}

/// The `connection.blocked` reason RabbitMQ gives for its disk alarm.
pub const DISK_ALARM_REASON: &str = "low on disk";

#[derive(Default)]
pub(crate) struct Alarms {
    memory: AtomicBool,
    disk: AtomicBool,
    /// The limits the watchers compare against, and the last free disk space they
    /// read (bytes), for the Prometheus exporter.
    memory_limit: AtomicU64,
    disk_free_limit: AtomicU64,
    disk_free: AtomicU64,
}

/// The alarms' limits and the last free disk space reading, in bytes (0: unknown).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResourceReadings {
    pub memory_limit: u64,
    pub disk_free_limit: u64,
    pub disk_free: u64,
}

impl Alarms {
    fn flag(&self, resource: Resource) -> &AtomicBool {
        match resource {
            Resource::Memory => &self.memory,
            Resource::Disk => &self.disk,
        }
    }

    /// The reason connections are blocked for, if any alarm is on (memory first).
    pub(crate) fn reason(&self) -> Option<&'static str> {
        [Resource::Memory, Resource::Disk]
            .into_iter()
            .find(|r| self.flag(*r).load(Ordering::Acquire))
            .map(Resource::reason)
    }
}

impl Broker {
    /// Whether the alarm for `resource` is on.
    pub fn alarm(&self, resource: Resource) -> bool {
        self.alarms().flag(resource).load(Ordering::Acquire)
    }

    /// The alarms that are on.
    pub fn active_alarms(&self) -> Vec<Resource> {
        [Resource::Memory, Resource::Disk]
            .into_iter()
            .filter(|r| self.alarm(*r))
            .collect()
    }

    /// Raises or clears an alarm; every connection hears whether it is still
    /// blocked, and why.
    pub fn set_alarm(&self, resource: Resource, on: bool) {
        let connections = self.connections_locked();
        if self.alarms().flag(resource).swap(on, Ordering::AcqRel) == on {
            return;
        }
        let what = resource.name();
        if on {
            tracing::warn!("{what} alarm set; publishers are blocked");
        } else {
            tracing::info!("{what} alarm cleared");
        }
        let reason = self.alarms().reason();
        for entry in connections.values() {
            let _ = entry
                .outlet
                .send(ConnEvent::Alarm(reason.map(str::to_string)));
        }
    }

    /// Records the memory high watermark and the free disk space limit.
    pub fn set_resource_limits(&self, memory: u64, disk_free: u64) {
        self.alarms().memory_limit.store(memory, Ordering::Relaxed);
        self.alarms()
            .disk_free_limit
            .store(disk_free, Ordering::Relaxed);
    }

    /// Records the free disk space the disk watcher last read.
    pub fn record_disk_free(&self, bytes: u64) {
        self.alarms().disk_free.store(bytes, Ordering::Relaxed);
    }

    pub fn resource_readings(&self) -> ResourceReadings {
        let alarms = self.alarms();
        ResourceReadings {
            memory_limit: alarms.memory_limit.load(Ordering::Relaxed),
            disk_free_limit: alarms.disk_free_limit.load(Ordering::Relaxed),
            disk_free: alarms.disk_free.load(Ordering::Relaxed),
        }
    }

    /// Whether the disk alarm is on: publishing connections are blocked.
    pub fn disk_alarm(&self) -> bool {
        self.alarm(Resource::Disk)
    }

    /// Raises or clears the disk alarm.
    pub fn set_disk_alarm(&self, on: bool) {
        self.set_alarm(Resource::Disk, on)
    }

    /// Whether the memory alarm is on.
    pub fn memory_alarm(&self) -> bool {
        self.alarm(Resource::Memory)
    }
}
