//! Which connection holds each client id, per vhost: a second CONNECT with the same
//! id closes the first (spec 3.1.4), and waits until it is gone, so the old
//! connection's consumers and exclusive queues are out of the way of the new one.

use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::AbortHandle;
use warren_core::{ConnEvent, Name, Outlet};

/// The close code the registry sends a connection that was taken over; any other
/// close (management, shutdown) is an administrative one.
pub(crate) const TAKEN_OVER: u16 = 0x8E;

/// How long a new connection waits for the one it replaces to finish.
const TAKEOVER_WAIT: Duration = Duration::from_secs(5);

struct Holder {
    connection: u64,
    outlet: Outlet,
    /// Closed (its sender dropped) when the connection's task ends. A oneshot:
    /// ~70 bytes a connection, where a watch channel took ~340.
    gone: oneshot::Receiver<()>,
}

type Key = (Name, String);

/// A will waiting out its delay.
pub(crate) struct DelayedWill {
    /// The connection it is the will of.
    pub connection: u64,
    /// Cancels it.
    pub task: AbortHandle,
    /// Sends it now instead of after the delay.
    pub now: tokio::sync::oneshot::Sender<()>,
}

/// The QoS 2 packet ids a kept session carries to its next connection (spec 4.4).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PacketIds {
    /// Publishes the client sent and has not released (PUBREL) yet.
    pub received: HashSet<u16>,
    /// Deliveries the client received (PUBREC) whose PUBREL the server sent and
    /// whose PUBCOMP never came: the next connection sends PUBREL again.
    pub released: Vec<u16>,
}

impl PacketIds {
    fn is_empty(&self) -> bool {
        self.received.is_empty() && self.released.is_empty()
    }
}

/// A kept session's packet ids, and when the session expires.
type Unreleased = (PacketIds, Option<tokio::time::Instant>);

/// Shared by every connection, each of which keeps a clone in its task: one
/// pointer, so the task of every idle connection does not carry four.
#[derive(Clone, Default)]
pub struct Registry {
    tables: Arc<Tables>,
}

#[derive(Default)]
struct Tables {
    holders: Mutex<HashMap<Key, Holder>>,
    /// Wills waiting out their delay (MQTT 5), by client id: a new connection with
    /// the id cancels its will, or sends it at once when it starts a new session.
    delayed_wills: Mutex<HashMap<Key, DelayedWill>>,
    /// QoS 2 packet ids of kept sessions, both ways (`PacketIds`): a PUBLISH
    /// resent after a reconnect is answered, not routed again, and a PUBREL the
    /// client did not complete is sent again (spec 4.3.3, 4.4), until the session
    /// expires. In memory: a broker restart forgets them.
    unreleased: Mutex<HashMap<Key, Unreleased>>,
    /// Per vhost, the client ids that may have a kept session's membership of a
    /// shared group (`shared.rs`): only their connections look for memberships
    /// among all the exchange's bindings. Filled from those bindings the first
    /// time a vhost is looked at (after a restart they are all there is to go
    /// by), then as clients join groups.
    members: Mutex<HashMap<Name, HashSet<String>>>,
}

impl Registry {
    /// Makes `connection` the holder of `client_id`, closing the previous holder and
    /// waiting (a bounded time) for it to end. `clean_start`: the connection starts
    /// a new session, so the one before it ends here.
    pub(crate) async fn claim(
        &self,
        vhost: &Name,
        client_id: &str,
        connection: u64,
        outlet: Outlet,
        gone: oneshot::Receiver<()>,
        clean_start: bool,
    ) {
        let key = (vhost.clone(), client_id.to_string());
        let previous = self.tables.holders.lock().insert(
            (vhost.clone(), client_id.to_string()),
            Holder {
                connection,
                outlet,
                gone,
            },
        );
        if let Some(old) = previous {
            let _ = old.outlet.send(ConnEvent::Close {
                code: TAKEN_OVER,
                text: format!("client id '{client_id}' connected again"),
            });
            // Nothing is ever sent: the sender's drop is the news.
            let _ = tokio::time::timeout(TAKEOVER_WAIT, old.gone).await;
        }
        // After the previous holder is gone, the will it left waiting: a connection
        // that continues the session cancels it; one that starts a new session ends
        // the old one, and a session's end sends its will (spec 3.1.2.5, 3.1.3.2.2).
        if let Some(will) = self.tables.delayed_wills.lock().remove(&key) {
            if clean_start {
                let _ = will.now.send(());
            } else {
                will.task.abort();
            }
        }
    }

    /// Remembers a delayed will, for a reconnect to cancel or hurry.
    pub(crate) fn will_delayed(&self, vhost: &Name, client_id: &str, will: DelayedWill) {
        let key = (vhost.clone(), client_id.to_string());
        if let Some(older) = self.tables.delayed_wills.lock().insert(key, will) {
            older.task.abort();
        }
    }

