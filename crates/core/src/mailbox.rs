//! A small unbounded many-to-one channel for the broker's actors: each connection's
//! inbox (`Outlet`) and each queue's command mailbox.
//!
//! Why not tokio's unbounded channel: it allocates its first block of 32 slots and a
//! cache-padded control block up front, ~1.5 KB for a connection's events and ~3 KB
//! for a queue's commands, whether anything is ever sent or not. A broker holding
//! 100,000 idle connections or queues pays that for nothing. Here an idle channel is
//! one small allocation (a mutex around an empty deque); the deque grows with what
//! arrives and is let go once drained. The mutex is held only to push or to take a
//! batch, and senders batch their work (a publish flush, a turn's deliveries), so it
//! is taken once per batch, not once per message.
//!
//! A queue's mailbox is also drained by whoever holds the queue's state (a publisher
//! running the queue's turn itself, `queue/turns.rs`): such senders push without
//! waking (`send_quiet`), take with `try_recv_many`, and the queue's task only waits
//! for work through a `Watcher`, which `nudge` also wakes.

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Poll, Waker};

struct State<T> {
    queue: VecDeque<T>,
    /// The receiver, waiting for something to arrive.
    waker: Option<Waker>,
    senders: usize,
    /// False once the receiver closed or dropped: sends fail.
    open: bool,
    /// `nudge` was called and the watcher has not seen it yet.
    nudged: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
}

/// The sending side; clones send to the same receiver.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// The receiving side.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

/// A send to a closed channel; the value comes back.
#[derive(Debug, PartialEq, Eq)]
pub struct SendError<T>(pub T);

#[derive(Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing queued now.
    Empty,
    /// Nothing queued, and no sender left.
    Disconnected,
}

pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            waker: None,
            senders: 1,
            open: true,
            nudged: false,
        }),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

