//! CSRF defence over real HTTP. Each test is named after the rule it checks.
//! The probe is `POST /api/session/csrf`: 200 when the request passes, 403 otherwise.

mod common;

use std::time::Duration;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;

const PROBE: &str = "/api/session/csrf";

/// The probe request as `creds` would send it, plus `extra` headers.
async fn probe(
    server: &TestServer,
    creds: &Creds,
    extra: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let cookie = creds.cookie_header();
    send(
        server,
        Method::POST,
        PROBE,
        Some(&cookie),
        Some(&creds.csrf),
        extra,
    )
    .await
}

fn assert_csrf_rejected(status: StatusCode, body: &Value, reason: &str) {
    let details = assert_error(status, body, StatusCode::FORBIDDEN, "CSRFValidationError");
    assert_eq!(details["reason"], reason, "{body}");
}

#[tokio::test]
async fn unsafe_methods_without_the_header_are_refused() {
    let server = TestServer::start(|_| {}).await;
    let creds = new_session(&server).await;
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        // The cookie alone (which a cross-site request would carry) is never enough.
        let (status, _, body) = send(
            &server,
            method.clone(),
            PROBE,
            Some(&creds.cookie_header()),
            None,
            &[],
        )
        .await;
        assert_csrf_rejected(status, &body, "missing_token");
    }
    let (status, _, body) = send(
        &server,
        Method::POST,
        PROBE,
        Some(&creds.cookie_header()),
        Some(""),
        &[],
    )
    .await;
    assert_csrf_rejected(status, &body, "missing_token");
    assert_eq!(
        metric(
            &server,
            "trusty_csrf_rejections_total{reason=\"missing_token\"}"
        )
        .await,
        5
    );
    // The well-formed request passes, so the refusals above were about the header.
    let (status, _, body) = post_with(&server, PROBE, &creds).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn unknown_api_paths_and_wrong_methods_are_checked_too() {
    let server = TestServer::start(|_| {}).await;
    let creds = new_session(&server).await;
    for path in [
        "/api/nope",
        "/api/",
        "/api",
        "/api/session/init/extra",
        "/api/health",
    ] {
        let (status, _, body) = send(
            &server,
            Method::DELETE,
            path,
            Some(&creds.cookie_header()),
            None,
            &[],
        )
        .await;
        assert_csrf_rejected(status, &body, "missing_token");
    }
    // With a valid token they get their real answers: not found, method not allowed.
    let (status, _, body) = send(
        &server,
        Method::DELETE,
        "/api/nope",
        Some(&creds.cookie_header()),
        Some(&creds.csrf),
        &[],
    )
    .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "ResourceNotFound");
}

#[tokio::test]
async fn header_not_equal_to_the_cookie_is_refused() {
    let server = TestServer::start(|_| {}).await;
    let creds = new_session(&server).await;
    let mut wrong = creds.csrf.clone().into_bytes();
    wrong[5] = if wrong[5] == b'x' { b'y' } else { b'x' };
    let wrong = String::from_utf8(wrong).unwrap();
    let longer = format!("{}A", creds.csrf);
    let shorter = creds.csrf[..20].to_owned();
    for header in [wrong.as_str(), longer.as_str(), shorter.as_str()] {
        let (status, _, body) = send(
            &server,
            Method::POST,
            PROBE,
            Some(&creds.cookie_header()),
            Some(header),
            &[],
        )
        .await;
        assert_csrf_rejected(status, &body, "token_mismatch");
    }
    // Non-ASCII header value.
    let request = client()
        .post(server.url(PROBE))
        .header("cookie", creds.cookie_header())
        .header(
            "x-csrf-token",
            reqwest::header::HeaderValue::from_bytes("tökén".as_bytes()).unwrap(),
        );
    let (status, _, body) = split(request.send().await.unwrap()).await;
    assert_csrf_rejected(status, &body, "token_mismatch");
    // Header without any CSRF cookie.
    let only_session = format!("{SESSION_COOKIE}={}", creds.session);
    let (status, _, body) = send(
        &server,
        Method::POST,
        PROBE,
        Some(&only_session),
        Some(&creds.csrf),
        &[],
    )
    .await;
    assert_csrf_rejected(status, &body, "token_mismatch");
}