    /// The delayed will of `connection` went out.
    pub(crate) fn will_done(&self, vhost: &Name, client_id: &str, connection: u64) {
        let mut wills = self.tables.delayed_wills.lock();
        let key = (vhost.clone(), client_id.to_string());
        if wills.get(&key).is_some_and(|w| w.connection == connection) {
            wills.remove(&key);
        }
    }

    /// Keeps a closing session's QoS 2 packet ids for its next connection, for
    /// as long as the session lasts (`expiry`: MQTT 5's session expiry interval;
    /// None: for ever).
    pub(crate) fn keep_unreleased(
        &self,
        vhost: &Name,
        client_id: &str,
        ids: PacketIds,
        expiry: Option<Duration>,
    ) {
        let key = (vhost.clone(), client_id.to_string());
        let now = tokio::time::Instant::now();
        let mut kept = self.tables.unreleased.lock();
        // Sessions that expired without coming back.
        kept.retain(|_, (_, until)| until.is_none_or(|t| t > now));
        if ids.is_empty() {
            kept.remove(&key);
        } else {
            kept.insert(key, (ids, expiry.map(|e| now + e)));
        }
    }

    /// What `keep_unreleased` kept for `client_id` (nothing for a clean start,
    /// which also forgets it).
    pub(crate) fn take_unreleased(&self, vhost: &Name, client_id: &str) -> PacketIds {
        let key = (vhost.clone(), client_id.to_string());
        match self.tables.unreleased.lock().remove(&key) {
            Some((ids, until)) if until.is_none_or(|t| t > tokio::time::Instant::now()) => ids,
            // The session expired: so did what it remembered.
            _ => PacketIds::default(),
        }
    }

    /// Whether `client_id` may be a kept member of a shared group in `vhost`;
    /// `scan` lists the members from the bindings, the first time.
    pub(crate) fn may_be_member(
        &self,
        vhost: &Name,
        client_id: &str,
        scan: impl FnOnce() -> HashSet<String>,
    ) -> bool {
        let mut members = self.tables.members.lock();
        members
            .entry(vhost.clone())
            .or_insert_with(scan)
            .contains(client_id)
    }

    /// Records that `client_id` is (or no longer is) a kept member of some group.
    pub(crate) fn set_member(
        &self,
        vhost: &Name,
        client_id: &str,
        member: bool,
        scan: impl FnOnce() -> HashSet<String>,
    ) {
        let mut members = self.tables.members.lock();
        let known = members.entry(vhost.clone()).or_insert_with(scan);
        if member {
            known.insert(client_id.to_string());
        } else {
            known.remove(client_id);
        }
    }

    /// Forgets `connection` as the holder of `client_id`, unless another took it.
    pub(crate) fn release(&self, vhost: &Name, client_id: &str, connection: u64) {
        let mut holders = self.tables.holders.lock();
        let key = (vhost.clone(), client_id.to_string());
        if holders
            .get(&key)
            .is_some_and(|h| h.connection == connection)
        {
            holders.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_members_are_scanned_for_once_per_vhost() {
        let registry = Registry::default();
        let vhost = Name::from("/");
        let scans = std::cell::Cell::new(0);
        let scan = || {
            scans.set(scans.get() + 1);
            HashSet::from(["old".to_string()])
        };
        assert!(registry.may_be_member(&vhost, "old", scan));
        assert!(!registry.may_be_member(&vhost, "new", scan));
        registry.set_member(&vhost, "new", true, scan);
        assert!(registry.may_be_member(&vhost, "new", scan));
        registry.set_member(&vhost, "old", false, scan);
        assert!(!registry.may_be_member(&vhost, "old", scan));
        assert_eq!(scans.get(), 1);
    }

    #[test]
    fn unreleased_ids_last_as_long_as_their_session() {
        let registry = Registry::default();
        let vhost = Name::from("/");
        let ids = PacketIds {
            received: [7, 9].into(),
            released: vec![3],
        };
        registry.keep_unreleased(&vhost, "kept", ids.clone(), None);
        registry.keep_unreleased(&vhost, "expired", ids.clone(), Some(Duration::ZERO));
        assert_eq!(registry.take_unreleased(&vhost, "kept"), ids);
        assert!(
            registry.take_unreleased(&vhost, "kept").is_empty(),
            "taken once"
        );
        registry.keep_unreleased(&vhost, "nothing", PacketIds::default(), None);
        assert!(registry.take_unreleased(&vhost, "nothing").is_empty());
        assert!(
            registry.take_unreleased(&vhost, "expired").is_empty(),
            "an expired session remembers nothing"
        );
    }
}
