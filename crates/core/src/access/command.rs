//! Broker-level changes as values: users, vhosts and permissions. Like the vhost
//! `Command`s, each is validated first, written to the metadata log, then applied by
//! one function (`Broker::apply_broker`), which replay calls with the same values.

use super::password::PasswordHash;
use super::permissions::Permission;
use super::topics::TopicPermission;
use crate::names::Name;
use std::sync::Arc;

/// What the management API keeps about a vhost besides its contents.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VHostSettings {
    pub description: String,
    pub tags: Vec<String>,
    /// `classic`, `quorum`, `stream`, or none.
    pub default_queue_type: Option<String>,
}

#[derive(Clone, Debug)]
pub enum BrokerCommand {
    /// Adds a user, or replaces one of that name (its permissions stay).
    AddUser {
        name: Name,
        password: PasswordHash,
        tags: Vec<String>,
    },
    /// Removes a user and all its permissions.
    DeleteUser {
        name: Name,
    },
    SetUserTags {
        name: Name,
        tags: Vec<String>,
    },
    ChangePassword {
        name: Name,
        password: PasswordHash,
    },
    /// Adds a vhost (with the built-in exchanges), or updates an existing one's
    /// settings.
    AddVHost {
        name: Name,
        settings: VHostSettings,
    },
    /// Removes a vhost, what is left in it, and every permission on it.
    DeleteVHost {
        name: Name,
    },
    SetPermissions {
        user: Name,
        vhost: Name,
        permission: Arc<Permission>,
    },
    ClearPermissions {
        user: Name,
        vhost: Name,
    },
    SetTopicPermissions {
        user: Name,
        vhost: Name,
        exchange: Name,
        permission: TopicPermission,
    },
    /// `exchange: None` clears the user's topic permissions on every exchange.
    ClearTopicPermissions {
        user: Name,
        vhost: Name,
        exchange: Option<Name>,
    },
}
