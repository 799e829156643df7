//! Resource alarms for STOMP, as RabbitMQ blocks publishers: while a memory or disk
//! alarm is on, a connection whose next frame is a SEND is not read any further;
//! the SEND waits, unread, and so does everything behind it, until the alarm
//! clears. Connections that only subscribe go on (their ACKs are read), so
//! consumers keep draining the queues.

#[derive(Default)]
pub(crate) struct AlarmGate {
    alarm: Option<String>,
    /// A SEND waits in the read buffer for the alarm to clear.
    pub held: bool,
}

impl AlarmGate {
    /// The broker's alarm state changed. True when a held SEND may go now.
    pub fn set(&mut self, reason: Option<String>) -> bool {
        self.alarm = reason;
        let released = self.alarm.is_none() && self.held;
        if released {
            self.held = false;
        }
        released
    }

    /// Whether to stop before the frame at the front of `buf` (heart-beat EOLs
    /// before it do not count).
    pub fn holds(&mut self, buf: &[u8]) -> bool {
        if self.alarm.is_some() {
            let start = buf.iter().position(|b| !matches!(b, b'\n' | b'\r'));
            if start.is_some_and(|i| buf[i..].starts_with(b"SEND")) {
                self.held = true;
            }
        }
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::AlarmGate;

    #[test]
    fn holds_sends_only_while_an_alarm_is_on() {
        let mut gate = AlarmGate::default();
        assert!(!gate.holds(b"SEND\n"), "no alarm");
        gate.set(Some("low on disk".into()));
        assert!(!gate.holds(b"ACK\nid:1\n\n\0"), "ACK goes on");
        assert!(gate.holds(b"\n\nSEND\n"), "SEND waits");
        assert!(gate.set(None));
        assert!(!gate.holds(b"SEND\n"));
    }
}
