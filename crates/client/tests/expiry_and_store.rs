//! Expiry awareness and the reactive token/state stores.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

#[tokio::test]
async fn a_token_near_its_expiry_is_refreshed_before_use() {
    let server = TestServer::start(|c| c.timeouts.idle = Duration::from_secs(600)).await;
    let (manager, _transport, clock) = manager(&server);
    let first = manager.ensure_session().await.unwrap();
    // Fresh: no request.
    clock.advance(Duration::from_secs(120));
    manager.ensure_session().await.unwrap();
    assert_eq!(manager.counts().init_requests, 1);
    // Within `refresh_ahead` (60 s) of the known expiry: refreshed ahead of time.
    clock.set(first.expires_at_millis - 30_000);
    let refreshed = manager.ensure_session().await.unwrap();
    assert_eq!(manager.counts().init_requests, 2);
    assert_eq!(refreshed.id, first.id, "same server session, extended");
}

#[tokio::test]
async fn an_expired_token_is_never_sent() {
    let server = TestServer::start(|c| c.timeouts.idle = Duration::from_secs(600)).await;
    let (manager, _transport, clock) = manager(&server);
    let first = manager.ensure_session().await.unwrap();
    clock.set(first.expires_at_millis + 1);
    // The POST must go out with a token obtained after the expiry was noticed.
    manager.api().rotate_csrf().await.unwrap();
    let counts = manager.counts();
    assert_eq!(counts.init_requests, 2, "re-validated before sending");
    assert_eq!(
        counts.api_requests, 1,
        "the POST went out once, with a live token"
    );
    assert_eq!(counts.replays, 0);
}

#[tokio::test]
async fn token_subscribers_get_the_current_value_and_one_call_per_change() {
    let server = TestServer::start(|_| {}).await;
    let (manager, _transport, clock) = manager(&server);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let _subscription =
        manager.subscribe_token(move |token| log.lock().unwrap().push(token.clone()));
    assert_eq!(*seen.lock().unwrap(), vec![None], "current value at once");

    let session = manager.ensure_session().await.unwrap();
    manager.ensure_session().await.unwrap(); // identical token: no notification
    clock.advance(Duration::from_secs(3));
    manager.init_session(false).await.unwrap(); // same token again from the server
    let rotated = manager.api().rotate_csrf().await.unwrap();
    manager.reset_session();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            None,
            Some(session.csrf_token.to_string()),
            Some(rotated.csrf_token.to_string()),
            None
        ]
    );

    // A late subscriber sees the current value immediately.
    let late = Arc::new(Mutex::new(Vec::new()));
    let late_log = Arc::clone(&late);
    let _late = manager.subscribe_state(move |state| late_log.lock().unwrap().push(state.clone()));
    assert_eq!(late.lock().unwrap().len(), 1);
    assert!(!late.lock().unwrap()[0].is_initialized);
}

#[tokio::test]
async fn state_subscribers_see_initializing_then_initialized() {
    let server = TestServer::start(|_| {}).await;
    let (manager, _transport, _clock) = manager(&server);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let _subscription = manager.subscribe_state(move |s| {
        log.lock()
            .unwrap()
            .push((s.is_initialized, s.is_initializing, s.has_csrf_token))
    });
    manager.ensure_session().await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (false, false, false),
            (false, true, false),
            (true, false, true)
        ]
    );
}

#[tokio::test]
async fn listeners_may_read_every_accessor_while_being_notified() {
    let server = TestServer::start(|_| {}).await;
    let (manager, _transport, _clock) = manager(&server);
    let reader = manager.clone();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let _subscription = manager.subscribe_token(move |token| {
        let session = reader.session();
        let _ = (reader.state(), reader.counts(), reader.csrf_token());
        log.lock()
            .unwrap()
            .push((token.clone(), session.map(|s| s.csrf_token.clone())));
    });
    let session = manager.ensure_session().await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.last(),
        Some(&(
            Some(session.csrf_token.to_string()),
            Some(session.csrf_token.clone())
        ))
    );
}