impl<T> Sender<T> {
    /// Queues `value` for the receiver; fails (handing it back) once the receiver is
    /// gone or closed.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.push(|| value, true)
    }

    /// As `send`, with the value made under the channel's lock: what `make` decides
    /// from shared state is ordered exactly against every other send. A closed
    /// channel still makes the value, and hands it back.
    pub fn send_with(&self, make: impl FnOnce() -> T) -> Result<(), SendError<T>> {
        self.push(make, true)
    }

    /// As `send`, without waking the receiver: for a sender that takes what it sent
    /// itself right after (or knows who will).
    pub fn send_quiet(&self, value: T) -> Result<(), SendError<T>> {
        self.push(|| value, false)
    }

    /// `send_with` without waking the receiver.
    pub fn send_with_quiet(&self, make: impl FnOnce() -> T) -> Result<(), SendError<T>> {
        self.push(make, false)
    }

    /// Wakes the receiver's `Watcher` even when nothing is queued: it has work that
    /// is not in the channel (a new deadline, a stop).
    pub fn nudge(&self) {
        let waker = {
            let mut state = self.shared.state.lock();
            state.nudged = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn push(&self, make: impl FnOnce() -> T, wake: bool) -> Result<(), SendError<T>> {
        let waker = {
            let mut state = self.shared.state.lock();
            let value = make();
            if !state.open {
                return Err(SendError(value));
            }
            state.queue.push_back(value);
            if wake {
                state.waker.take()
            } else {
                None
            }
        };
        // Woken outside the lock, so the receiver does not wake into a held mutex.
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Whether anything is queued and not yet taken.
    pub fn has_queued(&self) -> bool {
        !self.shared.state.lock().queue.is_empty()
    }

    /// Whether the receiver is gone (or closed).
    pub fn is_closed(&self) -> bool {
        !self.shared.state.lock().open
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.state.lock().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.shared.state.lock();
            state.senders -= 1;
            if state.senders > 0 {
                return;
            }
            state.waker.take()
        };
        // The last sender: a waiting receiver learns that nothing more will come.
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> Receiver<T> {
    /// Waits until something is queued, then moves up to `limit` values into `buf`
    /// and returns how many; 0 means every sender is gone and nothing is left.
    /// Cancel-safe: values are taken only when it returns.
    pub fn recv_many<'a>(&'a mut self, buf: &'a mut Vec<T>, limit: usize) -> RecvMany<'a, T> {
        RecvMany {
            shared: &self.shared,
            buf,
            limit: limit.max(1),
            waiting: false,
        }
    }

    /// Takes one value if any is queued.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut state = self.shared.state.lock();
        match state.queue.pop_front() {
            Some(value) => Ok(value),
            None if state.senders == 0 || !state.open => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Moves up to `limit` queued values into `buf` without waiting; returns how many.
    pub fn try_recv_many(&mut self, buf: &mut Vec<T>, limit: usize) -> usize {
        let mut state = self.shared.state.lock();
        let n = state.queue.len().min(limit);
        buf.extend(state.queue.drain(..n));
        if n > 0 && state.queue.is_empty() {
            state.queue = VecDeque::new();
        }
        n
    }

    /// A handle that waits for values (or a nudge) without taking them, for a task
    /// that takes them elsewhere (under a lock it cannot hold while waiting).
    pub fn watcher(&self) -> Watcher<T> {
        Watcher {
            shared: self.shared.clone(),
        }
    }

    /// Refuses further sends; what is queued can still be taken with `try_recv`.
    pub fn close(&mut self) {
        self.shared.state.lock().open = false;
    }

    /// Values queued now.
    pub fn len(&self) -> usize {
        self.shared.state.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Waits for a channel's values without taking them (`Receiver::watcher`).
pub struct Watcher<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Watcher<T> {
    /// Waits until something is queued or the channel was nudged (true), or every
    /// sender is gone or the receiver closed with nothing queued (false). A nudge is
    /// seen once.
    pub fn ready(&self) -> Ready<'_, T> {
        Ready {
            shared: &self.shared,
            waiting: false,
        }
    }
}

/// `Receiver::recv_many`'s future.
///
/// Dropped while waiting (the other branch of a `select!` won), it takes its waker
/// back: the task is busy with that branch now, and sends meanwhile must not wake
/// it. A task woken while it runs is rescheduled at the end of its poll as a
/// yield, and tokio then wakes a parked worker thread to take it: a futex call and
/// a cross-CPU wake-up per message at low rates, for nothing, since the task looks
/// at the channel again before it sleeps.
pub struct RecvMany<'a, T> {
    shared: &'a Shared<T>,
    buf: &'a mut Vec<T>,
    limit: usize,
    waiting: bool,
}

impl<T> std::future::Future for RecvMany<'_, T> {
    type Output = usize;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<usize> {
        let this = &mut *self;
        let mut state = this.shared.state.lock();
        if !state.queue.is_empty() {
            let n = state.queue.len().min(this.limit);
            this.buf.extend(state.queue.drain(..n));
            if state.queue.is_empty() {
                // Freed once drained: most receivers (idle connections and queues)
                // wait far longer than a new allocation takes.
                state.queue = VecDeque::new();
            }
            return Poll::Ready(n);
        }
        if state.senders == 0 {
            return Poll::Ready(0);
        }
        register(&mut state.waker, cx);
        this.waiting = true;
        Poll::Pending
    }
}

impl<T> Drop for RecvMany<'_, T> {
    fn drop(&mut self) {
        if self.waiting {
            self.shared.state.lock().waker = None;
        }
    }
}

/// `Watcher::ready`'s future; dropped while waiting, it takes its waker back (see
/// `RecvMany`).
pub struct Ready<'a, T> {
    shared: &'a Shared<T>,
    waiting: bool,
}

impl<T> std::future::Future for Ready<'_, T> {
    type Output = bool;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<bool> {
        let mut state = self.shared.state.lock();
        if !state.queue.is_empty() || state.nudged {
            state.nudged = false;
            return Poll::Ready(true);
        }
        if state.senders == 0 || !state.open {
            return Poll::Ready(false);
        }
        register(&mut state.waker, cx);
        drop(state);
        self.waiting = true;
        Poll::Pending
    }
}

impl<T> Drop for Ready<'_, T> {
    fn drop(&mut self) {
        if self.waiting {
            self.shared.state.lock().waker = None;
        }
    }
}

