//! The queue's task: takes commands in batches, applies them to the state, then
//! delivers and flushes once per batch.

use super::state::QueueState;
use super::{QueueCmd, QueueRef};
use warren_store::RecoveredMessage;

/// How many commands one turn takes before delivering (bounds latency under load).
const BATCH: usize = 256;

pub(super) fn spawn(
    queue: QueueRef,
    owner: std::sync::Weak<crate::vhost::VHost>,
    mut mailbox: crate::mailbox::Receiver<QueueCmd>,
    recovered: Vec<RecoveredMessage>,
    settings: Option<super::args::QueueSettings>,
    on_auto_delete: Box<dyn FnOnce(QueueRef) + Send>,
) {
    tokio::spawn(async move {
        let mut state = QueueState::new(queue.clone(), owner);
        if let Some(settings) = settings {
            state.apply_settings(settings);
        }
        state.settings_in_force();
        state.restore(recovered);
        // Recovered messages may have expired while the broker was down.
        state.begin_turn();
        state.expire_head();
        state.flush();
        queue.stats.set_counts(state.counts());
        let mut on_auto_delete = Some(on_auto_delete);
        // Starts empty: an idle queue should cost little; recv_many grows it as needed.
        let mut commands = Vec::new();
        loop {
            // Sleep until a command comes, or until the head message expires or the
            // queue's unused lease (`x-expires`) runs out.
            let deadline = state.next_deadline();
            let received = match deadline {
                None => mailbox.recv_many(&mut commands, BATCH).await,
                // Boxed: most queues never wait on a timer, and an idle queue's task
                // should not carry one inline.
                Some(at) => {
                    let timer = Box::pin(tokio::time::sleep_until(at));
                    tokio::select! {
                        n = mailbox.recv_many(&mut commands, BATCH) => n,
                        _ = timer => usize::MAX,
                    }
                }
            };
            if received == 0 {
                break;
            }
            state.begin_turn();
            state.release_retries();
            if state.lease_expired() {
                // Unused for its x-expires interval: the queue deletes itself.
                state.discard_stored();
                state.flush();
                if let Some(callback) = on_auto_delete.take() {
                    callback(queue.clone());
                }
                break;
            }
            let full_turn = commands.len() == BATCH;
            let mut stop = false;
            // Taken whole: the batch's storage goes with this turn instead of staying
            // with a queue that may now idle for hours.
            for cmd in std::mem::take(&mut commands) {
                match &cmd {
                    QueueCmd::Publish { messages, .. } => {
                        queue.took_published(messages.len());
                        queue.stats.add_published(messages.len());
                    }
                    QueueCmd::Settle {
                        seqs,
                        how: super::Settle::Ack,
                        ..
                    } => queue.stats.add_acked(seqs.len()),
                    _ => {}
                }
                if apply(&mut state, cmd) {
                    stop = true;
                    break;
                }
            }
            if stop {
                break;
            }
            state.deliver();
            state.expire_head();
            state.flush();
            queue.stats.set_counts(state.counts());
            if state.should_auto_delete() {
                state.discard_stored();
                if let Some(callback) = on_auto_delete.take() {
                    callback(queue.clone());
                }
                break;
            }
            if full_turn {
                // More is waiting; let the connections we just fed run first.
                tokio::task::yield_now().await;
            }
        }
        state.flush();
        // What arrived after the end goes unanswered, except confirms: publishers must
        // not wait for ever. The queue is gone and its messages with it.
        mailbox.close();
        while let Ok(cmd) = mailbox.try_recv() {
            if let QueueCmd::Publish {
                messages,
                confirm: Some(to),
                ..
            } = cmd
            {
                confirm_dropped(&to, &messages);
            }
        }
    });
}

/// Confirms publishes to a queue that no longer exists (RabbitMQ acks them too: the
/// broker has dealt with the message).
pub(super) fn confirm_dropped(to: &super::ConfirmTo, messages: &[super::Publish]) {
    let confirms = messages
        .iter()
        .map(|m| crate::outlet::Confirmation {
            channel: to.channel,
            channel_key: to.channel_key,
            seq: m.seq,
            accepted: true,
        })
        .collect();
    let _ = to.outlet.send(crate::outlet::ConnEvent::Confirms(confirms));
}

/// Applies one command; true when the queue has been deleted and the actor must stop.
fn apply(state: &mut QueueState, cmd: QueueCmd) -> bool {
    match cmd {
        QueueCmd::Publish {
            messages,
            confirm,
            origin,
        } => state.publish_batch(messages, confirm, origin),
        QueueCmd::Consume { consumer, reply } => {
            let _ = reply.send(state.add_consumer(consumer));
        }
        QueueCmd::Cancel {
            channel,
            tag,
            reply,
        } => {
            let existed = state.remove_consumer(channel, &tag);
            // Deliveries made before the cancel must reach the consumer before its
            // cancel-ok does.
            state.flush();
            if let Some(reply) = reply {
                let _ = reply.send(existed);
            }
        }
        QueueCmd::Settle { channel, seqs, how } => state.settle(channel, seqs, how),
        QueueCmd::Get {
            channel,
            connection,
            no_ack,
            reply,
        } => {
            // Deliveries to consumers come first: a get must not jump the queue of
            // messages already promised this turn.
            state.deliver();
            let _ = reply.send(state.get(channel, connection, no_ack));
        }
        QueueCmd::ChannelClosed { channel } => state.channel_closed(channel),
        QueueCmd::Purge { reply } => {
            let _ = reply.send(state.purge());
        }
        QueueCmd::Counts { reply } => {
            state.deliver();
            let _ = reply.send(state.counts());
        }
        QueueCmd::Declared { reply } => {
            state.used();
            state.deliver();
            let _ = reply.send(state.counts());
        }
        QueueCmd::Delete {
            if_unused,
            if_empty,
            reply,
        } => match state.check_delete(if_unused, if_empty) {
            Ok(count) => {
                state.discard_stored();
                state.flush();
                state.cancel_all_consumers();
                let _ = reply.send(Ok(count));
                return true;
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        },
        QueueCmd::Wake => {}
        QueueCmd::Settings(settings) => {
            state.apply_settings(*settings);
            state.settings_in_force();
        }
    }
    false
}
