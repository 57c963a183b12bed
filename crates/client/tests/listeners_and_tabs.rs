//! Re-entrant listeners, session events, and the API other tabs are kept in step with:
//! `adopt`, `recover_csrf`/`recover_session` for a named token, `check_cookie`.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use futures::FutureExt as _;
use reqwest::cookie::{CookieStore as _, Jar};
use reqwest::StatusCode;
use trustyconvert_client::{ClientError, CookieCheck, ManagerConfig, SessionEvent, SessionManager};

/// Runs `scenario` on its own runtime and thread; a deadlock fails the test instead of
/// hanging it.
fn without_deadlock(scenario: impl std::future::Future<Output = ()> + Send + 'static) {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(scenario);
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(60))
        .expect("the scenario deadlocked (or panicked)");
}

#[test]
fn listeners_that_reset_or_ensure_the_session_do_not_deadlock() {
    without_deadlock(async {
        let server = TestServer::start(|_| {}).await;
        let (manager, _transport, _clock) = manager(&server);
        let (resetter, reset_once) = (manager.clone(), AtomicBool::new(false));
        let _resets = manager.subscribe_state(move |state| {
            if state.is_initialized && !reset_once.swap(true, Ordering::SeqCst) {
                resetter.reset_session();
            }
        });
        let (ensurer, had_token) = (manager.clone(), AtomicBool::new(false));
        let _ensures = manager.subscribe_token(move |token| {
            if token.is_some() {
                had_token.store(true, Ordering::SeqCst);
            } else if had_token.load(Ordering::SeqCst) {
                // As a UI effect would: start getting a session again, at once.
                let _ = ensurer.ensure_session().now_or_never();
            }
        });

        manager.ensure_session().await.unwrap();
        eventually("the listener's ensure_session() initialized again", || {
            manager.state().is_initialized
        })
        .await;
        let counts = manager.counts();
        assert_eq!(
            counts.init_requests + counts.sync_requests,
            2,
            "the first init, then the listener's (adopting the live cookie): {counts:?}"
        );
        assert_eq!(server.metric("trusty_sessions_created_total").await, 1);
    });
}

