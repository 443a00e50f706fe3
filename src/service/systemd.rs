//! systemd notification glue. Outside systemd (no `NOTIFY_SOCKET`) every call is a no-op.
//!
//! Callers never wait for systemd. Sending to the notify socket blocks while systemd has not
//! read the messages before (a Unix datagram socket queues only `net.unix.max_dgram_qlen` of
//! them, 10 by default), and a call made on an async runtime thread blocked there stops every
//! task of that thread: the whole worker on a current-thread runtime, and the multi-thread
//! runtime once the status and watchdog tasks hold enough of its threads (docs/benchmark.md,
//! "The current-thread hang"). So a call only queues its message, and one thread of our own,
//! `sd-notify`, sends them in order. What piles up while systemd does not read stays bounded:
//! a new STATUS replaces one still queued, and a queued watchdog ping stands for the next.

use sd_notify::NotifyState;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

pub fn ready(status: &str) {
    post(Message::Ready(status.to_owned()));
}

pub fn status(status: &str) {
    post(Message::Status(status.to_owned()));
}

pub fn stopping() {
    post(Message::Stopping);
}

/// Waits up to `timeout` for the queued messages to go out (at exit, off the async runtime,
/// so that STOPPING=1 is not lost with the process).
pub fn flush(timeout: Duration) {
    if !started() {
        return;
    }
    let deadline = Instant::now() + timeout;
    let mut queue = NOTIFIER.lock();
    while !queue.messages.is_empty() || queue.sending {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            tracing::warn!("systemd did not take the last notifications; exiting without them");
            return;
        }
        queue = NOTIFIER
            .changed
            .wait_timeout(queue, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

/// One datagram to the notify socket.
#[derive(Debug, Clone, PartialEq)]
enum Message {
    Ready(String),
    Status(String),
    Stopping,
    Watchdog,
}

impl Message {
    fn send(&self) {
        let states = match self {
            Message::Ready(status) => vec![NotifyState::Ready, NotifyState::Status(status)],
            Message::Status(status) => vec![NotifyState::Status(status)],
            Message::Stopping => vec![NotifyState::Stopping, NotifyState::Status("stopping")],
            Message::Watchdog => vec![NotifyState::Watchdog],
        };
        if let Err(err) = sd_notify::notify(false, &states) {
            tracing::warn!(error = %err, "cannot notify systemd");
        }
    }
}

#[derive(Default)]
struct Queue {
    messages: VecDeque<Message>,
    /// The sender thread has taken a message and not yet handed it over.
    sending: bool,
}

impl Queue {
    /// Appends `message`, keeping the queue bounded however long systemd does not read: one
    /// STATUS (the newest, last) and one watchdog ping at most, besides READY and STOPPING.
    fn push(&mut self, message: Message) {
        match message {
            Message::Status(_) => self.messages.retain(|m| !matches!(m, Message::Status(_))),
            Message::Watchdog if self.messages.contains(&Message::Watchdog) => return,
            _ => {}
        }
        self.messages.push_back(message);
    }
}

struct Notifier {
    queue: Mutex<Queue>,
    changed: Condvar,
}

impl Notifier {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

static NOTIFIER: Notifier = Notifier {
    queue: Mutex::new(Queue {
        messages: VecDeque::new(),
        sending: false,
    }),
    changed: Condvar::new(),
};

/// Whether there is a notify socket and the sender thread runs; starts it on first use.
fn started() -> bool {
    static STARTED: OnceLock<bool> = OnceLock::new();
    *STARTED.get_or_init(|| {
        if std::env::var_os("NOTIFY_SOCKET").is_none() {
            return false;
        }
        let spawned = std::thread::Builder::new()
            .name("sd-notify".into())
            .spawn(send_forever);
        if let Err(err) = &spawned {
            tracing::warn!(error = %err, "cannot start the systemd notification thread");
        }
        spawned.is_ok()
    })
}

fn post(message: Message) {
    if started() {
        NOTIFIER.lock().push(message);
        NOTIFIER.changed.notify_all();
    }
}

/// The `sd-notify` thread: sends each queued message, blocking here and nowhere else.
fn send_forever() {
    loop {
        let message = {
            let mut queue = NOTIFIER.lock();
            queue.sending = false;
            NOTIFIER.changed.notify_all();
            loop {
                if let Some(message) = queue.messages.pop_front() {
                    queue.sending = true;
                    break message;
                }
                queue = NOTIFIER
                    .changed
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        message.send();
    }
}

/// Pings the systemd watchdog at half its interval from a task on the async runtime, so a
/// stalled runtime stops the pings and systemd restarts the service. `None` without a watchdog.
pub fn spawn_watchdog() -> Option<JoinHandle<()>> {
    let mut usec = 0;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return None;
    }
    let period = Duration::from_micros(usec / 2);
    tracing::info!(?period, "systemd watchdog enabled");
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            post(Message::Watchdog);
        }
    }))
}

/// Refreshes `STATUS=` every `period` with the line `status_line` builds.
pub fn spawn_status(
    period: Duration,
    status_line: impl Fn() -> String + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            status(&status_line());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_systemd_does_not_read_stays_bounded_and_in_order() {
        let mut queue = Queue::default();
        queue.push(Message::Status("connecting".into()));
        for _ in 0..100 {
            queue.push(Message::Watchdog);
            queue.push(Message::Status("waiting".into()));
        }
        queue.push(Message::Ready("polling".into()));
        for n in 0..100 {
            queue.push(Message::Status(format!("{n} in flight")));
            queue.push(Message::Watchdog);
        }
        queue.push(Message::Stopping);
        assert_eq!(
            Vec::from(queue.messages),
            [
                Message::Watchdog,
                Message::Ready("polling".into()),
                Message::Status("99 in flight".into()),
                Message::Stopping,
            ]
        );
    }
}
