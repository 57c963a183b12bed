//! Single flight, throttle and epoch rules of `SessionManager` against the real server.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use trustyconvert_client::{ClientError, SessionManager};

const INIT: &str = "/api/session/init";

/// Starts `n` concurrent `ensure_session()` calls while the one init request is held
/// at a gate, releases it once every caller has started, and returns the outcomes.
async fn concurrent_ensure(
    manager: &SessionManager,
    gate: &Gate,
    n: usize,
) -> Vec<Result<trustyconvert_client::SessionSnapshot, ClientError>> {
    let started = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let manager = manager.clone();
            let started = Arc::clone(&started);
            tokio::spawn(async move {
                started.fetch_add(1, Ordering::SeqCst);
                manager.ensure_session().await
            })
        })
        .collect();
    gate.reached().await;
    while started.load(Ordering::SeqCst) < n {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    gate.release();
    let mut outcomes = Vec::with_capacity(n);
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_and_five_thousand_concurrent_ensures_make_exactly_one_init_request() {
    for callers in [50, 5000] {
        let server = TestServer::start(|_| {}).await;
        let (manager, transport, _clock) = manager(&server);
        let gate = Gate::new();
        transport.inject(INIT, Some(1), Fault::HoldRequest(gate.clone()));
        let outcomes = concurrent_ensure(&manager, &gate, callers).await;
        let tokens: HashSet<String> = outcomes
            .into_iter()
            .map(|o| o.expect("every caller succeeds").csrf_token.to_string())
            .collect();
        assert_eq!(tokens.len(), 1, "{callers} callers must all see one token");
        assert_eq!(manager.counts().init_requests, 1, "{callers} callers");
        assert_eq!(server.metric("trusty_session_init_requests_total").await, 1);
        assert_eq!(manager.csrf_token(), tokens.into_iter().next());
    }
}

#[tokio::test]
async fn a_failed_init_reaches_every_waiter_and_is_not_cached() {
    let server = TestServer::start(|_| {}).await;
    let (manager, transport, _clock) = manager(&server);
    // Every attempt of the first flight loses its response after reaching the server.
    transport.inject(INIT, Some(3), Fault::DropResponse);
    let waiters: Vec<_> = (0..20)
        .map(|_| {
            let manager = manager.clone();
            tokio::spawn(async move { manager.ensure_session().await })
        })
        .collect();
    let mut errors = Vec::new();
    for waiter in waiters {
        errors.push(waiter.await.unwrap().expect_err("the init fails"));
    }
    assert!(
        matches!(&errors[0], ClientError::Network(message) if message.contains("response lost"))
    );
    assert!(
        errors.iter().all(|e| *e == errors[0]),
        "every waiter gets the same full error"
    );
    assert_eq!(
        manager.counts().init_requests,
        3,
        "one flight: bounded attempts, then the error"
    );
    assert_eq!(manager.state().last_error, Some(errors[0].clone()));
    assert!(!manager.state().is_initialized);

    // Not cached, not throttled: the very next call goes to the network again at once.
    // The lost responses did set cookies, so it adopts that session (sync first)
    // instead of creating another one.
    let session = manager
        .ensure_session()
        .await
        .expect("the next call retries");
    assert_eq!(manager.counts().sync_requests, 1);
    assert_eq!(manager.counts().init_requests, 3);
    assert_eq!(server.metric("trusty_sessions_created_total").await, 1);
    assert_eq!(manager.state().last_error, None);
    assert_eq!(manager.csrf_token().as_deref(), Some(&*session.csrf_token));
}

#[tokio::test]
async fn inside_the_minimum_interval_a_success_is_returned_without_a_request() {
    let server = TestServer::start(|_| {}).await;
    let (manager, _transport, clock) = manager(&server);
    let first = manager.init_session(false).await.unwrap();
    clock.advance(Duration::from_millis(1500));
    let second = manager.init_session(false).await.unwrap();
    assert_eq!(second, first, "same success inside the window");
    assert_eq!(manager.counts().init_requests, 1);
    // After the window an explicit init revalidates (same server session, one request).
    clock.advance(Duration::from_millis(600));
    let third = manager.init_session(false).await.unwrap();
    assert_eq!(third.id, first.id);
    assert_eq!(manager.counts().init_requests, 2);
}

#[tokio::test]
async fn after_a_failure_the_next_init_is_not_throttled() {
    let server = TestServer::start(|_| {}).await;
    let (manager, transport, _clock) = manager(&server);
    transport.inject(INIT, Some(3), Fault::Fail);
    assert!(manager.init_session(false).await.is_err());
    assert_eq!(manager.counts().init_requests, 3);
    // Same instant (the manual clock did not move): a failure opens no throttle window.
    let session = manager.init_session(false).await.unwrap();
    assert_eq!(manager.counts().init_requests, 4);
    assert_eq!(manager.csrf_token().as_deref(), Some(&*session.csrf_token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_caller_that_started_the_init_can_give_up_without_cancelling_it() {
    let server = TestServer::start(|_| {}).await;
    let (manager, transport, _clock) = manager(&server);
    let gate = Gate::new();
    transport.inject(INIT, Some(1), Fault::HoldRequest(gate.clone()));
    let starter = {
        let manager = manager.clone();
        tokio::spawn(async move { manager.ensure_session().await })
    };
    gate.reached().await;
    let others: Vec<_> = (0..10)
        .map(|_| {
            let manager = manager.clone();
            tokio::spawn(async move { manager.ensure_session().await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    starter.abort();
    assert!(starter.await.unwrap_err().is_cancelled());
    gate.release();
    let mut tokens = HashSet::new();
    for other in others {
        tokens.insert(
            other
                .await
                .unwrap()
                .expect("the others complete")
                .csrf_token
                .clone(),
        );
    }
    assert_eq!(tokens.len(), 1);
    assert_eq!(manager.counts().init_requests, 1);
    assert!(manager.state().is_initialized);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_during_an_init_wins_over_the_late_response() {
    let server = TestServer::start(|_| {}).await;
    let (manager, transport, _clock) = manager(&server);
    let gate = Gate::new();
    transport.inject(INIT, Some(1), Fault::HoldResponse(gate.clone()));
    let pending = {
        let manager = manager.clone();
        tokio::spawn(async move { manager.ensure_session().await })
    };
    gate.reached().await; // the server has answered; the response is held
    assert!(manager.state().is_initializing);
    manager.reset_session();
    gate.release();
    assert_eq!(pending.await.unwrap(), Err(ClientError::Superseded));
    assert_eq!(
        manager.csrf_token(),
        None,
        "the late response must not restore state"
    );
    let state = manager.state();
    assert!(!state.is_initialized && !state.has_csrf_token && !state.is_initializing);

    // The next call starts afresh; the cookie the server set is adopted (sync first).
    let fresh = manager.ensure_session().await.unwrap();
    assert_eq!(manager.csrf_token().as_deref(), Some(&*fresh.csrf_token));
    assert_eq!(manager.counts().init_requests, 1);
    assert_eq!(manager.counts().sync_requests, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_init_finishing_late_does_not_undo_a_newer_one() {
    let server = TestServer::start(|_| {}).await;
    let (manager, transport, _clock) = manager(&server);
    let gate = Gate::new();
    transport.inject(INIT, Some(1), Fault::HoldResponse(gate.clone()));
    let older = {
        let manager = manager.clone();
        tokio::spawn(async move { manager.ensure_session().await })
    };
    gate.reached().await;
    let newer = manager
        .init_session(true)
        .await
        .expect("forced init succeeds");
    gate.release();
    let older = older.await.unwrap().expect("older waiters still succeed");
    assert_eq!(
        older, newer,
        "older waiters get the newer session, not the stale one"
    );
    assert_eq!(manager.csrf_token().as_deref(), Some(&*newer.csrf_token));
    let status = manager.api().session_status().await.unwrap();
    assert_eq!(status.id.as_str(), &*newer.id);
    assert_eq!(manager.counts().init_requests, 2);
}

#[tokio::test]
async fn a_forced_init_proves_its_origin_and_replaces_the_session_on_the_server() {
    // The server honours `force=true` only with proof of origin; the native transport
    // gives it (`Sec-Fetch-Site: none`), so a forced init really replaces the session.
    let server = TestServer::start(|_| {}).await;
    let (manager, transport, _clock) = manager(&server);
    let first = manager.ensure_session().await.unwrap();
    let old_cookies = transport.inner.cookie_header().unwrap();
    let second = manager.init_session(true).await.unwrap();
    assert_ne!(second.id, first.id, "a new session, not the old one joined");
    assert_eq!(server.metric("trusty_sessions_created_total").await, 2);
    let old_status = reqwest::Client::new()
        .get(format!("{}/api/session", server.base))
        .header("cookie", old_cookies)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(
        old_status,
        reqwest::StatusCode::UNAUTHORIZED,
        "the old session is gone"
    );
}
