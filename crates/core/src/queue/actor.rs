//! The queue's own task: makes the queue's state, runs the turns nobody else ran
//! (commands sent without `run_here`, batches a sender left over), wakes for the
//! queue's deadlines (TTL, `x-expires`, retries), and ends the queue.

use super::state::QueueState;
use super::turns::{confirm_dropped, Ran, Stop};
use super::{QueueCmd, QueueRef};
use warren_store::RecoveredMessage;

pub(super) fn spawn(
    queue: QueueRef,
    owner: std::sync::Weak<crate::vhost::VHost>,
    recovered: Vec<RecoveredMessage>,
    settings: Option<super::args::QueueSettings>,
    on_auto_delete: Box<dyn FnOnce(QueueRef) + Send>,
) {
    tokio::spawn(async move {
        let watcher = {
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
            let mut turns = queue.turns.lock();
            turns.start(state);
            turns.inbox().watcher()
        };
        loop {
            // Sleep until a command comes (or a nudge), or until the next deadline.
            let deadline = queue.turns.lock().arm();
            let open = match deadline {
                None => watcher.ready().await,
                // Boxed: most queues never wait on a timer, and an idle queue's task
                // should not carry one inline.
                Some(at) => {
                    let wait = at.saturating_sub(super::state::now_ms());
                    let timer =
                        Box::pin(tokio::time::sleep(std::time::Duration::from_millis(wait)));
                    tokio::select! {
                        open = watcher.ready() => open,
                        _ = timer => true,
                    }
                }
            };
            if !open {
                break;
            }
            let ran = queue.turns.lock().run(&queue);
            match ran {
                Ran::Stopped => break,
                // More is waiting; let the connections we just fed run first.
                Ran::Turned { full: true } => tokio::task::yield_now().await,
                Ran::Turned { full: false } | Ran::NotStarted => {}
            }
        }
        let (stop, left, state) = queue.turns.lock().finish();
        // Dropped outside the lock: what it holds may send elsewhere as it goes.
        drop(state);
        // What arrived after the end goes unanswered, except confirms: publishers must
        // not wait for ever. The queue is gone and its messages with it.
        for cmd in left {
            if let QueueCmd::Publish {
                messages,
                confirm: Some(to),
                ..
            } = cmd
            {
                confirm_dropped(&to, &messages);
            }
        }
        if stop == Some(Stop::AutoDelete) {
            on_auto_delete(queue);
        }
    });
}