/// Keeps the waiting task's waker (a clone only when it changed).
fn register(slot: &mut Option<Waker>, cx: &std::task::Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let dropped = {
            let mut state = self.shared.state.lock();
            state.open = false;
            state.waker = None;
            std::mem::take(&mut state.queue)
        };
        // Dropped outside the lock: a value's drop may send on another channel.
        drop(dropped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn values_arrive_in_order_in_batches_of_at_most_the_limit() {
        let (tx, mut rx) = channel();
        for i in 0..10 {
            tx.send(i).unwrap();
        }
        let mut buf = Vec::new();
        assert_eq!(rx.recv_many(&mut buf, 4).await, 4);
        assert_eq!(rx.recv_many(&mut buf, 100).await, 6);
        assert_eq!(buf, (0..10).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn send_with_makes_the_value_in_order_and_hands_it_back_when_closed() {
        let (tx, mut rx) = channel();
        tx.send(1).unwrap();
        tx.send_with(|| 2).unwrap();
        let mut buf = Vec::new();
        assert_eq!(rx.recv_many(&mut buf, 8).await, 2);
        assert_eq!(buf, vec![1, 2]);
        rx.close();
        let mut made = false;
        let back = tx.send_with(|| {
            made = true;
            3
        });
        assert!(made, "made even though the channel is closed");
        assert_eq!(back, Err(SendError(3)));
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_for_a_send_from_another_task() {
        let (tx, mut rx) = channel();
        let sender = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.send("late").unwrap();
            tx
        });
        let mut buf = Vec::new();
        assert_eq!(rx.recv_many(&mut buf, 8).await, 1);
        assert_eq!(buf, vec!["late"]);
        drop(sender.await.unwrap());
        assert_eq!(rx.recv_many(&mut buf, 8).await, 0, "all senders gone");
    }

    #[tokio::test]
    async fn the_receiver_sees_the_end_only_when_the_last_clone_is_dropped() {
        let (tx, mut rx) = channel::<u8>();
        let tx2 = tx.clone();
        drop(tx);
        let mut buf = Vec::new();
        let waiting = tokio::time::timeout(Duration::from_millis(30), rx.recv_many(&mut buf, 1));
        assert!(waiting.await.is_err(), "one sender is left");
        tx2.send(7).unwrap();
        drop(tx2);
        assert_eq!(
            rx.recv_many(&mut buf, 8).await,
            1,
            "queued values come first"
        );
        assert_eq!(rx.recv_many(&mut buf, 8).await, 0);
    }

    #[test]
    fn sends_fail_once_the_receiver_closes_or_is_dropped() {
        let (tx, mut rx) = channel();
        tx.send(1).unwrap();
        rx.close();
        assert_eq!(tx.send(2), Err(SendError(2)));
        assert!(tx.is_closed());
        assert_eq!(
            rx.try_recv(),
            Ok(1),
            "what was queued before the close stays"
        );
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        let (tx, rx) = channel();
        drop(rx);
        assert_eq!(tx.send("x"), Err(SendError("x")));
    }

    #[tokio::test]
    async fn a_drained_burst_gives_its_memory_back() {
        let (tx, mut rx) = channel();
        for i in 0..10_000 {
            tx.send(i).unwrap();
        }
        let mut buf = Vec::new();
        while rx.recv_many(&mut buf, 1024).await == 1024 {}
        assert_eq!(buf.len(), 10_000);
        assert_eq!(rx.shared.state.lock().queue.capacity(), 0);
    }

    #[tokio::test]
    async fn many_senders_on_many_threads_lose_nothing() {
        let (tx, mut rx) = channel();
        let mut threads = Vec::new();
        for t in 0..4u64 {
            let tx = tx.clone();
            threads.push(std::thread::spawn(move || {
                for i in 0..10_000u64 {
                    tx.send(t * 1_000_000 + i).unwrap();
                }
            }));
        }
        drop(tx);
        let mut buf = Vec::new();
        while rx.recv_many(&mut buf, 512).await > 0 {}
        assert_eq!(buf.len(), 40_000);
        for t in 0..4u64 {
            let mine: Vec<u64> = buf.iter().copied().filter(|v| v / 1_000_000 == t).collect();
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "each sender's order kept"
            );
        }
        for th in threads {
            th.join().unwrap();
        }
    }

    #[tokio::test]
    async fn a_quiet_send_does_not_wake_the_watcher_but_a_nudge_does() {
        let (tx, mut rx) = channel();
        let watcher = rx.watcher();
        let waiting = tokio::spawn(async move { watcher.ready().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.send_quiet(1).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "a quiet send wakes nobody");
        let mut buf = Vec::new();
        assert_eq!(
            rx.try_recv_many(&mut buf, 8),
            1,
            "taken by the sender's side"
        );
        tx.nudge();
        assert!(waiting.await.unwrap(), "a nudge wakes the watcher");
        let watcher = rx.watcher();
        let again = tokio::time::timeout(Duration::from_millis(20), watcher.ready());
        assert!(again.await.is_err(), "a nudge is seen once");
        tx.send(2).unwrap();
        assert!(watcher.ready().await, "something is queued");
        assert_eq!(rx.try_recv_many(&mut buf, 8), 1);
        assert_eq!(buf, vec![1, 2]);
        rx.close();
        assert!(!watcher.ready().await, "closed and empty");
    }

    #[tokio::test]
    async fn a_receiver_that_stopped_waiting_is_not_woken_by_the_next_send() {
        use std::future::Future;
        use std::sync::atomic::{AtomicUsize, Ordering};
        struct Count(AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let (tx, mut rx) = channel::<u8>();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        let mut buf = Vec::new();
        {
            let mut waiting = rx.recv_many(&mut buf, 8);
            assert!(std::pin::Pin::new(&mut waiting).poll(&mut cx).is_pending());
        }
        // Dropped while waiting (a select! took another branch): the task is busy,
        // and looks at the channel again before it sleeps.
        tx.send(1).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 0, "not woken");
        {
            let mut waiting = rx.recv_many(&mut buf, 8);
            assert_eq!(
                std::pin::Pin::new(&mut waiting).poll(&mut cx),
                Poll::Ready(1)
            );
        }
        let mut again = rx.recv_many(&mut buf, 8);
        assert!(std::pin::Pin::new(&mut again).poll(&mut cx).is_pending());
        tx.send(2).unwrap();
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "a waiting receiver is woken"
        );
    }
}
