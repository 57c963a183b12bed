//! Bounded 403/401 recovery of the typed API client against the real server.

mod common;

use common::*;
use reqwest::StatusCode;
use trustyconvert_client::protocol::ErrorType;
use trustyconvert_client::ClientError;

#[tokio::test]
async fn token_rotated_elsewhere_one_refresh_one_replay_then_success() {
    let server = TestServer::start(|c| c.timeouts.csrf_grace = std::time::Duration::ZERO).await;
    let (manager, transport, _clock) = manager(&server);
    let before = manager.ensure_session().await.unwrap();
    // Another client of the same session rotates the token; our copy is now stale.
    assert_eq!(
        post_as_other_client(&server, &transport, "/api/session/csrf").await,
        StatusCode::OK
    );

    let rotated = manager
        .api()
        .rotate_csrf()
        .await
        .expect("recovers and succeeds");
    let counts = manager.counts();
    assert_eq!(counts.csrf_refreshes, 1, "one refresh");
    assert_eq!(counts.replays, 1, "one replay");
    assert_eq!(counts.init_requests, 1, "no re-init for a CSRF failure");
    assert_eq!(
        server
            .metric("trusty_csrf_rejections_total{reason=\"stale_token\"}")
            .await,
        1
    );
    assert_ne!(*rotated.csrf_token, *before.csrf_token);
    assert_eq!(manager.csrf_token().as_deref(), Some(&*rotated.csrf_token));
    assert_eq!(manager.state().last_error, None);
}

#[tokio::test]
async fn a_server_that_always_answers_403_gets_bounded_attempts_and_last_error() {
    let server = TestServer::start(|_| {}).await;
    let (manager, transport, _clock) = manager(&server);
    manager.ensure_session().await.unwrap();
    transport.inject("/api/session/csrf", None, Fault::TamperCsrf);

    let error = manager.api().rotate_csrf().await.expect_err("gives up");
    assert_eq!(error.kind(), Some(ErrorType::CSRFValidationError));
    let counts = manager.counts();
    assert_eq!(counts.csrf_refreshes, 1);
    assert_eq!(counts.replays, 1);
    assert_eq!(
        counts.api_requests, 2,
        "the original request and one replay, no loop"
    );
    assert_eq!(
        server
            .metric("trusty_csrf_rejections_total{reason=\"token_mismatch\"}")
            .await,
        2
    );
    assert_eq!(manager.state().last_error, Some(error));
}

#[tokio::test]
async fn session_closed_elsewhere_one_reinit_one_replay_then_success() {
    let server = TestServer::start(|_| {}).await;
    let (manager, transport, _clock) = manager(&server);
    let old = manager.ensure_session().await.unwrap();
    assert_eq!(
        post_as_other_client(&server, &transport, "/api/session/close").await,
        StatusCode::OK
    );

    manager
        .api()
        .rotate_csrf()
        .await
        .expect("recovers and succeeds");
    let counts = manager.counts();
    assert_eq!(counts.init_requests, 2, "exactly one re-init");
    assert_eq!(counts.replays, 1);
    let new = manager.api().session_status().await.unwrap();
    assert_ne!(
        new.id.as_str(),
        &*old.id,
        "a new session replaced the closed one"
    );
    assert_eq!(server.metric("trusty_sessions_created_total").await, 2);
}

#[tokio::test]
async fn when_the_reinit_after_a_401_fails_its_error_surfaces_without_a_replay() {
    let server = TestServer::start(|_| {}).await;
    let (manager, transport, _clock) = manager(&server);
    manager.ensure_session().await.unwrap();
    // The session dies elsewhere, and every re-init attempt loses its response.
    assert_eq!(
        post_as_other_client(&server, &transport, "/api/session/close").await,
        StatusCode::OK
    );
    transport.inject("/api/session/init", None, Fault::DropResponse);
    let error = manager
        .api()
        .session_status()
        .await
        .expect_err("init cannot succeed");
    assert!(matches!(error, ClientError::Network(_)), "{error:?}");
    assert_eq!(
        manager.counts().api_requests,
        1,
        "no replay without a session"
    );
    assert_eq!(manager.state().last_error, Some(error));
}

#[tokio::test]
async fn close_session_closes_on_the_server_and_resets() {
    let server = TestServer::start(|_| {}).await;
    let (manager, _transport, _clock) = manager(&server);
    manager.ensure_session().await.unwrap();
    assert!(manager.close_session().await.unwrap());
    assert_eq!(manager.csrf_token(), None);
    assert!(!manager.state().is_initialized);
    assert_eq!(server.metric("trusty_sessions_closed_total").await, 1);
    // Closing again (nothing held) is a no-op, not an error and not a new session.
    assert!(!manager.close_session().await.unwrap());
    assert_eq!(server.metric("trusty_sessions_created_total").await, 1);
}
