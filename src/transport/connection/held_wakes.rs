//! Wakes of unary callers, held while the connection task reads.
//!
//! One read pass hands many answers to the HTTP/2 state, which wakes each
//! waiting call as its frames arrive, with the connection's lock held and
//! the next frame still to go. On the multi-thread runtime a call woken like
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
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use atomic_waker::AtomicWaker;

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
            let taken = HELD.try_with(|held| {
                let mut held = held.borrow_mut();
                held.active = false;
                std::mem::take(&mut held.wakers)
            });
            let Ok(mut wakers) = taken else { return };
            for waker in wakers.drain(..) {
                waker.wake();
            }
            // Back for the next pass, empty but with its capacity.
            let _ = HELD.try_with(|held| {
                let mut held = held.borrow_mut();
                if held.wakers.capacity() < wakers.capacity() {
                    held.wakers = wakers;
                }
            });
        }
    }
    // A thread whose locals are gone (it is ending) holds nothing.
    let nested = HELD.try_with(|held| std::mem::replace(&mut held.borrow_mut().active, true)).unwrap_or(true);
    let _release = Release { nested };
    pass()
}

/// The waker one unary call gives the HTTP/2 state in place of its
/// task's: it wakes the task, held until the end of a connection task's
/// pass when one is running on the waking thread.
pub(crate) struct CallWaker {
    relay: Arc<Relay>,
    /// The same `Waker` for every poll, so the state never has to clone a new one.
    waker: Waker,
}

/// What the state's copies of [`CallWaker::waker`] point to: the task to wake.
#[derive(Default)]
struct Relay {
    task: AtomicWaker,
}

impl CallWaker {
    pub(crate) fn new() -> CallWaker {
        let relay = Arc::new(Relay::default());
        CallWaker { waker: Waker::from(relay.clone()), relay }
    }

    /// Awaits `poll` (an HTTP/2 poll function), which sees this call's waker
    /// in place of the awaiting task's.
    pub(crate) fn on<'a, T>(
        &'a self,
        mut poll: impl FnMut(&mut Context<'_>) -> Poll<T> + 'a,
    ) -> impl Future<Output = T> + 'a {
        std::future::poll_fn(move |cx| {
            self.relay.task.register(cx.waker());
            poll(&mut Context::from_waker(&self.waker))
        })
    }
}

impl Wake for Relay {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Taken, not cloned: the task registers again when it polls.
        let mut task = self.task.take();
        // A wake may also come from a destructor while a thread ends, when its
        // locals may be gone: then the wake goes at once.
        let _ = HELD.try_with(|held| {
            if let Ok(mut held) = held.try_borrow_mut() {
                if held.active {
                    held.wakers.extend(task.take());
                }
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

    fn registered() -> (Arc<Count>, CallWaker) {
        let count = Arc::new(Count::default());
        let call = CallWaker::new();
        call.relay.task.register(&Waker::from(count.clone()));
        (count, call)
    }

    #[test]
    fn wakes_during_a_pass_wait_for_its_end() {
        let (count, call) = registered();
        let waker = &call.waker;
        holding(|| {
            waker.wake_by_ref();
            waker.wake_by_ref();
            assert_eq!(count.0.load(Ordering::SeqCst), 0, "held while the pass runs");
        });
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "two wakes before the task ran are one");
    }

    #[test]
    fn wakes_outside_a_pass_go_at_once() {
        let (count, call) = registered();
        let waker = &call.waker;
        waker.wake_by_ref();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_panicking_pass_still_releases_its_wakes() {
        let (count, call) = registered();
        let waker = &call.waker;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            holding(|| {
                waker.wake_by_ref();
                panic!("a pass that fails");
            })
        }));
        assert!(outcome.is_err());
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        call.relay.task.register(&Waker::from(count.clone()));
        waker.wake_by_ref();
        assert_eq!(count.0.load(Ordering::SeqCst), 2, "no pass is left running");
    }
}
