//! The queues (and fanout exchange) a run uses: declared fresh, deleted afterwards.
//!
//! Queues are deleted before they are declared, so a run never starts with another
//! run's messages in them, and a change of `--persistent` (durable or not) does not
//! trip over the old declaration with 406 PRECONDITION_FAILED.

use crate::client::{BrokerClosed, Connection};
use amqp_codec::{
    ExchangeDeclare, ExchangeDelete, FieldTable, Method, QueueBind, QueueDeclare, QueueDelete,
};
use anyhow::{bail, Result};

/// The admin connection's channel.
pub const CHANNEL: u16 = 1;

pub struct Topology {
    pub queues: Vec<String>,
    /// The fanout exchange, if any.
    pub exchange: Option<String>,
    pub durable: bool,
    /// Declare over existing queues instead of deleting them first.
    pub reuse: bool,
}

impl Topology {
    pub async fn declare(&self, admin: &mut Connection) -> Result<()> {
        if let Some(x) = &self.exchange {
            if !self.reuse {
                delete_exchange(admin, x).await?;
            }
            let declare = ExchangeDeclare {
                exchange: x.clone().into(),
                kind: "fanout".into(),
                passive: false,
                durable: self.durable,
                auto_delete: false,
                internal: false,
                no_wait: false,
                arguments: FieldTable::new(),
            };
            match admin.rpc(CHANNEL, declare.into()).await? {
                Method::ExchangeDeclareOk(_) => {}
                other => bail!("expected exchange.declare-ok, got {}", other.name()),
            }
        }
        for q in &self.queues {
            if !self.reuse {
                delete_queue(admin, q).await?;
            }
            declare_queue(admin, q, self.durable).await?;
            if let Some(x) = &self.exchange {
                let bind = QueueBind {
                    queue: q.clone().into(),
                    exchange: x.clone().into(),
                    routing_key: "".into(),
                    no_wait: false,
                    arguments: FieldTable::new(),
                };
                match admin.rpc(CHANNEL, bind.into()).await? {
                    Method::QueueBindOk(_) => {}
                    other => bail!("expected queue.bind-ok, got {}", other.name()),
                }
            }
        }
        Ok(())
    }

    pub async fn delete(&self, admin: &mut Connection) -> Result<()> {
        for q in &self.queues {
            delete_queue(admin, q).await?;
        }
        if let Some(x) = &self.exchange {
            delete_exchange(admin, x).await?;
        }
        Ok(())
    }

    /// Messages ready in all the queues (passive declares).
    pub async fn depth(&self, admin: &mut Connection) -> Result<u64> {
        let mut total = 0;
        for q in &self.queues {
            let passive = QueueDeclare {
                queue: q.clone().into(),
                passive: true,
                durable: false,
                exclusive: false,
                auto_delete: false,
                no_wait: false,
                arguments: FieldTable::new(),
            };
            match admin.rpc(CHANNEL, passive.into()).await? {
                Method::QueueDeclareOk(ok) => total += ok.message_count as u64,
                other => bail!("expected queue.declare-ok, got {}", other.name()),
            }
        }
        Ok(total)
    }
}

pub async fn declare_queue(admin: &mut Connection, queue: &str, durable: bool) -> Result<()> {
    let declare = QueueDeclare {
        queue: queue.to_owned().into(),
        passive: false,
        durable,
        exclusive: false,
        auto_delete: false,
        no_wait: false,
        arguments: FieldTable::new(),
    };
    match admin.rpc(CHANNEL, declare.into()).await? {
        Method::QueueDeclareOk(_) => Ok(()),
        other => bail!("expected queue.declare-ok, got {}", other.name()),
    }
}

/// Deletes a queue; one that does not exist is fine (RabbitMQ answers delete-ok, a
/// broker that answers 404 gets its channel reopened).
pub async fn delete_queue(admin: &mut Connection, queue: &str) -> Result<()> {
    let delete = QueueDelete {
        queue: queue.to_owned().into(),
        if_unused: false,
        if_empty: false,
        no_wait: false,
    };
    tolerate_not_found(admin, delete.into()).await
}

async fn delete_exchange(admin: &mut Connection, exchange: &str) -> Result<()> {
    let delete = ExchangeDelete {
        exchange: exchange.to_owned().into(),
        if_unused: false,
        no_wait: false,
    };
    tolerate_not_found(admin, delete.into()).await
}

async fn tolerate_not_found(admin: &mut Connection, method: Method) -> Result<()> {
    match admin.rpc(CHANNEL, method).await {
        Ok(_) => Ok(()),
        Err(e) => match e.downcast_ref::<BrokerClosed>() {
            Some(c) if !c.connection && c.code == amqp_codec::reply_code::NOT_FOUND => {
                admin.open_channel(CHANNEL).await
            }
            _ => Err(e),
        },
    }
}