#[tokio::test]
async fn a_token_of_another_session_planted_in_cookie_and_header_is_refused() {
    let server = TestServer::start(|_| {}).await;
    let victim = new_session(&server).await;
    let attacker = new_session(&server).await;
    let planted = Creds {
        csrf: attacker.csrf.clone(),
        ..victim.clone()
    };
    let (status, _, body) = post_with(&server, PROBE, &planted).await;
    assert_csrf_rejected(status, &body, "bad_signature");
    // A made-up token of the right shape fails the same way.
    let invented = Creds {
        csrf: "A".repeat(64),
        ..victim.clone()
    };
    let (status, _, body) = post_with(&server, PROBE, &invented).await;
    assert_csrf_rejected(status, &body, "bad_signature");
    // A token of the wrong shape.
    let malformed = Creds {
        csrf: "not-a-token".to_owned(),
        ..victim.clone()
    };
    let (status, _, body) = post_with(&server, PROBE, &malformed).await;
    assert_csrf_rejected(status, &body, "malformed_token");
}

#[tokio::test]
async fn a_tampered_token_is_refused() {
    let server = TestServer::start(|_| {}).await;
    let creds = new_session(&server).await;
    for position in [0, 30, 63] {
        let mut token = creds.csrf.clone().into_bytes();
        token[position] = if token[position] == b'Q' { b'R' } else { b'Q' };
        let tampered = Creds {
            csrf: String::from_utf8(token).unwrap(),
            ..creds.clone()
        };
        let (status, _, body) = post_with(&server, PROBE, &tampered).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"]["type"], "CSRFValidationError");
    }
}

fn write_keys(path: &std::path::Path, keys: &[&str]) {
    std::fs::write(path, keys.join("\n")).unwrap();
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_refused_and_rotation_keeps_old_keys_valid() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("keys");
    let (old_key, new_key) = ("11".repeat(32), "22".repeat(32));
    let start = |keys: &[&str]| {
        write_keys(&key_file, keys);
        let key_file = key_file.clone();
        TestServer::start_in(dir.path(), move |c| {
            c.store = trustyconvert_server::StoreKind::Embedded;
            c.secret_key_file = Some(key_file);
        })
    };

    let server = start(&[&old_key]).await;
    let creds = new_session(&server).await;
    server.stop().await;

    // Only the new key: the session exists, but its token was signed with another key.
    let server = start(&[&new_key]).await;
    assert_eq!(status_of(&server, &creds).await, StatusCode::OK);
    let (status, _, body) = post_with(&server, PROBE, &creds).await;
    assert_csrf_rejected(status, &body, "bad_signature");
    server.stop().await;

    // Rotation: the new key signs, the old one still verifies.
    let server = start(&[&new_key, &old_key]).await;
    let (status, _, body) = post_with(&server, PROBE, &creds).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "old-key token must verify during rotation: {body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn cross_site_fetch_metadata_is_refused_unless_allow_listed() {
    let server =
        TestServer::start(|c| c.allowed_origins = vec!["https://app.example".to_owned()]).await;
    let creds = new_session(&server).await;
    let cross = [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://evil.example"),
    ];
    let (status, _, body) = probe(&server, &creds, &cross).await;
    assert_csrf_rejected(status, &body, "cross_site");
    assert_eq!(
        metric(
            &server,
            "trusty_csrf_rejections_total{reason=\"cross_site\"}"
        )
        .await,
        1
    );

    let mut creds = creds;
    for headers in [
        vec![
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://app.example"),
        ],
        vec![("sec-fetch-site", "same-origin")],
        vec![("sec-fetch-site", "none")],
    ] {
        let (status, response_headers, body) = probe(&server, &creds, &headers).await;
        assert_eq!(status, StatusCode::OK, "{headers:?}: {body}");
        creds.csrf = cookie_value(&response_headers, CSRF_COOKIE).unwrap();
    }
}

