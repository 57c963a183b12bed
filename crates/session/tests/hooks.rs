//! What an application attaching data to sessions relies on: the hooks hear of every
//! session that ends, and nothing can be attached to a session once it is gone.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use trustyconvert_session::store::{MemoryStore, SessionStore as _};
use trustyconvert_session::{
    async_trait, SessionConfig, SessionHooks, SessionKey, Sessions, Timestamp,
};

/// Records what the hooks were told.
#[derive(Default)]
struct Heard {
    closed: Mutex<Vec<SessionKey>>,
    expired: Mutex<Vec<SessionKey>>,
}

#[async_trait]
impl SessionHooks for Heard {
    async fn on_close(&self, session: &SessionKey) {
        self.closed.lock().unwrap().push(*session);
    }

    async fn on_expired(&self, sessions: &[SessionKey]) {
        self.expired.lock().unwrap().extend_from_slice(sessions);
    }
}

fn sessions(store: Arc<MemoryStore>, heard: Arc<Heard>, sweep: Duration) -> Sessions {
    let config = SessionConfig {
        timeouts: trustyconvert_session::Timeouts {
            sweep_interval: sweep,
            ..Default::default()
        },
        ..Default::default()
    };
    Sessions::builder(store)
        .config(config)
        .hooks(heard)
        .build()
        .unwrap()
}

#[tokio::test]
async fn closing_a_session_tells_the_hooks_after_its_record_is_gone() {
    let store = Arc::new(MemoryStore::default());
    let heard = Arc::new(Heard::default());
    let sessions = sessions(store.clone(), heard.clone(), Duration::from_secs(60));
    let session = sessions.service().create(Timestamp::now()).await.unwrap();
    let key = session.record.key;

    assert!(sessions.service().close(&key).await.unwrap());
    assert_eq!(*heard.closed.lock().unwrap(), vec![key]);
    assert_eq!(store.load_session(&key).await.unwrap(), None);
    assert_eq!(
        store.with_session(&key, || "attached"),
        None,
        "nothing can be attached to a closed session"
    );
}

#[tokio::test]
async fn the_sweeper_removes_expired_sessions_and_tells_the_hooks() {
    let store = Arc::new(MemoryStore::default());
    let heard = Arc::new(Heard::default());
    let sessions = sessions(store.clone(), heard.clone(), Duration::from_millis(10));
    // Created a day ago: long past its idle and absolute expiry.
    let a_day_ago = Timestamp::from_millis(Timestamp::now().as_millis() - 86_400_000 - 1);
    let expired = sessions
        .service()
        .create(a_day_ago)
        .await
        .unwrap()
        .record
        .key;
    let live = sessions
        .service()
        .create(Timestamp::now())
        .await
        .unwrap()
        .record
        .key;
    assert_eq!(store.with_session(&expired, || "held"), Some("held"));

    let sweeper = sessions.spawn_sweeper();
    // Waits for the condition (never for a time); a sweeper that never sweeps fails
    // the test after half a minute instead of hanging it.
    let swept_and_heard = async {
        while store.load_session(&expired).await.unwrap().is_some()
            || heard.expired.lock().unwrap().is_empty()
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), swept_and_heard)
        .await
        .expect("the sweeper removed the expired session and told the hooks");
    sweeper.abort();
    assert_eq!(*heard.expired.lock().unwrap(), vec![expired]);
    assert!(
        heard.closed.lock().unwrap().is_empty(),
        "expiry is not a close"
    );
    assert!(
        store.load_session(&live).await.unwrap().is_some(),
        "a live session stays"
    );
}
