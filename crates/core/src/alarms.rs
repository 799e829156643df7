//! Resource alarms, as RabbitMQ's: while memory use is over the high watermark or
//! free disk space under its limit, publishing connections are blocked
//! (`connection.blocked` with the alarm's reason) and consumers go on draining.
//! The broker holds the alarm state; watchers (in the binary) raise and clear it.

use crate::broker::Broker;
use crate::outlet::ConnEvent;
use std::sync::atomic::{AtomicBool, Ordering};

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
