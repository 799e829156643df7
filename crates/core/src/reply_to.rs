//! Direct reply-to (`amq.rabbitmq.reply-to`): RPC replies go straight to the
//! requesting channel's consumer, with no queue in between.
//!
//! A channel consuming from the pseudo-queue registers a target and gets an opaque
//! address `amq.rabbitmq.reply-to.<token>`; requests carry that address as `reply_to`
//! and replies published to it (default exchange) are delivered to the target.

use crate::names::{generated_name, Name};
use crate::outlet::{ChannelKey, Outlet};
use parking_lot::Mutex;
use std::collections::HashMap;

pub const REPLY_TO_QUEUE: &str = "amq.rabbitmq.reply-to";
pub const REPLY_TO_PREFIX: &str = "amq.rabbitmq.reply-to.";

#[derive(Clone, Debug)]
pub struct ReplyTarget {
    pub outlet: Outlet,
    pub channel: u16,
    pub channel_key: ChannelKey,
    pub consumer_tag: Name,
}

#[derive(Default)]
pub struct ReplyRegistry {
    targets: Mutex<HashMap<Box<str>, ReplyTarget>>,
}

impl ReplyRegistry {
    /// Registers a reply consumer; returns its address.
    pub fn register(&self, target: ReplyTarget) -> String {
        let address = generated_name(REPLY_TO_PREFIX);
        self.targets
            .lock()
            .insert(address.clone().into_boxed_str(), target);
        address
    }
    pub fn unregister(&self, address: &str) {
        self.targets.lock().remove(address);
    }
    pub fn target(&self, address: &str) -> Option<ReplyTarget> {
        self.targets.lock().get(address).cloned()
    }
}
