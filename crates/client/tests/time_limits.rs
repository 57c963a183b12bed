//! Time limits and clock skew: a silent server cannot hold a caller past the deadline,
//! a caller that gives up closes its request, and expiry is judged on the server's
//! terms whatever this client's clock says.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use trustyconvert_client::transport::ReqwestTransport;
use trustyconvert_client::{ClientError, ManagerConfig, SessionManager};

const HOUR: i64 = 3_600_000;

fn over_silent(server: &SilentServer, config: ManagerConfig) -> SessionManager {
    SessionManager::new(
        Arc::new(ReqwestTransport::new(&server.base).unwrap()),
        config,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_a_silent_server_every_ensure_caller_fails_by_the_deadline() {
    let silent = SilentServer::start().await;
    let deadline = Duration::from_secs(2);
    let manager = over_silent(
        &silent,
        ManagerConfig {
            request_timeout: Duration::from_secs(60),
            init_deadline: deadline,
            ..ManagerConfig::default()
        },
    );
    let started = Instant::now();
    let callers: Vec<_> = (0..5)
        .map(|_| {
            let manager = manager.clone();
            tokio::spawn(async move { manager.ensure_session().await })
        })
        .collect();
    let mut errors = Vec::new();
    for caller in callers {
        errors.push(caller.await.unwrap().expect_err("nothing answers"));
    }
    let waited = started.elapsed();
    assert!(
        matches!(&errors[0], ClientError::Timeout(_)),
        "{:?}",
        errors[0]
    );
    assert!(errors.iter().all(|e| *e == errors[0]), "one shared outcome");
    assert!(waited >= deadline, "gave up early: {waited:?}");
    // Generous slack for a loaded machine; without a deadline this waits 60 s per attempt.
    assert!(waited < deadline * 5, "waited {waited:?}");
    assert!(
        silent.connection_closed(Duration::from_secs(5)).await,
        "the abandoned request's connection is closed"
    );
    assert!(manager.state().last_error.is_some());
    assert!(!manager.state().is_initializing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_progress_times_out_after_the_request_timeout() {
    let silent = SilentServer::start().await;
    let timeout = Duration::from_millis(500);
    let manager = over_silent(
        &silent,
        ManagerConfig {
            request_timeout: timeout,
            ..ManagerConfig::default()
        },
    );
    let started = Instant::now();
    let error = manager.api().health().await.expect_err("nothing answers");
    assert!(matches!(error, ClientError::Timeout(_)), "{error:?}");
    assert!(started.elapsed() >= timeout);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(silent.connection_closed(Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_callers_future_aborts_its_request() {
    let silent = SilentServer::start().await;
    let manager = over_silent(&silent, ManagerConfig::default());
    let call = {
        let api = manager.api();
        tokio::spawn(async move { api.health().await })
    };
    silent.request_arrived().await;
    assert!(
        !silent.connection_closed(Duration::from_millis(200)).await,
        "still waiting for the answer"
    );
    call.abort();
    assert!(
        silent.connection_closed(Duration::from_secs(5)).await,
        "the connection closes when the caller gives up"
    );
}

#[tokio::test]
async fn a_client_clock_two_hours_ahead_or_behind_makes_one_init_for_a_series_of_calls() {
    for skew in [2 * HOUR, -2 * HOUR] {
        let server = TestServer::start(|_| {}).await;
        let (manager, _transport, clock) = manager(&server);
        clock.set(clock.now() + skew);
        for _ in 0..5 {
            manager.ensure_session().await.unwrap();
            manager.api().session_status().await.unwrap();
            clock.advance(Duration::from_secs(5 * 60));
        }
        let counts = manager.counts();
        assert_eq!(counts.init_requests, 1, "skew {skew} ms: {counts:?}");
        assert_eq!(counts.sync_requests, 0, "skew {skew} ms");
        assert_eq!(counts.api_requests, 5, "skew {skew} ms: no refusals");
        // The throttle window works on skewed clocks too.
        manager.init_session(false).await.unwrap();
        assert_eq!(manager.counts().init_requests, 2, "skew {skew} ms");
        manager.init_session(false).await.unwrap();
        assert_eq!(
            manager.counts().init_requests,
            2,
            "skew {skew} ms: throttled"
        );
    }
}

#[tokio::test]
async fn with_a_client_clock_two_hours_behind_a_token_known_expired_is_not_sent() {
    let server = TestServer::start(|c| c.timeouts.idle = Duration::from_secs(600)).await;
    let (manager, _transport, clock) = manager(&server);
    clock.set(clock.now() - 2 * HOUR);
    manager.ensure_session().await.unwrap();
    // 601 s later by this client's clock, the 600 s idle lifetime is over.
    clock.advance(Duration::from_secs(601));
    manager.api().rotate_csrf().await.unwrap();
    let counts = manager.counts();
    assert_eq!(counts.init_requests, 2, "re-validated before sending");
    assert_eq!(counts.api_requests, 1);
    assert_eq!(counts.replays, 0);
}
