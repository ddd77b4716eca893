//! Wakes of unary callers, held while the connection task reads.
//!
//! One read pass hands many answers to h2, and h2 wakes each waiting call
//! as its frames arrive, with the connection's lock just released and the
//! next frame still to go. On the multi-thread runtime a call woken like
//! that often runs on the other worker at once, reaches for the same lock
//! while the connection task holds it again, and both threads go through
//! the kernel: under load, half of the client's futex calls were that.
//! Holding those wakes until the pass ends lets the calls read their
//! answers while the lock is free.
//!
//! Only calls that ask for it ([`CallWaker`]) are held, and only while
//! their connection task is inside [`holding`] on the same thread; any
//! other wake (a reset sent by a caller, a timer, a stream) goes out at
//! once, so nothing waits on a pass that is not running.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// Per thread: whether a connection task's pass is running, and the wakes
/// it holds. The list keeps its capacity from pass to pass.
struct Held {
    active: bool,
    wakers: Vec<Waker>,
}

thread_local! {
    static HELD: RefCell<Held> = const { RefCell::new(Held { active: false, wakers: Vec::new() }) };
}

/// Runs one pass of a connection task; the callers it woke are woken when
/// the pass ends (also when it panics).
pub(crate) fn holding<T>(pass: impl FnOnce() -> T) -> T {
    struct Release {
        nested: bool,
    }
    impl Drop for Release {
        fn drop(&mut self) {
            if self.nested {
                return;
            }
            let mut wakers = HELD.with(|held| {
                let mut held = held.borrow_mut();
                held.active = false;
                std::mem::take(&mut held.wakers)
            });
            for waker in wakers.drain(..) {
                waker.wake();
            }
            // Back for the next pass, empty but with its capacity.
            HELD.with(|held| {
                let mut held = held.borrow_mut();
                if held.wakers.capacity() < wakers.capacity() {
                    held.wakers = wakers;
                }
            });
        }
    }
    let nested = HELD.with(|held| std::mem::replace(&mut held.borrow_mut().active, true));
    let _release = Release { nested };
    pass()
}

/// The waker one unary call gives h2: it wakes the call's task, held
/// until the end of a connection task's pass when one is running here.
#[derive(Default)]
pub(crate) struct CallWaker {
    task: Mutex<Option<Waker>>,
}

impl CallWaker {
    /// A new waker with no task yet, and the `Waker` to hand to h2 (the
    /// same one for every poll, so h2 never has to clone a new one).
    pub(crate) fn new() -> (Arc<CallWaker>, Waker) {
        let call = Arc::new(CallWaker::default());
        let waker = Waker::from(call.clone());
        (call, waker)
    }

    /// Polls `future` on behalf of the task in `cx`, with `waker` (this
    /// call's) in place of the task's own.
    pub(crate) fn poll<F: Future + Unpin>(
        &self,
        waker: &Waker,
        cx: &mut Context<'_>,
        future: &mut F,
    ) -> Poll<F::Output> {
        self.remember(cx.waker());
        Pin::new(future).poll(&mut Context::from_waker(waker))
    }

    /// Polls `poll` (an h2 poll function) like [`CallWaker::poll`].
    pub(crate) fn poll_fn<T>(
        &self,
        waker: &Waker,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        self.remember(cx.waker());
        poll(&mut Context::from_waker(waker))
    }

    fn remember(&self, task: &Waker) {
        let Ok(mut slot) = self.task.lock() else { return };
        match slot.as_ref() {
            Some(known) if known.will_wake(task) => {}
            _ => *slot = Some(task.clone()),
        }
    }

    fn task(&self) -> Option<Waker> {
        self.task.lock().ok().and_then(|slot| slot.clone())
    }
}

impl Wake for CallWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let Some(task) = self.task() else { return };
        let task = HELD.with(|held| {
            let mut held = held.borrow_mut();
            if held.active {
                held.wakers.push(task);
                None
            } else {
                Some(task)
            }
        });
        if let Some(task) = task {
            task.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn registered() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count::default());
        let (call, waker) = CallWaker::new();
        call.remember(&Waker::from(count.clone()));
        (count, waker)
    }

    #[test]
    fn wakes_during_a_pass_wait_for_its_end() {
        let (count, waker) = registered();
        holding(|| {
            waker.wake_by_ref();
            waker.wake_by_ref();
            assert_eq!(count.0.load(Ordering::SeqCst), 0, "held while the pass runs");
        });
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn wakes_outside_a_pass_go_at_once() {
        let (count, waker) = registered();
        waker.wake_by_ref();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_panicking_pass_still_releases_its_wakes() {
        let (count, waker) = registered();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            holding(|| {
                waker.wake_by_ref();
                panic!("a pass that fails");
            })
        }));
        assert!(outcome.is_err());
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        waker.wake_by_ref();
        assert_eq!(count.0.load(Ordering::SeqCst), 2, "no pass is left running");
    }
}
