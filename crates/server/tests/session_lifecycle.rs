//! Session lifecycle over real HTTP: cookies, init, force, status, close, timeouts.
//! Each test is named after the rule it checks.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use reqwest::{Method, StatusCode};
use trustyconvert_server::StoreKind;

fn attributes(line: &str) -> Vec<String> {
    line.split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

#[tokio::test]
async fn cookie_attributes_of_both_cookies() {
    let server = TestServer::start(|_| {}).await;
    let (status, headers, _) = init_raw(&server, None, "").await;
    assert_eq!(status, StatusCode::OK);

    let session = attributes(&set_cookie_for(&headers, SESSION_COOKIE).unwrap());
    for expected in ["httponly", "secure", "samesite=lax", "path=/"] {
        assert!(
            session.contains(&expected.to_owned()),
            "session cookie lacks {expected}: {session:?}"
        );
    }
    let csrf = attributes(&set_cookie_for(&headers, CSRF_COOKIE).unwrap());
    for expected in ["secure", "samesite=lax", "path=/"] {
        assert!(
            csrf.contains(&expected.to_owned()),
            "csrf cookie lacks {expected}: {csrf:?}"
        );
    }
    assert!(
        !csrf.contains(&"httponly".to_owned()),
        "the CSRF cookie must be readable by scripts"
    );
    for attrs in [&session, &csrf] {
        assert!(
            !attrs.iter().any(|a| a.starts_with("domain")),
            "no Domain attribute: {attrs:?}"
        );
        assert!(attrs.iter().any(|a| a.starts_with("max-age=")), "{attrs:?}");
    }
    assert_eq!(headers["cache-control"], "no-store");
    let total: usize = set_cookies(&headers).iter().map(String::len).sum();
    assert!(total < 4096, "cookies take {total} bytes");
}

#[tokio::test]
async fn dev_switch_drops_secure_and_host_prefix_is_applied() {
    let server = TestServer::start(|c| c.cookies.secure = false).await;
    let (_, headers, _) = init_raw(&server, None, "").await;
    assert!(
        !attributes(&set_cookie_for(&headers, SESSION_COOKIE).unwrap())
            .contains(&"secure".to_owned())
    );

    let server = TestServer::start(|c| c.cookies.host_prefix = true).await;
    let (_, headers, _) = init_raw(&server, None, "").await;
    assert!(set_cookie_for(&headers, "__Host-trustyconvert_session").is_some());
    assert!(set_cookie_for(&headers, "__Host-csrftoken").is_some());
}

#[tokio::test]
async fn body_carries_a_public_handle_not_the_secret() {
    let server = TestServer::start(|_| {}).await;
    let (_, headers, body) = init_raw(&server, None, "").await;
    let creds = creds_from(&headers, &body);
    assert_ne!(creds.id, creds.session);
    assert!(
        !body.to_string().contains(&creds.session),
        "secret id leaked into the body"
    );
    assert_eq!(body["data"]["csrf_token"], creds.csrf.as_str());
    assert!(creds.session.len() >= 22, "at least 128 bits of base64");
    assert!(
        creds.expires_at.ends_with('Z'),
        "RFC 3339 UTC: {}",
        creds.expires_at
    );
}

#[tokio::test]
async fn init_twice_with_the_cookie_returns_the_same_session() {
    let server = TestServer::start(|_| {}).await;
    let first = new_session(&server).await;
    let (status, headers, body) = init_raw(&server, Some(&first.cookie_header()), "").await;
    assert_eq!(status, StatusCode::OK);
    let second = creds_from(&headers, &body);
    assert_eq!(second.id, first.id);
    assert_eq!(
        second.session, first.session,
        "both cookies are re-sent unchanged"
    );
    assert_eq!(second.csrf, first.csrf);
    assert_eq!(metric(&server, "trusty_sessions_created_total").await, 1);
    assert_eq!(
        metric(&server, "trusty_session_init_requests_total").await,
        2
    );
}

#[tokio::test]
async fn force_replaces_the_session_and_kills_the_old_one() {
    let server = TestServer::start(|_| {}).await;
    let old = new_session(&server).await;
    let (status, headers, body) = init_with(
        &server,
        Some(&old.cookie_header()),
        "?force=true",
        &[("sec-fetch-site", "same-origin")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let new = creds_from(&headers, &body);
    assert_ne!(new.id, old.id);
    assert_ne!(new.session, old.session);
    assert_ne!(new.csrf, old.csrf);
    assert_eq!(status_of(&server, &old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_of(&server, &new).await, StatusCode::OK);
}

#[tokio::test]
async fn force_from_another_site_is_a_plain_init_that_destroys_nothing() {
    let server = TestServer::start(|_| {}).await;
    let old = new_session(&server).await;
    let forced = |site: &'static str| {
        client()
            .get(server.url("/api/session/init?force=true"))
            .header("cookie", old.cookie_header())
            .header("sec-fetch-site", site)
            .header("sec-fetch-mode", "navigate")
            .send()
    };
    // A plain link on another site: the visitor keeps their session (and files).
    let (status, _, body) = split(forced("cross-site").await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["data"]["id"],
        old.id.as_str(),
        "the same session, not a new one"
    );
    assert_eq!(status_of(&server, &old).await, StatusCode::OK);
    assert_eq!(metric(&server, "trusty_sessions_created_total").await, 1);

    // The page itself asking: honoured.
    let (status, headers, body) = split(forced("same-origin").await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(creds_from(&headers, &body).id, old.id);
    assert_eq!(status_of(&server, &old).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_init_query_is_a_validation_error() {
    let server = TestServer::start(|_| {}).await;
    let (status, _, body) = init_raw(&server, None, "?force=maybe").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "ValidationError");
}

#[tokio::test]
async fn status_reports_the_session_and_creates_nothing() {
    let server = TestServer::start(|_| {}).await;
    let (status, headers, body) = send(&server, Method::GET, "/api/session", None, None, &[]).await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "SessionValidationError",
    );
    assert!(set_cookies(&headers).is_empty());
    assert_eq!(metric(&server, "trusty_sessions_created_total").await, 0);

    let creds = new_session(&server).await;
    let stale = Creds {
        csrf: "stale".to_owned(),
        ..creds.clone()
    };
    let cookie = stale.cookie_header();
    let (status, headers, body) = send(
        &server,
        Method::GET,
        "/api/session",
        Some(&cookie),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["id"], creds.id.as_str());
    assert_eq!(body["data"]["csrf_token"], creds.csrf.as_str());
    // The CSRF cookie is re-sent with the current token (resync after a rotation
    // elsewhere); the session cookie is left alone.
    assert_eq!(
        cookie_value(&headers, CSRF_COOKIE).as_deref(),
        Some(creds.csrf.as_str())
    );
    assert_eq!(cookie_value(&headers, SESSION_COOKIE), None);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(metric(&server, "trusty_sessions_created_total").await, 1);
}

#[tokio::test]
async fn close_expires_cookies_and_the_old_cookie_gets_401() {
    let server = TestServer::start(|_| {}).await;
    let creds = new_session(&server).await;
    let (status, headers, body) = post_with(&server, "/api/session/close", &creds).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["message"].as_str().is_some());
    for name in [SESSION_COOKIE, CSRF_COOKIE] {
        let attrs = attributes(&set_cookie_for(&headers, name).unwrap());
        assert!(attrs.contains(&"max-age=0".to_owned()), "{name}: {attrs:?}");
        assert!(attrs.contains(&"path=/".to_owned()), "{name}: {attrs:?}");
    }
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(status_of(&server, &creds).await, StatusCode::UNAUTHORIZED);
    let (status, _, body) = post_with(&server, "/api/session/close", &creds).await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "SessionValidationError",
    );
}

#[tokio::test]
async fn malformed_oversized_non_ascii_and_unknown_cookies_are_no_session() {
    let server = TestServer::start(|_| {}).await;
    let unknown = format!("{SESSION_COOKIE}={}", "A".repeat(43));
    let oversized = format!("{SESSION_COOKIE}={}", "A".repeat(8000));
    let cookies: Vec<Vec<u8>> = vec![
        unknown.into_bytes(),
        oversized.into_bytes(),
        format!("{SESSION_COOKIE}=not-a-session").into_bytes(),
        format!("{SESSION_COOKIE}=").into_bytes(),
        format!("{SESSION_COOKIE}=\"quoted\"; {SESSION_COOKIE}=x").into_bytes(),
        [
            format!("{SESSION_COOKIE}=").as_bytes(),
            "é".repeat(21).as_bytes(),
            b"\xff",
        ]
        .concat(),
    ];
    for cookie in cookies {
        let request = client().get(server.url("/api/session")).header(
            "cookie",
            reqwest::header::HeaderValue::from_bytes(&cookie).unwrap(),
        );
        let (status, _, body) = split(request.send().await.unwrap()).await;
        assert_error(
            status,
            &body,
            StatusCode::UNAUTHORIZED,
            "SessionValidationError",
        );
    }
    // Init with a junk cookie creates a fresh session rather than failing.
    let (status, headers, _) = init_raw(
        &server,
        Some(&format!("{SESSION_COOKIE}={}", "B".repeat(43))),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(
        cookie_value(&headers, SESSION_COOKIE).unwrap(),
        "B".repeat(43)
    );
}

#[tokio::test]
async fn five_hundred_concurrent_inits_all_succeed_with_distinct_sessions() {
    for store in [StoreKind::Memory, StoreKind::Embedded] {
        let server = TestServer::start(|c| {
            c.store = store.clone();
            c.rate_limits.init_per_minute = 0; // a load test, not a limit test
            c.http.max_connections_per_address = c.http.max_connections; // one address
        })
        .await;
        let client = client();
        let requests = (0..500).map(|_| {
            let request = client.get(server.url("/api/session/init"));
            async move { split(request.send().await.unwrap()).await }
        });
        let responses = futures_join_all(requests).await;
        let mut ids = HashSet::new();
        let mut secrets = HashSet::new();
        for (status, headers, body) in responses {
            assert_eq!(status, StatusCode::OK, "{store:?}: {body}");
            let creds = creds_from(&headers, &body);
            ids.insert(creds.id);
            secrets.insert(creds.session);
        }
        assert_eq!(ids.len(), 500, "{store:?}");
        assert_eq!(secrets.len(), 500, "{store:?}");
        assert_eq!(metric(&server, "trusty_sessions_created_total").await, 500);
        server.stop().await;
    }
}

/// Runs futures concurrently on the runtime (tokio tasks, no extra crate).
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        outputs.push(handle.await.unwrap());
    }
    outputs
}

#[tokio::test]
async fn idle_timeout_expires_an_unused_session() {
    let server = TestServer::start(|c| c.timeouts.idle = Duration::from_millis(1500)).await;
    let creds = new_session(&server).await;
    assert_eq!(status_of(&server, &creds).await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(status_of(&server, &creds).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn activity_extends_idle_but_not_absolute() {
    // The absolute timeout is far (3 s) past the last request that must succeed, so a
    // slow request on a loaded machine cannot reach it.
    let server = TestServer::start(|c| {
        c.timeouts.idle = Duration::from_millis(2000);
        c.timeouts.absolute = Duration::from_millis(6000);
    })
    .await;
    let creds = new_session(&server).await;
    let started = std::time::Instant::now();
    // Active every 300 ms: past one and a half idle periods, the session stays alive.
    while started.elapsed() < Duration::from_millis(3000) {
        assert_eq!(status_of(&server, &creds).await, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Still active, but the absolute timeout ends it.
    while started.elapsed() < Duration::from_millis(6500) {
        let _ = status_of(&server, &creds).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(status_of(&server, &creds).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_concurrent_request_does_not_resurrect_a_closed_session() {
    let server = TestServer::start(|_| {}).await;
    for _ in 0..20 {
        let creds = new_session(&server).await;
        let cookie = creds.cookie_header();
        let (close, init) = tokio::join!(
            post_with(&server, "/api/session/close", &creds),
            init_raw(&server, Some(&cookie), ""),
        );
        assert_eq!(close.0, StatusCode::OK, "{}", close.2);
        assert_eq!(init.0, StatusCode::OK);
        // Whatever the interleaving, the closed session stays dead.
        assert_eq!(status_of(&server, &creds).await, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn expired_sessions_are_swept_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), |c| {
        c.store = trustyconvert_server::StoreKind::Embedded;
        c.timeouts.idle = Duration::from_millis(1000);
        c.timeouts.sweep_interval = Duration::from_millis(100);
    })
    .await;
    for _ in 0..5 {
        new_session(&server).await;
    }
    let db = dir
        .path()
        .join(trustyconvert_server::storage::EMBEDDED_DB_FILE);
    assert_eq!(rusqlite_count(&db), 5);
    // Untouched, they expire after 1 s and the sweep (every 100 ms) purges them:
    // waited for, however late a loaded machine runs the sweep.
    eventually("expired sessions are purged", || rusqlite_count(&db) == 0).await;
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_id_writes_nothing_to_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), |c| {
        c.store = trustyconvert_server::StoreKind::Embedded
    })
    .await;
    let planted = Creds {
        session: "C".repeat(43),
        csrf: "D".repeat(64),
        id: String::new(),
        expires_at: String::new(),
    };
    assert_eq!(status_of(&server, &planted).await, StatusCode::UNAUTHORIZED);
    let (status, _, body) = post_with(&server, "/api/session/csrf", &planted).await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "SessionValidationError",
    );
    let db = dir
        .path()
        .join(trustyconvert_server::storage::EMBEDDED_DB_FILE);
    assert_eq!(rusqlite_count(&db), 0);
    server.stop().await;
}

fn rusqlite_count(db: &std::path::Path) -> i64 {
    let connection = rusqlite::Connection::open(db).unwrap();
    connection
        .query_row("SELECT COUNT(*) FROM sessions", [], |row| row.get(0))
        .unwrap()
}

#[tokio::test]
async fn correlation_id_is_echoed_or_generated() {
    let server = TestServer::start(|_| {}).await;
    let (_, headers, body) = send(
        &server,
        Method::GET,
        "/api/session",
        None,
        None,
        &[("x-correlation-id", "test-abc.123")],
    )
    .await;
    assert_eq!(headers["x-correlation-id"], "test-abc.123");
    assert_eq!(body["correlation_id"], "test-abc.123");
    let (_, headers, body) = send(
        &server,
        Method::GET,
        "/api/session",
        None,
        None,
        &[("x-correlation-id", "bad id\twith junk")],
    )
    .await;
    let generated = headers["x-correlation-id"].to_str().unwrap().to_owned();
    assert_ne!(generated, "bad id\twith junk");
    assert_eq!(body["correlation_id"], generated.as_str());
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_envelope() {
    let server = TestServer::start(|_| {}).await;
    let (status, _, body) = send(&server, Method::GET, "/api/nope", None, None, &[]).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "ResourceNotFound");
}

/// `GET /api/session/init` from `forwarded_for` (an `X-Forwarded-For` value), no cookie.
async fn init_from(
    server: &TestServer,
    forwarded_for: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap) {
    let mut request = client().get(server.url("/api/session/init"));
    if let Some(value) = forwarded_for {
        request = request.header("x-forwarded-for", value);
    }
    let (status, headers, _) = split(request.send().await.unwrap()).await;
    (status, headers)
}

#[tokio::test]
async fn new_sessions_are_rate_limited_per_client_but_joining_one_is_free() {
    let server = TestServer::start(|c| c.rate_limits.init_per_minute = 3).await;
    let first = new_session(&server).await;
    for _ in 0..2 {
        assert_eq!(init_from(&server, None).await.0, StatusCode::OK);
    }
    let (status, _, body) = init_raw(&server, None, "").await;
    assert_error(
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "RateLimitExceeded",
    );
    let (status, headers) = init_from(&server, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{headers:?}");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // A live session is still joined (a reload, another tab).
    let (status, _, body) = init_raw(&server, Some(&first.cookie_header()), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["id"], first.id.as_str());
    assert_eq!(metric(&server, "trusty_sessions_created_total").await, 3);
}

#[tokio::test]
async fn a_forced_replacement_counts_as_a_new_session_and_a_refused_one_keeps_the_old() {
    let server = TestServer::start(|c| c.rate_limits.init_per_minute = 2).await;
    let first = new_session(&server).await;
    // Replacing creates a session: it counts.
    let same_origin = [("sec-fetch-site", "same-origin")];
    let (status, headers, body) = init_with(
        &server,
        Some(&first.cookie_header()),
        "?force=true",
        &same_origin,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let second = creds_from(&headers, &body);
    assert_ne!(second.id, first.id);
    // The budget is spent: a further replacement is refused and destroys nothing.
    let (status, _, body) = init_with(
        &server,
        Some(&second.cookie_header()),
        "?force=true",
        &same_origin,
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "RateLimitExceeded",
    );
    assert_eq!(status_of(&server, &second).await, StatusCode::OK);
    assert_eq!(metric(&server, "trusty_sessions_created_total").await, 2);
}

#[tokio::test]
async fn ipv6_clients_are_rate_limited_per_64_network() {
    let server = TestServer::start(|c| {
        c.rate_limits.init_per_minute = 1;
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    assert_eq!(
        init_from(&server, Some("2001:db8:1:2::1")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        init_from(&server, Some("2001:db8:1:2:ffff::9")).await.0,
        StatusCode::TOO_MANY_REQUESTS,
        "another address of the same /64 is the same client"
    );
    assert_eq!(
        init_from(&server, Some("2001:db8:1:3::1")).await.0,
        StatusCode::OK,
        "the next /64 is another client"
    );

    let per_address = TestServer::start(|c| {
        c.rate_limits.init_per_minute = 1;
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        c.client_ipv6_prefix = 128;
    })
    .await;
    for address in ["2001:db8:1:2::1", "2001:db8:1:2::2"] {
        assert_eq!(
            init_from(&per_address, Some(address)).await.0,
            StatusCode::OK,
            "with --client-ipv6-prefix 128 each address counts alone"
        );
    }
}

#[tokio::test]
async fn forwarded_for_counts_only_from_a_trusted_proxy() {
    // Without trusted proxies the header is ignored: spoofing it evades nothing.
    let direct = TestServer::start(|c| c.rate_limits.init_per_minute = 1).await;
    assert_eq!(
        init_from(&direct, Some("203.0.113.1")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        init_from(&direct, Some("203.0.113.2")).await.0,
        StatusCode::TOO_MANY_REQUESTS,
        "a forged X-Forwarded-For from an untrusted peer is ignored"
    );

    // Behind a trusted proxy (this test's loopback) each client has its own budget,
    // keyed by the rightmost address that is not a trusted proxy.
    let proxied = TestServer::start(|c| {
        c.rate_limits.init_per_minute = 1;
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    assert_eq!(
        init_from(&proxied, Some("203.0.113.1")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        init_from(&proxied, Some("203.0.113.1")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        init_from(&proxied, Some("203.0.113.2")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        init_from(&proxied, Some("198.51.100.9, 203.0.113.2, 127.0.0.2"))
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS,
        "a forged left-hand entry does not make a new client"
    );
}