#[tokio::test]
async fn origin_without_fetch_metadata_must_match_host_or_allow_list() {
    let server =
        TestServer::start(|c| c.allowed_origins = vec!["https://allowed.example".to_owned()]).await;
    let creds = new_session(&server).await;
    for (origin, reason) in [
        ("https://evil.example", "origin_mismatch"),
        ("https://allowed.example.evil.example", "origin_mismatch"),
        ("null", "origin_null"),
    ] {
        let (status, _, body) = probe(&server, &creds, &[("origin", origin)]).await;
        assert_csrf_rejected(status, &body, reason);
    }
    let host_origin = server.base.clone();
    let mut creds = creds;
    for origin in [host_origin.as_str(), "https://allowed.example"] {
        let (status, headers, body) = probe(&server, &creds, &[("origin", origin)]).await;
        assert_eq!(status, StatusCode::OK, "{origin}: {body}");
        creds.csrf = cookie_value(&headers, CSRF_COOKIE).unwrap();
    }
}

#[tokio::test]
async fn form_content_types_are_refused_on_unsafe_requests() {
    let server = TestServer::start(|_| {}).await;
    let creds = new_session(&server).await;
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "text/plain; charset=utf-8",
    ] {
        let (status, _, body) = probe(&server, &creds, &[("content-type", content_type)]).await;
        assert_csrf_rejected(status, &body, "content_type");
    }
    let (status, _, body) = probe(&server, &creds, &[("content-type", "application/json")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn rotation_issues_a_new_token_and_the_old_one_works_only_inside_the_grace_window() {
    let server = TestServer::start(|c| c.timeouts.csrf_grace = Duration::from_millis(1500)).await;

    // Inside the grace window the previous token still passes (other tabs keep working).
    let creds = new_session(&server).await;
    let (status, headers, body) = post_with(&server, PROBE, &creds).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rotated = cookie_value(&headers, CSRF_COOKIE).unwrap();
    assert_ne!(rotated, creds.csrf);
    assert_eq!(body["data"]["csrf_token"], rotated.as_str());
    assert_eq!(headers["cache-control"], "no-store");
    let (status, _, body) = post_with(&server, PROBE, &creds).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "previous token inside the grace window: {body}"
    );

    // After the window the previous token is refused; the new one works.
    let creds = new_session(&server).await;
    let (_, headers, _) = post_with(&server, PROBE, &creds).await;
    let rotated = Creds {
        csrf: cookie_value(&headers, CSRF_COOKIE).unwrap(),
        ..creds.clone()
    };
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let (status, _, body) = post_with(&server, PROBE, &creds).await;
    assert_csrf_rejected(status, &body, "stale_token");
    let (status, _, body) = post_with(&server, PROBE, &rotated).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn unsafe_request_with_a_valid_looking_token_but_no_session_is_401() {
    let server = TestServer::start(|_| {}).await;
    let creds = new_session(&server).await;
    let (status, _, _) = post_with(&server, "/api/session/close", &creds).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = post_with(&server, PROBE, &creds).await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "SessionValidationError",
    );
}

#[tokio::test]
async fn cors_allows_only_listed_origins_with_credentials() {
    let server =
        TestServer::start(|c| c.allowed_origins = vec!["https://app.example".to_owned()]).await;
    let preflight = |origin: &'static str| {
        client()
            .request(Method::OPTIONS, server.url(PROBE))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "x-csrf-token, content-type",
            )
            .send()
    };
    let allowed = preflight("https://app.example").await.unwrap();
    assert!(allowed.status().is_success());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(
        allowed.headers()["access-control-allow-credentials"],
        "true"
    );
    let allow_headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allow_headers.contains("x-csrf-token"), "{allow_headers}");

    let denied = preflight("https://evil.example").await.unwrap();
    assert!(denied
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    let simple = client()
        .get(server.url("/api/health"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        simple.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_ne!(simple.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn without_allowed_origins_no_cross_origin_caller_is_granted_anything() {
    let server = TestServer::start(|_| {}).await;
    let preflight = client()
        .request(Method::OPTIONS, server.url(PROBE))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "x-csrf-token")
        .send()
        .await
        .unwrap();
    let simple = client()
        .get(server.url("/api/health"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(simple.status(), StatusCode::OK);
    for response in [&preflight, &simple] {
        for name in [
            "access-control-allow-origin",
            "access-control-allow-credentials",
            "access-control-allow-methods",
            "access-control-allow-headers",
        ] {
            assert!(response.headers().get(name).is_none(), "{name} was sent");
        }
    }
}