#[tokio::test]
async fn events_report_init_rotation_rejection_and_close() {
    let server = TestServer::start(|c| c.timeouts.csrf_grace = Duration::ZERO).await;
    let (manager, transport, _clock) = manager(&server);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let _events = manager.subscribe_events(move |event| log.lock().unwrap().push(event.clone()));

    let first = manager.ensure_session().await.unwrap();
    let rotated = manager.api().rotate_csrf().await.unwrap();
    assert_eq!(
        post_as_other_client(&server, &transport, "/api/session/csrf").await,
        StatusCode::OK
    );
    manager.api().rotate_csrf().await.unwrap(); // 403, refresh, replay
    assert!(manager.close_session().await.unwrap());

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0], SessionEvent::Initialized(first.clone()));
    assert!(
        matches!(&seen[1], SessionEvent::Rotated(s) if *s.csrf_token == *rotated.csrf_token),
        "{seen:?}"
    );
    assert_eq!(
        seen[2],
        SessionEvent::CsrfRejected {
            token: rotated.csrf_token.clone()
        }
    );
    assert!(
        seen[3..seen.len() - 1]
            .iter()
            .all(|e| matches!(e, SessionEvent::Rotated(s) if s.id == first.id)),
        "{seen:?}"
    );
    assert_eq!(seen.last(), Some(&SessionEvent::Closed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adopted_session_is_used_without_io_and_an_older_flight_cannot_undo_it() {
    let server = TestServer::start(|_| {}).await;
    let (tab_a, _a_transport, _a_clock) = manager(&server);
    let (tab_b, b_transport, _b_clock) = manager(&server);
    let gate = Gate::new();
    b_transport.inject(
        "/api/session/init",
        Some(1),
        Fault::HoldResponse(gate.clone()),
    );
    let b_init = {
        let tab_b = tab_b.clone();
        tokio::spawn(async move { tab_b.ensure_session().await })
    };
    gate.reached().await; // B's own init has an answer, held back

    let from_a = tab_a.ensure_session().await.unwrap();
    let mut events = Vec::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    let _b_events = tab_b.subscribe_events(move |e| sink.lock().unwrap().push(e.clone()));
    assert!(tab_b.adopt(from_a.clone()));
    assert!(
        !tab_b.adopt(from_a.clone()),
        "the same session again changes nothing"
    );
    let mut older = from_a.clone();
    older.obtained_at_millis -= 1;
    older.csrf_token = "older".into();
    assert!(!tab_b.adopt(older), "an older snapshot is ignored");
    assert_eq!(
        tab_b.ensure_session().await.unwrap(),
        from_a,
        "no I/O needed"
    );

    gate.release();
    assert_eq!(
        b_init.await.unwrap().unwrap(),
        from_a,
        "B's older flight gets the adopted session, not its own"
    );
    assert_eq!(tab_b.csrf_token().as_deref(), Some(&*from_a.csrf_token));
    assert_eq!(tab_b.counts().init_requests, 1);
    events.extend(log.lock().unwrap().drain(..));
    assert!(events.is_empty(), "adoption emits nothing: {events:?}");
}

#[tokio::test]
async fn recover_acts_only_on_the_token_held_now() {
    let server = TestServer::start(|c| c.timeouts.csrf_grace = Duration::ZERO).await;
    let (manager, transport, _clock) = manager(&server);
    let session = manager.ensure_session().await.unwrap();

    // Not the current token: the held session comes back, no request.
    let before = manager.counts();
    assert_eq!(manager.recover_csrf("stale").await.unwrap(), session);
    assert_eq!(manager.recover_session("stale").await.unwrap(), session);
    assert_eq!(manager.counts(), before);

    // The current token, really refused (rotated elsewhere): one refresh repairs it.
    assert_eq!(
        post_as_other_client(&server, &transport, "/api/session/csrf").await,
        StatusCode::OK
    );
    let repaired = manager.recover_csrf(&session.csrf_token).await.unwrap();
    assert_ne!(repaired.csrf_token, session.csrf_token);
    assert_eq!(repaired.id, session.id);
    assert_eq!(manager.counts().csrf_refreshes, 1);
    assert_eq!(manager.counts().init_requests, 1);

    // Nothing held (reset): nothing to repair, and no session is created.
    manager.reset_session();
    assert_eq!(
        manager.recover_session(&repaired.csrf_token).await,
        Err(ClientError::Superseded)
    );
    assert_eq!(
        manager.recover_csrf(&repaired.csrf_token).await,
        Err(ClientError::Superseded)
    );
    assert_eq!(manager.counts().init_requests, 1);
    assert_eq!(server.metric("trusty_sessions_created_total").await, 1);
}

#[tokio::test]
async fn check_cookie_compares_the_visible_cookie_with_the_held_token() {
    let server = TestServer::start(|_| {}).await;
    let jar = Arc::new(Jar::default());
    let transport = FaultyTransport::with_jar(&server.base, Arc::clone(&jar));
    let manager = SessionManager::with_clock(
        transport.clone(),
        ManagerConfig::default(),
        ManualClock::new(),
    );
    assert_eq!(manager.check_cookie(), CookieCheck::NothingHeld);
    manager.ensure_session().await.unwrap();
    assert_eq!(manager.check_cookie(), CookieCheck::Matches);

    let url = reqwest::Url::parse(&server.base).unwrap();
    jar.add_cookie_str("csrftoken=rotated-elsewhere; Path=/", &url);
    assert_eq!(
        manager.check_cookie(),
        CookieCheck::Changed("rotated-elsewhere".into())
    );
    jar.add_cookie_str("csrftoken=; Max-Age=0; Path=/", &url);
    assert!(jar.cookies(&url).is_some(), "the session cookie remains");
    assert_eq!(manager.check_cookie(), CookieCheck::Missing);
    let before = manager.counts();
    let _ = manager.check_cookie();
    assert_eq!(manager.counts(), before, "no I/O");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn is_refreshing_is_true_exactly_while_a_token_refresh_is_in_flight() {
    let server = TestServer::start(|c| c.timeouts.csrf_grace = Duration::ZERO).await;
    let (manager, transport, _clock) = manager(&server);
    manager.ensure_session().await.unwrap();
    assert_eq!(
        post_as_other_client(&server, &transport, "/api/session/csrf").await,
        StatusCode::OK
    );
    let gate = Gate::new();
    transport.inject_exact("/api/session", Some(1), Fault::HoldRequest(gate.clone()));
    let call = {
        let api = manager.api();
        tokio::spawn(async move { api.rotate_csrf().await })
    };
    gate.reached().await; // the refresh's GET /api/session is held
    let state = manager.state();
    assert!(state.is_refreshing && !state.is_initializing, "{state:?}");
    gate.release();
    call.await.unwrap().unwrap();
    assert!(!manager.state().is_refreshing);
}
