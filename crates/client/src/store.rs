//! A small reactive store: the counterpart of the seed's nanostores atoms.
//!
//! Hand-written because the contract is tiny and exact: `set` notifies once per real
//! change and never for an identical value, and a new subscriber is called with the
//! current value at once. Listeners run with no lock held (see [`crate::hub`]), so they
//! may read, set or subscribe to anything, this store included. Works the same
//! natively and in the browser.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::hub::Hub;
pub use crate::hub::Subscription;

/// A value that can be read, set and watched. Clones share the same value.
///
/// Listeners are called after the change, outside every lock, in the order the changes
/// happened. A change made from inside a listener is delivered right after that
/// listener returns.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use trustyconvert_client::Store;
///
/// let token = Store::new(None::<String>);
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let _subscription = token.subscribe(move |value| log.lock().unwrap().push(value.clone()));
/// token.set(Some("a".into()));
/// token.set(Some("a".into())); // identical: no notification
/// assert_eq!(*seen.lock().unwrap(), vec![None, Some("a".to_string())]);
/// ```
pub struct Store<T> {
    value: Arc<Mutex<T>>,
    hub: Hub<T>,
}

impl<T> Clone for Store<T> {
    fn clone(&self) -> Self {
        Self {
            value: Arc::clone(&self.value),
            hub: self.hub.clone(),
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Store<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Store").field(&*lock(&self.value)).finish()
    }
}

fn lock<V>(mutex: &Mutex<V>) -> MutexGuard<'_, V> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<T: Clone + PartialEq + Send + 'static> Store<T> {
    /// A store holding `value`.
    pub fn new(value: T) -> Self {
        Self {
            value: Arc::new(Mutex::new(value)),
            hub: Hub::new(),
        }
    }

    /// The current value.
    pub fn get(&self) -> T {
        lock(&self.value).clone()
    }

    /// Replaces the value; notifies every listener once if it changed. Returns whether
    /// it changed.
    pub fn set(&self, value: T) -> bool {
        let changed = self.stage(value);
        self.hub.deliver();
        changed
    }

    /// Replaces the value and queues the notification without delivering it, for a
    /// caller that still holds a lock of its own; it calls [`deliver`](Self::deliver)
    /// after releasing it.
    pub(crate) fn stage(&self, value: T) -> bool {
        let mut current = lock(&self.value);
        if *current == value {
            return false;
        }
        *current = value.clone();
        // Queued under the value lock, so notifications keep the order of the changes.
        self.hub.publish(value);
        true
    }

    /// Delivers queued notifications (see [`stage`](Self::stage)).
    pub(crate) fn deliver(&self) {
        self.hub.deliver();
    }

    /// Calls `listener` with the current value now and after every change, until the
    /// returned [`Subscription`] is dropped. (Subscribing from inside a listener: the
    /// current value arrives right after that listener returns.)
    pub fn subscribe(&self, listener: impl Fn(&T) + Send + Sync + 'static) -> Subscription {
        let subscription = {
            let current = lock(&self.value);
            self.hub.listen(listener, Some(current.clone()))
        };
        self.hub.deliver();
        subscription
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder(store: &Store<u32>) -> (Subscription, Arc<Mutex<Vec<u32>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        (store.subscribe(move |v| log.lock().unwrap().push(*v)), seen)
    }

    #[test]
    fn subscribers_get_the_current_value_then_one_call_per_real_change() {
        let store = Store::new(1);
        let (subscription, seen) = recorder(&store);
        assert!(store.set(2));
        assert!(!store.set(2));
        assert!(store.set(3));
        assert_eq!(*seen.lock().unwrap(), vec![1, 2, 3]);
        let (_late, late_seen) = recorder(&store);
        assert_eq!(*late_seen.lock().unwrap(), vec![3]);
        drop(subscription);
        store.set(4);
        assert_eq!(
            *seen.lock().unwrap(),
            vec![1, 2, 3],
            "no calls after unsubscribe"
        );
        assert_eq!(*late_seen.lock().unwrap(), vec![3, 4]);
    }

    #[test]
    fn listeners_may_read_the_store_they_watch() {
        let store = Store::new(0);
        let reader = store.clone();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let _s = store.subscribe(move |_| log.lock().unwrap().push(reader.get()));
        store.set(7);
        assert_eq!(*seen.lock().unwrap(), vec![0, 7]);
    }

    #[test]
    fn a_listener_may_set_the_store_that_notifies_it() {
        let store = Store::new(0);
        let writer = store.clone();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let _s = store.subscribe(move |v| {
            log.lock().unwrap().push(*v);
            if *v == 1 {
                writer.set(2);
            }
        });
        store.set(1);
        assert_eq!(*seen.lock().unwrap(), vec![0, 1, 2]);
        assert_eq!(store.get(), 2);
    }
}
