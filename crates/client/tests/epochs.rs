//! Epochs and generations under races, against the real server: a reset or close wins
//! over everything in flight, an older flight never undoes or unhooks a newer one, and
//! the flight belongs to the manager, not to the caller that started it; a session
//! announced by another tab never revives one closed or reset away.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use reqwest::cookie::Jar;
use trustyconvert_client::{
    ClientError, ManagerConfig, SessionEvent, SessionManager, SessionSnapshot, Subscription,
};

const INIT: &str = "/api/session/init";

fn tab(server: &TestServer, jar: &Arc<Jar>) -> SessionManager {
    let transport = FaultyTransport::with_jar(&server.base, Arc::clone(jar));
    SessionManager::with_clock(transport, ManagerConfig::default(), ManualClock::new())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_another_tab_closes_twenty_concurrent_calls_create_exactly_one_new_session() {
    let server = TestServer::start(|_| {}).await;
    let jar = Arc::new(Jar::default());
    let (tab_a, tab_b) = (tab(&server, &jar), tab(&server, &jar));
    let first = tab_a.ensure_session().await.unwrap();
    assert_eq!(
        tab_b.ensure_session().await.unwrap().id,
        first.id,
        "the second tab joins the first tab's session"
    );
    assert!(tab_a.close_session().await.unwrap());

    // Tab B still holds the closed session: 10 CSRF-protected POSTs and 10 GETs at once.
    let posts: Vec<_> = (0..10)
        .map(|n| {
            let api = tab_b.api();
            tokio::spawn(async move { protected_post(&api, n).await })
        })
        .collect();
    let gets: Vec<_> = (0..10)
        .map(|_| {
            let api = tab_b.api();
            tokio::spawn(async move { api.session_status().await })
        })
        .collect();
    for post in posts {
        post.await.unwrap().expect("every protected POST succeeds");
    }
    let mut ids = HashSet::new();
    for get in gets {
        ids.insert(get.await.unwrap().expect("every status call succeeds").id);
    }
    assert_eq!(ids.len(), 1, "every call ends in one session: {ids:?}");
    assert!(!ids.contains(&*first.id));
    assert_eq!(
        server.metric("trusty_sessions_created_total").await,
        2,
        "the closed session and exactly one new one"
    );
    assert_eq!(tab_b.state().last_error, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_answered_after_close_session_fails_superseded_and_creates_no_session() {
    let server = TestServer::start(|_| {}).await;
    let (manager, transport, _clock) = manager(&server);
    manager.ensure_session().await.unwrap();
    let gate = Gate::new();
    transport.inject(
        session_get_path(),
        Some(1),
        Fault::HoldRequest(gate.clone()),
    );
    let poll = {
        let api = manager.api();
        tokio::spawn(async move { session_get(&api).await })
    };
    gate.reached().await; // the poll is in flight
    assert!(manager.close_session().await.unwrap());
    gate.release(); // it now reaches the server without a session: 401

    assert_eq!(poll.await.unwrap(), Err(ClientError::Superseded));
    assert_eq!(server.metric("trusty_sessions_created_total").await, 1);
    assert_eq!(manager.counts().init_requests, 1, "no re-init was started");
    assert!(!manager.state().is_initialized);
    assert_eq!(manager.csrf_token(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_session_during_an_init_leaves_no_session_on_the_server() {
    // The init is caught before it reaches the server, and after the server answered.
    for answered in [false, true] {
        let server = TestServer::start(|_| {}).await;
        let (manager, transport, _clock) = manager(&server);
        let gate = Gate::new();
        let fault = match answered {
            false => Fault::HoldRequest(gate.clone()),
            true => Fault::HoldResponse(gate.clone()),
        };
        transport.inject(INIT, Some(1), fault);
        let init = {
            let manager = manager.clone();
            tokio::spawn(async move { manager.ensure_session().await })
        };
        gate.reached().await;
        let close = {
            let manager = manager.clone();
            tokio::spawn(async move { manager.close_session().await })
        };
        // The init is released only once the close has begun (it drops the init from
        // the state), however late a loaded machine runs the close's task.
        eventually("the close has begun", || !manager.state().is_initializing).await;
        gate.release();

        assert_eq!(init.await.unwrap(), Err(ClientError::Superseded));
        assert!(
            close.await.unwrap().unwrap(),
            "answered={answered}: the session the init created is the one closed"
        );
        assert_eq!(server.metric("trusty_sessions_created_total").await, 1);
        assert_eq!(
            server.metric("trusty_sessions_closed_total").await,
            1,
            "answered={answered}: nothing is left alive on the server"
        );
        assert_eq!(
            transport.inner.cookie_header(),
            None,
            "answered={answered}: the jar cannot revive it"
        );
        manager.ensure_session().await.unwrap();
        assert_eq!(
            server.metric("trusty_sessions_created_total").await,
            2,
            "answered={answered}: the next session is a new one"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_init_failing_late_leaves_a_newer_init_joinable() {
    let server = TestServer::start(|_| {}).await;
    let transport = FaultyTransport::new(&server.base);
    let config = ManagerConfig {
        max_init_attempts: 1,
        ..ManagerConfig::default()
    };
    let manager = SessionManager::with_clock(transport.clone(), config, ManualClock::new());
    let (older_gate, newer_gate) = (Gate::new(), Gate::new());
    transport.inject(INIT, Some(1), Fault::HoldThenDrop(older_gate.clone()));
    let older = {
        let manager = manager.clone();
        tokio::spawn(async move { manager.ensure_session().await })
    };
    older_gate.reached().await;
    transport.inject(INIT, Some(1), Fault::HoldResponse(newer_gate.clone()));
    let newer = {
        let manager = manager.clone();
        tokio::spawn(async move { manager.init_session(true).await })
    };
    newer_gate.reached().await;

    older_gate.release();
    assert!(matches!(older.await.unwrap(), Err(ClientError::Network(_))));
    assert!(
        manager.state().is_initializing,
        "the newer init is still tracked as in flight"
    );
    let joiner = {
        let manager = manager.clone();
        tokio::spawn(async move { manager.ensure_session().await })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(
        manager.counts().init_requests,
        2,
        "a caller arriving now joins the newer init instead of starting a third"
    );
    newer_gate.release();
    let newer = newer.await.unwrap().unwrap();
    assert_eq!(joiner.await.unwrap().unwrap(), newer);
    assert_eq!(manager.counts().init_requests, 2);
    assert_eq!(
        manager.state().last_error,
        None,
        "the newer success clears it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_caller_dropping_its_future_does_not_cancel_the_init() {
    let server = TestServer::start(|_| {}).await;
    let (manager, transport, _clock) = manager(&server);
    let gate = Gate::new();
    transport.inject(INIT, Some(1), Fault::HoldRequest(gate.clone()));
    let caller = {
        let manager = manager.clone();
        tokio::spawn(async move { manager.ensure_session().await })
    };
    gate.reached().await;
    caller.abort();
    assert!(caller.await.unwrap_err().is_cancelled());
    gate.release();

    eventually("the manager becomes initialized", || {
        manager.state().is_initialized
    })
    .await;
    assert_eq!(manager.counts().init_requests, 1);
    assert_eq!(server.metric("trusty_sessions_created_total").await, 1);
    // The flight's result is what every later caller gets, without another request.
    manager.ensure_session().await.unwrap();
    assert_eq!(manager.counts().init_requests, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flight_whose_runtime_shut_down_is_not_cached() {
    let server = TestServer::start(|_| {}).await;
    let (manager, transport, _clock) = manager(&server);
    let gate = Gate::new();
    transport.inject(INIT, Some(1), Fault::HoldRequest(gate.clone()));
    let (doomed, held) = (manager.clone(), gate.clone());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            tokio::spawn(async move { doomed.ensure_session().await });
            held.reached().await;
        });
        drop(runtime); // the flight's task dies with its runtime
    })
    .join()
    .unwrap();
    assert!(
        !manager.state().is_initializing,
        "the dead flight unhooked itself"
    );

    let session = manager
        .ensure_session()
        .await
        .expect("a new flight, not a cached failure");
    assert_eq!(manager.csrf_token().as_deref(), Some(&*session.csrf_token));
    assert_eq!(manager.counts().init_requests, 2);
    assert_eq!(server.metric("trusty_sessions_created_total").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_init_asked_for_during_a_close_waits_for_it_and_gets_a_live_session() {
    let server = TestServer::start(|_| {}).await;
    let (manager, transport, _clock) = manager(&server);
    let first = manager.ensure_session().await.unwrap();
    let gate = Gate::new();
    transport.inject(
        "/api/session/close",
        Some(1),
        Fault::HoldRequest(gate.clone()),
    );
    let close = {
        let manager = manager.clone();
        tokio::spawn(async move { manager.close_session().await })
    };
    gate.reached().await; // the close is under way; the old cookie is still live
    let next = {
        let manager = manager.clone();
        tokio::spawn(async move { manager.ensure_session().await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        manager.counts().init_requests,
        1,
        "the new init waits until the close has settled"
    );
    gate.release();

    assert!(close.await.unwrap().unwrap());
    let next = next.await.unwrap().unwrap();
    assert_ne!(next.id, first.id, "not the session being closed");
    assert_eq!(
        manager.api().session_status().await.unwrap().id.as_str(),
        &*next.id,
        "the session held is alive on the server"
    );
    assert_eq!(server.metric("trusty_sessions_created_total").await, 2);
}

/// Two tabs of one browser: one cookie jar and one clock (`Date.now()` is shared).
fn browser_tab(
    server: &TestServer,
    jar: &Arc<Jar>,
    clock: &Arc<ManualClock>,
) -> (SessionManager, Arc<FaultyTransport>) {
    let transport = FaultyTransport::with_jar(&server.base, Arc::clone(jar));
    let manager =
        SessionManager::with_clock(transport.clone(), ManagerConfig::default(), clock.clone());
    (manager, transport)
}

/// Collects a manager's events, as the web UI's tab link forwards them.
fn announcements(manager: &SessionManager) -> (Subscription, Arc<Mutex<Vec<SessionEvent>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    let subscription = manager.subscribe_events(move |e| sink.lock().unwrap().push(e.clone()));
    (subscription, log)
}

/// The session of the last `Rotated` or `Initialized` event in `log`.
fn last_announced(log: &Mutex<Vec<SessionEvent>>) -> SessionSnapshot {
    log.lock()
        .unwrap()
        .iter()
        .rev()
        .find_map(|event| match event {
            SessionEvent::Initialized(s) | SessionEvent::Rotated(s) => Some(s.clone()),
            _ => None,
        })
        .expect("a session was announced")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopting_a_session_announced_before_a_close_never_revives_it() {
    let server = TestServer::start(|_| {}).await;
    let (jar, clock) = (Arc::new(Jar::default()), ManualClock::new());
    let (tab_a, a_transport) = browser_tab(&server, &jar, &clock);
    let (tab_b, _) = browser_tab(&server, &jar, &clock);
    let closed = tab_a.ensure_session().await.unwrap();
    assert_eq!(tab_b.ensure_session().await.unwrap().id, closed.id);
    let (_b_events, b_log) = announcements(&tab_b);
    clock.advance(Duration::from_secs(1));
    tab_b.api().rotate_csrf().await.unwrap();
    // B's `Rotated(S)`, still on its way to tab A.
    let announced = last_announced(&b_log);
    assert_eq!(announced.id, closed.id);

    let gate = Gate::new();
    a_transport.inject(
        "/api/session/close",
        Some(1),
        Fault::HoldRequest(gate.clone()),
    );
    let close = {
        let tab_a = tab_a.clone();
        tokio::spawn(async move { tab_a.close_session().await })
    };
    gate.reached().await; // A's close is under way
    assert!(
        !tab_a.adopt(announced.clone()),
        "a session announced while a close is in progress is not adopted"
    );
    assert_eq!(tab_a.session(), None);
    gate.release();
    assert!(close.await.unwrap().unwrap(), "S is closed on the server");

    // The announcement arrives late, after the close has settled.
    assert!(
        !tab_a.adopt(announced),
        "a session announced before the close is not adopted after it either"
    );
    assert!(!tab_a.state().is_initialized);
    assert_eq!(tab_a.csrf_token(), None);
    let next = tab_a.ensure_session().await.unwrap();
    assert_ne!(next.id, closed.id);
    assert_eq!(
        tab_a.counts().init_requests,
        2,
        "the next call initializes openly, as after any close"
    );
    assert_eq!(server.metric("trusty_sessions_created_total").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_closed_here_is_never_adopted_again_even_if_announced_with_a_later_clock() {
    // A held the session when it closed it (and B reloads it meanwhile, same token),
    // or A held nothing and closed the cookie's (and B rotates its token meanwhile, so
    // the close re-reads the token and so learns the id).
    for a_held_it in [true, false] {
        let server = TestServer::start(|_| {}).await;
        let jar = Arc::new(Jar::default());
        let (a_clock, b_clock) = (ManualClock::new(), ManualClock::new());
        let (tab_a, a_transport) = browser_tab(&server, &jar, &a_clock);
        let (tab_b, _) = browser_tab(&server, &jar, &b_clock);
        let closed = tab_b.ensure_session().await.unwrap();
        if a_held_it {
            assert_eq!(tab_a.ensure_session().await.unwrap().id, closed.id);
        }
        let (_b_events, b_log) = announcements(&tab_b);

        let gate = Gate::new();
        a_transport.inject(
            "/api/session/close",
            Some(1),
            Fault::HoldRequest(gate.clone()),
        );
        let close = {
            let tab_a = tab_a.clone();
            tokio::spawn(async move { tab_a.close_session().await })
        };
        gate.reached().await;
        // B, whose clock runs a minute ahead, obtains the session anew before the
        // close lands: its snapshot looks newer than anything A's clock knows.
        b_clock.advance(Duration::from_secs(60));
        if a_held_it {
            tab_b.reset_session();
            tab_b.ensure_session().await.unwrap();
        } else {
            tab_b.api().rotate_csrf().await.unwrap();
        }
        let announced = last_announced(&b_log);
        assert_eq!(announced.id, closed.id);
        assert!(announced.obtained_at_millis > a_clock.now());
        gate.release();
        assert!(close.await.unwrap().unwrap());
        assert_eq!(
            tab_a.counts().csrf_refreshes,
            u64::from(!a_held_it),
            "a_held_it={a_held_it}: the close re-read the token only if B rotated it"
        );

        assert!(
            !tab_a.adopt(announced),
            "a_held_it={a_held_it}: the session closed here is never adopted again"
        );
        assert!(!tab_a.state().is_initialized);
        assert_eq!(server.metric("trusty_sessions_closed_total").await, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_announced_after_a_close_settled_is_adopted() {
    let server = TestServer::start(|_| {}).await;
    let (jar, clock) = (Arc::new(Jar::default()), ManualClock::new());
    let (tab_a, _) = browser_tab(&server, &jar, &clock);
    let (tab_b, _) = browser_tab(&server, &jar, &clock);
    let closed = tab_a.ensure_session().await.unwrap();
    assert_eq!(tab_b.ensure_session().await.unwrap().id, closed.id);
    let (_b_events, b_log) = announcements(&tab_b);

    assert!(tab_a.close_session().await.unwrap());
    tab_b.reset_session(); // B hears A's `Closed`, as the tab link does
    clock.advance(Duration::from_secs(1));
    let created = tab_b.ensure_session().await.unwrap();
    assert_ne!(created.id, closed.id);
    assert_eq!(
        last_announced(&b_log),
        created,
        "B announces its new session"
    );

    let before = tab_a.counts();
    assert!(
        tab_a.adopt(created.clone()),
        "a genuinely new session is adopted"
    );
    assert_eq!(tab_a.ensure_session().await.unwrap(), created, "no I/O");
    assert_eq!(tab_a.counts(), before);
    assert_eq!(
        tab_a.api().session_status().await.unwrap().id.as_str(),
        &*created.id
    );
    assert_eq!(server.metric("trusty_sessions_created_total").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_another_tab_closed_the_session_an_older_announcement_of_it_is_not_adopted() {
    let server = TestServer::start(|_| {}).await;
    let (jar, clock) = (Arc::new(Jar::default()), ManualClock::new());
    let (tab_a, _) = browser_tab(&server, &jar, &clock);
    let (tab_b, _) = browser_tab(&server, &jar, &clock);
    let (tab_c, _) = browser_tab(&server, &jar, &clock);
    let closed = tab_a.ensure_session().await.unwrap();
    assert_eq!(tab_b.ensure_session().await.unwrap().id, closed.id);
    assert_eq!(tab_c.ensure_session().await.unwrap().id, closed.id);
    let (_b_events, b_log) = announcements(&tab_b);
    clock.advance(Duration::from_secs(1));
    tab_b.api().rotate_csrf().await.unwrap();
    let announced = last_announced(&b_log); // delayed on its way to A

    clock.advance(Duration::from_secs(1));
    assert!(tab_c.close_session().await.unwrap());
    clock.advance(Duration::from_secs(1));
    tab_a.reset_session(); // A hears C's `Closed`
    assert!(
        !tab_a.adopt(announced),
        "a session obtained before this epoch began is not adopted"
    );
    assert!(!tab_a.state().is_initialized);

    // A rotation obtained after the reset is adopted again.
    tab_b.reset_session(); // B heard the `Closed` too
    let next = tab_b.ensure_session().await.unwrap();
    assert_ne!(next.id, closed.id);
    clock.advance(Duration::from_secs(1));
    tab_b.api().rotate_csrf().await.unwrap();
    let rotated = last_announced(&b_log);
    assert_eq!(rotated.id, next.id);
    assert!(tab_a.adopt(rotated.clone()));
    assert_eq!(tab_a.session(), Some(rotated));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_closing_a_session_it_never_held_adopts_no_announcement_of_it_during_or_after() {
    let server = TestServer::start(|_| {}).await;
    let (jar, clock) = (Arc::new(Jar::default()), ManualClock::new());
    let (tab_a, a_transport) = browser_tab(&server, &jar, &clock);
    let (tab_b, _) = browser_tab(&server, &jar, &clock);
    let closed = tab_b.ensure_session().await.unwrap();
    let (_b_events, b_log) = announcements(&tab_b);

    // A holds nothing: its close presents the cookie's token, so A never learns the id.
    let gate = Gate::new();
    a_transport.inject(
        "/api/session/close",
        Some(1),
        Fault::HoldRequest(gate.clone()),
    );
    let close = {
        let tab_a = tab_a.clone();
        tokio::spawn(async move { tab_a.close_session().await })
    };
    gate.reached().await;
    // After the close began, before it landed, B obtains the session anew (a reload).
    clock.advance(Duration::from_secs(1));
    tab_b.reset_session();
    tab_b.ensure_session().await.unwrap();
    let announced = last_announced(&b_log);
    assert_eq!(announced.id, closed.id);
    assert!(
        !tab_a.adopt(announced.clone()),
        "nothing is adopted while a close is in progress"
    );
    clock.advance(Duration::from_secs(1));
    gate.release();
    assert!(close.await.unwrap().unwrap());
    assert_eq!(
        tab_a.counts().csrf_refreshes,
        0,
        "the close went through with the cookie's token: A never saw the session's id"
    );

    assert!(
        !tab_a.adopt(announced),
        "a session obtained before the close settled is not adopted after it"
    );
    assert!(!tab_a.state().is_initialized);
    assert_eq!(server.metric("trusty_sessions_closed_total").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_an_init_superseded_by_a_close_obtained_is_never_adopted() {
    let server = TestServer::start(|_| {}).await;
    let jar = Arc::new(Jar::default());
    let (a_clock, b_clock) = (ManualClock::new(), ManualClock::new());
    let (tab_a, a_transport) = browser_tab(&server, &jar, &a_clock);
    let (tab_b, _) = browser_tab(&server, &jar, &b_clock);
    let (_b_events, b_log) = announcements(&tab_b);
    let (init_gate, close_gate) = (Gate::new(), Gate::new());
    a_transport.inject(INIT, Some(1), Fault::HoldResponse(init_gate.clone()));
    a_transport.inject(
        "/api/session/close",
        Some(1),
        Fault::HoldRequest(close_gate.clone()),
    );
    let init = {
        let tab_a = tab_a.clone();
        tokio::spawn(async move { tab_a.ensure_session().await })
    };
    init_gate.reached().await; // the server created a session for A's init
    let close = {
        let tab_a = tab_a.clone();
        tokio::spawn(async move { tab_a.close_session().await })
    };
    eventually("the close superseded the init", || {
        !tab_a.state().is_initializing
    })
    .await;
    init_gate.release();
    assert_eq!(init.await.unwrap(), Err(ClientError::Superseded));
    close_gate.reached().await; // the close is about to close what the init obtained
                                // B, its clock a minute ahead, finds that session through the cookie meanwhile.
    b_clock.advance(Duration::from_secs(60));
    let doomed = tab_b.ensure_session().await.unwrap();
    assert_eq!(last_announced(&b_log), doomed);
    close_gate.release();
    assert!(close.await.unwrap().unwrap());

    assert!(
        !tab_a.adopt(doomed),
        "the session the close closed is never adopted, though A never held it"
    );
    assert!(!tab_a.state().is_initialized);
    assert_eq!(server.metric("trusty_sessions_created_total").await, 1);
    assert_eq!(server.metric("trusty_sessions_closed_total").await, 1);
}
