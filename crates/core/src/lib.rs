//! Warren's broker core: vhosts, exchanges, queues, bindings and routing. Protocol
//! adapters (AMQP, later MQTT and STOMP) and the management API call into it; it never
//! sees a frame.

pub mod access;
pub mod alarms;
pub mod back_pressure;
pub mod broker;
pub mod error;
pub mod exchange;
pub mod fast_hash;
mod ids;
pub mod journal;
pub mod mailbox;
pub mod message;
pub mod metrics;
pub mod names;
pub mod node;
pub mod outlet;
pub mod policy;
pub mod publish_batch;
pub mod queue;
pub mod records;
pub mod registry;
pub mod reply_to;
pub mod retained;
pub mod storage;
pub mod vhost;

pub use access::{Access, PasswordInput, User};
pub use broker::{Broker, BrokerRef, ConnectionEntry};
pub use error::{CoreError, CoreResult, ErrorKind};
pub use message::{Message, MessageRef};
pub use names::Name;
pub use outlet::{
    ChannelCredit, ChannelCreditRef, ChannelKey, Confirmation, ConnEvent, Delivery, Outlet,
};
pub use queue::{ConfirmTo, Consumer, GetOk, Publish, QueueCounts, QueueRef, Settle};
pub use vhost::{Publisher, VHost, VHostRef};
