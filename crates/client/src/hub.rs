//! Listener bookkeeping and ordered, re-entrant delivery, shared by [`crate::Store`]
//! (values) and the manager's event stream.
//!
//! Hand-written because the delivery rule is the point: listeners are never called
//! while any lock is held, so a listener may call back into whatever notified it (a UI
//! effect that resets the session, say). Values are queued under the lock; whoever
//! finds nobody delivering becomes the deliverer and drains the queue in order. A
//! change made from inside a listener is therefore delivered right after that listener
//! returns, never recursively and never out of order. No thread ever waits for another
//! to finish delivering, which is also what keeps single-threaded wasm from panicking.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

type Listener<T> = Arc<dyn Fn(&T) + Send + Sync>;

/// Who a queued value is for.
enum Audience {
    /// Every listener registered before the value was queued.
    Registered(u64),
    /// One new listener: its initial value.
    Only(u64),
}

struct State<T> {
    listeners: Vec<(u64, Listener<T>)>,
    queue: VecDeque<(Audience, T)>,
    delivering: bool,
    next_id: u64,
}

/// Listeners of values of type `T`, and the queue of values waiting for them.
pub(crate) struct Hub<T> {
    state: Arc<Mutex<State<T>>>,
}

impl<T> Clone for Hub<T> {
    fn clone(&self) -> Self {
        Self {
            state: Arc::clone(&self.state),
        }
    }
}

fn lock<V>(mutex: &Mutex<V>) -> MutexGuard<'_, V> {
    // A listener that panicked must not make the hub unusable for everyone else.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<T: Clone + Send + 'static> Hub<T> {
    pub(crate) fn new() -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                listeners: Vec::new(),
                queue: VecDeque::new(),
                delivering: false,
                next_id: 0,
            })),
        }
    }

    /// Queues `value` for every listener registered now. Call [`deliver`](Self::deliver)
    /// once no lock of the caller is held any more.
    pub(crate) fn publish(&self, value: T) {
        let mut state = lock(&self.state);
        let horizon = state.next_id;
        state
            .queue
            .push_back((Audience::Registered(horizon), value));
    }

    /// Registers `listener`; with `initial`, queues that value for it alone (so it
    /// arrives in order with everything else). Deliver afterwards.
    pub(crate) fn listen(
        &self,
        listener: impl Fn(&T) + Send + Sync + 'static,
        initial: Option<T>,
    ) -> Subscription {
        let mut state = lock(&self.state);
        let id = state.next_id;
        state.next_id += 1;
        state.listeners.push((id, Arc::new(listener)));
        if let Some(value) = initial {
            state.queue.push_back((Audience::Only(id), value));
        }
        let weak = Arc::downgrade(&self.state);
        Subscription {
            cancel: Some(Box::new(move || {
                if let Some(state) = weak.upgrade() {
                    lock(&state).listeners.retain(|(other, _)| *other != id);
                }
            })),
        }
    }

    /// Drains the queue unless someone else is already draining it (then they deliver
    /// what was queued here too). Listeners run with no lock held.
    pub(crate) fn deliver(&self) {
        {
            let mut state = lock(&self.state);
            if state.delivering {
                return;
            }
            state.delivering = true;
        }
        let mut unwinding = DeliveringFlag {
            state: &self.state,
            armed: true,
        };
        loop {
            let (value, targets) = {
                let mut state = lock(&self.state);
                let Some((audience, value)) = state.queue.pop_front() else {
                    // Cleared in the same critical section that found the queue empty:
                    // a value published after this point finds nobody delivering and
                    // delivers it itself, so nothing is left behind.
                    state.delivering = false;
                    unwinding.armed = false;
                    return;
                };
                let targets: Vec<(u64, Listener<T>)> = state
                    .listeners
                    .iter()
                    .filter(|(id, _)| match audience {
                        Audience::Registered(horizon) => *id < horizon,
                        Audience::Only(only) => *id == only,
                    })
                    .cloned()
                    .collect();
                (value, targets)
            };
            for (id, listener) in targets {
                // An earlier listener may have unsubscribed this one meanwhile.
                let still_registered = lock(&self.state)
                    .listeners
                    .iter()
                    .any(|(other, _)| *other == id);
                if still_registered {
                    listener(&value);
                }
            }
        }
    }
}

/// Clears the `delivering` flag if a listener panics, so later changes are delivered.
struct DeliveringFlag<'a, T> {
    state: &'a Mutex<State<T>>,
    armed: bool,
}

impl<T> Drop for DeliveringFlag<'_, T> {
    fn drop(&mut self) {
        if self.armed {
            lock(self.state).delivering = false;
        }
    }
}

/// Keeps a listener registered; dropping it unsubscribes.
#[must_use = "dropping a Subscription unsubscribes at once"]
pub struct Subscription {
    cancel: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subscription")
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(cancel) = self.cancel.take() {
            cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_published_from_inside_a_listener_arrives_after_it_in_order() {
        let hub = Hub::<u32>::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (log, again) = (Arc::clone(&seen), hub.clone());
        let _s = hub.listen(
            move |v| {
                log.lock().unwrap().push(*v);
                if *v == 1 {
                    again.publish(2);
                    again.deliver(); // re-entrant: queued, delivered after this returns
                    log.lock().unwrap().push(100);
                }
            },
            Some(0),
        );
        hub.publish(1);
        hub.deliver();
        assert_eq!(*seen.lock().unwrap(), vec![0, 1, 100, 2]);
    }

    #[test]
    fn a_listener_unsubscribed_by_an_earlier_one_is_not_called_again() {
        let hub = Hub::<u32>::new();
        let victim_calls = Arc::new(Mutex::new(0));
        let slot: Arc<Mutex<Option<Subscription>>> = Arc::default();
        let killer_slot = Arc::clone(&slot);
        let _killer = hub.listen(
            move |_| {
                killer_slot.lock().unwrap().take();
            },
            None,
        );
        let calls = Arc::clone(&victim_calls);
        *slot.lock().unwrap() = Some(hub.listen(move |_| *calls.lock().unwrap() += 1, None));
        hub.publish(1);
        hub.deliver();
        assert_eq!(*victim_calls.lock().unwrap(), 0);
    }
}
