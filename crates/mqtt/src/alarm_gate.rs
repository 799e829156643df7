//! Resource alarms for MQTT, as RabbitMQ blocks publishers: while a memory or disk
//! alarm is on, a connection whose next packet is a PUBLISH is not read any
//! further; the PUBLISH waits, unread, and so does everything behind it, until the
//! alarm clears. Connections that only subscribe go on (their PUBACKs are read),
//! so consumers keep draining the queues.

/// The fixed-header type of PUBLISH (spec 2.1.2).
const PUBLISH: u8 = 3;

#[derive(Default)]
pub(crate) struct AlarmGate {
    /// An alarm is on (what it is about does not matter here: a flag, not the
    /// text, in every connection).
    alarm: bool,
    /// A PUBLISH waits in the read buffer for the alarm to clear.
    pub held: bool,
}

impl AlarmGate {
    /// The broker's alarm state changed. True when a held PUBLISH may go now.
    pub fn set(&mut self, reason: Option<String>) -> bool {
        self.alarm = reason.is_some();
        let released = !self.alarm && self.held;
        if released {
            self.held = false;
        }
        released
    }

    /// Whether to stop before the packet at the front of `buf` (none yet: no).
    pub fn holds(&mut self, buf: &[u8]) -> bool {
        if self.alarm && buf.first().is_some_and(|b| b >> 4 == PUBLISH) {
            self.held = true;
        }
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::AlarmGate;

    #[test]
    fn holds_publishes_only_while_an_alarm_is_on() {
        let mut gate = AlarmGate::default();
        assert!(!gate.holds(&[0x30, 0]), "no alarm");
        assert!(!gate.set(Some("low on memory".into())));
        assert!(!gate.holds(&[0xC0, 0]), "PINGREQ goes on");
        assert!(gate.holds(&[0x32, 0]), "PUBLISH waits");
        assert!(gate.set(None), "released when the alarm clears");
        assert!(!gate.holds(&[0x30, 0]));
    }
}
