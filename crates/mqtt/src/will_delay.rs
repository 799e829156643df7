//! MQTT 5's Will Delay Interval (spec 3.1.3.2.2): the will of a connection that
//! ends without a clean DISCONNECT is published after the delay, or when the
//! session ends if that is sooner, and not at all if the client id connects again
//! before then to go on with the session (clean start 0). A connection with
//! clean start 1 ends the session, and so sends the will at once (spec 3.1.2.5;
//! `Registry::claim`).

use crate::session::Lifetime;
use mqtt_codec::Will;
use std::time::Duration;

/// How long to wait before publishing `will`: the smaller of its delay and the
/// session's expiry (a session that ends with the connection: now).
pub(crate) fn delay(will: &Will, lifetime: Lifetime) -> Duration {
    let asked = will.properties.will_delay_interval.unwrap_or(0);
    let seconds = match lifetime {
        Lifetime::Connection => 0,
        Lifetime::Kept(None) => asked,
        Lifetime::Kept(Some(expiry)) => asked.min(expiry),
    };
    Duration::from_secs(u64::from(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use mqtt_codec::{Properties, QoS};

    fn will(delay: Option<u32>) -> Will {
        Will {
            topic: "t".into(),
            payload: Bytes::new(),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: Properties {
                will_delay_interval: delay,
                ..Properties::default()
            },
        }
    }

    #[test]
    fn the_session_expiry_bounds_the_delay() {
        let secs = Duration::from_secs;
        assert_eq!(delay(&will(Some(30)), Lifetime::Connection), secs(0));
        assert_eq!(delay(&will(Some(30)), Lifetime::Kept(None)), secs(30));
        assert_eq!(delay(&will(Some(30)), Lifetime::Kept(Some(5))), secs(5));
        assert_eq!(delay(&will(None), Lifetime::Kept(None)), secs(0));
    }
}
