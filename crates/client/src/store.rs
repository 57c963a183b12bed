//! A small reactive store: the counterpart of the seed's nanostores atoms.
//!
//! Hand-written because the contract is tiny and exact: `set` notifies once per real
//! change and never for an identical value, and a new subscriber is called with the
//! current value at once. Works the same natively and in the browser.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

type Listener<T> = Arc<dyn Fn(&T) + Send + Sync>;

struct Inner<T> {
    value: Mutex<T>,
    listeners: Mutex<Vec<(u64, Listener<T>)>>,
    /// Serializes notifications so listeners see changes in the order they happened.
    notifying: Mutex<()>,
    next_id: AtomicU64,
}

/// A value that can be read, set and watched. Clones share the same value.
///
/// Listeners run synchronously inside `set`; they may read any store but must not
/// `set` the store that is notifying them.
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
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Store<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Store<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Store")
            .field(&*lock(&self.inner.value))
            .finish()
    }
}

fn lock<V>(mutex: &Mutex<V>) -> MutexGuard<'_, V> {
    // A listener that panicked must not make the store unusable for everyone else.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<T: Clone + PartialEq + Send + 'static> Store<T> {
    /// A store holding `value`.
    pub fn new(value: T) -> Self {
        Self {
            inner: Arc::new(Inner {
                value: Mutex::new(value),
                listeners: Mutex::new(Vec::new()),
                notifying: Mutex::new(()),
                next_id: AtomicU64::new(0),
            }),
        }
    }

    /// The current value.
    pub fn get(&self) -> T {
        lock(&self.inner.value).clone()
    }

    /// Replaces the value; notifies every listener once if it changed. Returns whether
    /// it changed.
    pub fn set(&self, value: T) -> bool {
        let _order = lock(&self.inner.notifying);
        {
            let mut current = lock(&self.inner.value);
            if *current == value {
                return false;
            }
            *current = value.clone();
        }
        let listeners: Vec<Listener<T>> = lock(&self.inner.listeners)
            .iter()
            .map(|(_, l)| Arc::clone(l))
            .collect();
        for listener in listeners {
            listener(&value);
        }
        true
    }

    /// Calls `listener` with the current value now and after every change, until the
    /// returned [`Subscription`] is dropped.
    pub fn subscribe(&self, listener: impl Fn(&T) + Send + Sync + 'static) -> Subscription {
        let _order = lock(&self.inner.notifying);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let listener: Listener<T> = Arc::new(listener);
        lock(&self.inner.listeners).push((id, Arc::clone(&listener)));
        let current = self.get();
        listener(&current);
        let inner = Arc::downgrade(&self.inner);
        Subscription {
            cancel: Some(Box::new(move || {
                if let Some(inner) = inner.upgrade() {
                    lock(&inner.listeners).retain(|(other, _)| *other != id);
                }
            })),
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
}
