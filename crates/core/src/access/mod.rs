//! Users, vhosts and permissions: who may connect, to which vhost, and what they may
//! do there, enforced as RabbitMQ enforces it and stored as RabbitMQ stores it.
//!
//! * `password`: RabbitMQ's salted password hashes (SHA-256, SHA-512, MD5).
//! * `users`: the user record, the authenticated [`User`] of a connection, and how a
//!   password is given ([`PasswordInput`]).
//! * `permissions`: the configure/write/read expressions of a user in a vhost.
//! * `topics`: topic permissions, write/read expressions on the routing keys of a
//!   topic exchange.
//! * `check`: [`Access`], the one place an operation is authorized; protocol
//!   adapters resolve it per connection with [`Broker::access`] and ask it before
//!   each operation (the vhost's topology operations take it as an argument).
//! * `command`: every change as a [`BrokerCommand`] value, logged before it applies.
//! * `admin`: the API the management HTTP layer and the CLI call.
//!
//! # The API
//!
//! Every change is written to the metadata log before it applies and returns
//! [`CoreResult`]; the error kinds map to HTTP statuses as `NotFound` 404,
//! `PreconditionFailed` 400 (bad input: an invalid regex, a bad hash, an empty name),
//! `InternalError` 500 (the log could not be written).
//!
//! ```text
//! async fn add_user(&self, name: &str, password: PasswordInput, tags: Vec<String>) -> CoreResult<bool>   // true: created, false: replaced
//! async fn delete_user(&self, name: &str) -> CoreResult<()>              // closes the user's connections (320)
//! async fn set_user_tags(&self, name: &str, tags: Vec<String>) -> CoreResult<()>
//! async fn change_password(&self, name: &str, password: PasswordInput) -> CoreResult<()>
//! fn users(&self) -> Vec<UserInfo>;  fn user(&self, name: &str) -> Option<UserInfo>
//! async fn add_vhost(&self, name: &str, settings: VHostSettings) -> CoreResult<bool>   // true: created, false: settings updated
//! async fn delete_vhost(&self, name: &str) -> CoreResult<()>             // closes its connections (320), deletes its queues
//! fn vhosts(&self) -> Vec<VHostInfo>;  fn vhost_info(&self, name: &str) -> Option<VHostInfo>
//! async fn set_permissions(&self, user: &str, vhost: &str, configure: &str, write: &str, read: &str) -> CoreResult<()>
//! async fn clear_permissions(&self, user: &str, vhost: &str) -> CoreResult<()>
//! fn permissions(&self) -> Vec<PermissionInfo>
//! async fn set_topic_permissions(&self, user: &str, vhost: &str, exchange: &str, write: &str, read: &str) -> CoreResult<()>
//! async fn clear_topic_permissions(&self, user: &str, vhost: &str, exchange: Option<&str>) -> CoreResult<()>   // None: every exchange
//! fn topic_permissions(&self) -> Vec<TopicPermissionInfo>
//! fn authenticate(&self, name: &str, password: &str) -> Option<User>
//! fn access(&self, user: &str, vhost: &str) -> CoreResult<Access>       // 530 when the user has no permissions there
//! fn close_connection(&self, id: u64, code: u16, text: &str) -> bool
//! ```
//!
//! [`Broker::access`]: crate::Broker::access
//! [`CoreResult`]: crate::CoreResult

mod admin;
mod check;
mod command;
mod password;
mod permissions;
mod topics;
mod users;

pub use admin::{PermissionInfo, TopicPermissionInfo, VHostInfo};
pub use check::{Access, ResourceKind};
pub use command::{BrokerCommand, VHostSettings};
pub use password::{HashingAlgorithm, PasswordHash};
pub use permissions::{Pattern, Perm, Permission};
pub use topics::{TopicGrants, TopicPermission};
pub use users::{parse_tags, PasswordInput, User, UserInfo, UserRecord};

use crate::names::Name;
use std::collections::HashMap;
use std::sync::Arc;

/// Users and permissions, behind one lock in the broker.
#[derive(Default)]
pub(crate) struct AccessState {
    pub users: HashMap<Name, UserRecord>,
    /// By (user, vhost).
    pub permissions: HashMap<(Name, Name), Arc<Permission>>,
    /// By (user, vhost), then by exchange.
    pub topic_permissions: HashMap<(Name, Name), HashMap<Name, TopicPermission>>,
}
