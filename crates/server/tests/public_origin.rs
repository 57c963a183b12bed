//! Proof of origin over real HTTP: the public origin (configured with
//! `--public-origin`, or derived from `Host`) compared whole — scheme, host and port —
//! on unsafe requests, and the positive proof a forced re-initialization needs.
//! Each test is named after the rule it checks.

mod common;

use common::conversion::{job_status, new_job_id, sample_image, upload};
use common::*;
use image::ImageFormat;
use reqwest::{Method, StatusCode};

/// Host-derived origin of `server` (`http://127.0.0.1:PORT`) with another scheme.
fn https_twin(server: &TestServer) -> String {
    server.base.replacen("http://", "https://", 1)
}

/// `POST /api/session/csrf` from a fresh session with `extra` headers: `Ok` when the
/// origin check lets it through, else the refusal's `details.reason` (after checking
/// it is the typed 403 envelope).
async fn unsafe_request(server: &TestServer, extra: &[(&str, &str)]) -> Result<(), String> {
    let creds = new_session(server).await;
    let cookie = creds.cookie_header();
    let (status, _, body) = send(
        server,
        Method::POST,
        "/api/session/csrf",
        Some(&cookie),
        Some(&creds.csrf),
        extra,
    )
    .await;
    if status == StatusCode::OK {
        return Ok(());
    }
    let details = assert_error(status, &body, StatusCode::FORBIDDEN, "CSRFValidationError");
    Err(details["reason"].as_str().unwrap().to_owned())
}

/// `GET /api/session/init?force=true` for a fresh session with `extra` headers:
/// whether the session was replaced. Checks the old session's fate agrees.
async fn force(server: &TestServer, extra: &[(&str, &str)]) -> bool {
    let old = new_session(server).await;
    let (status, headers, body) =
        init_with(server, Some(&old.cookie_header()), "?force=true", extra).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let replaced = body["data"]["id"] != old.id.as_str();
    let old_status = status_of(server, &old).await;
    if replaced {
        assert_eq!(
            old_status,
            StatusCode::UNAUTHORIZED,
            "replaced: old one gone"
        );
        assert_ne!(creds_from(&headers, &body).session, old.session);
    } else {
        assert_eq!(old_status, StatusCode::OK, "kept: old one still valid");
    }
    replaced
}

/// Job folders under the data directory, over every session.
fn job_folders(server: &TestServer) -> usize {
    let root = server.config.data_dir.join("jobs");
    std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
        .map(|session| std::fs::read_dir(session.path()).map_or(0, Iterator::count))
        .sum()
}

#[tokio::test]
async fn force_with_only_a_cross_site_referer_keeps_the_session_and_its_files() {
    // Safari < 16.4 and Firefox < 90 send neither `Origin` nor `Sec-Fetch-Site` on a
    // top-level navigation: a link on another site carries the cookie and a Referer.
    let server = TestServer::start(|_| {}).await;
    let victim = new_session(&server).await;
    let job_id = new_job_id();
    let (status, _, body) = upload(
        &server,
        &victim,
        &job_id,
        "photo.png",
        sample_image(ImageFormat::Png),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(job_folders(&server), 1);

    let (status, headers, body) = init_with(
        &server,
        Some(&victim.cookie_header()),
        "?force=true",
        &[("referer", "https://evil.example/")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["id"], victim.id.as_str(), "a plain init");
    assert_eq!(
        cookie_value(&headers, SESSION_COOKIE).as_deref(),
        Some(victim.session.as_str()),
        "the same cookie is re-sent"
    );
    assert_eq!(status_of(&server, &victim).await, StatusCode::OK);
    let (status, job) = job_status(&server, &victim, &job_id).await;
    assert_eq!(status, StatusCode::OK, "the job is still there: {job}");
    assert_eq!(job_folders(&server), 1, "its files are still there");
    assert_eq!(metric(&server, "trusty_sessions_created_total").await, 1);

    // A Referer naming the service itself is no proof either.
    let own_page = format!("{}/", server.base);
    assert!(!force(&server, &[("referer", own_page.as_str())]).await);
}

#[tokio::test]
async fn force_with_same_origin_metadata_none_or_the_public_origin_replaces_the_session() {
    let server = TestServer::start(|_| {}).await;
    let own = server.base.clone();
    for proof in [
        [("sec-fetch-site", "same-origin")],
        [("sec-fetch-site", "none")],
        [("origin", own.as_str())],
    ] {
        assert!(force(&server, &proof).await, "{proof:?}");
    }
}

#[tokio::test]
async fn force_with_cross_site_metadata_or_a_mismatched_origin_is_a_plain_init() {
    let server = TestServer::start(|_| {}).await;
    let twin = https_twin(&server);
    for refused in [
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
        vec![("origin", "https://evil.example")],
        vec![("origin", twin.as_str())],
        vec![("origin", "null")],
        vec![],
    ] {
        assert!(!force(&server, &refused).await, "{refused:?}");
    }
}

#[tokio::test]
async fn an_https_origin_is_refused_on_a_derived_http_public_origin() {
    let server = TestServer::start(|_| {}).await;
    let twin = https_twin(&server);
    assert_eq!(
        unsafe_request(&server, &[("origin", twin.as_str())]).await,
        Err("origin_mismatch".to_owned())
    );
    let own = server.base.clone();
    assert_eq!(
        unsafe_request(&server, &[("origin", own.as_str())]).await,
        Ok(())
    );
}

#[tokio::test]
async fn an_https_origin_is_refused_on_a_configured_http_public_origin() {
    let server =
        TestServer::start(|c| c.public_origins = vec!["http://convert.example".to_owned()]).await;
    assert_eq!(
        unsafe_request(&server, &[("origin", "https://convert.example")]).await,
        Err("origin_mismatch".to_owned())
    );
    assert_eq!(
        unsafe_request(&server, &[("origin", "http://convert.example")]).await,
        Ok(())
    );
}

#[tokio::test]
async fn an_http_origin_is_refused_when_the_public_origin_is_https() {
    let server =
        TestServer::start(|c| c.public_origins = vec!["https://convert.example".to_owned()]).await;
    // Behind a TLS-terminating proxy the listener sees plain HTTP and a Host that may
    // name the service: neither makes `http://` its origin.
    for refused in ["http://convert.example", server.base.as_str()] {
        assert_eq!(
            unsafe_request(&server, &[("origin", refused), ("host", "convert.example")]).await,
            Err("origin_mismatch".to_owned()),
            "{refused}"
        );
    }
    assert_eq!(
        unsafe_request(&server, &[("origin", "https://convert.example")]).await,
        Ok(())
    );
    assert!(!force(&server, &[("origin", "http://convert.example")]).await);
    assert!(force(&server, &[("origin", "https://convert.example")]).await);
}

#[tokio::test]
async fn every_configured_alias_is_a_public_origin() {
    let server = TestServer::start(|c| {
        c.public_origins = vec![
            "https://convert.example".to_owned(),
            "https://files.example:8443".to_owned(),
        ];
    })
    .await;
    for alias in ["https://convert.example", "https://files.example:8443"] {
        assert_eq!(unsafe_request(&server, &[("origin", alias)]).await, Ok(()));
        assert!(force(&server, &[("origin", alias)]).await, "{alias}");
    }
    assert_eq!(
        unsafe_request(&server, &[("origin", "https://files.example")]).await,
        Err("origin_mismatch".to_owned()),
        "the port is part of the origin"
    );
}

#[tokio::test]
async fn allow_listed_cross_origins_stay_accepted_beside_the_public_origin() {
    let server = TestServer::start(|c| {
        c.public_origins = vec!["https://convert.example".to_owned()];
        c.allowed_origins = vec!["https://app.example".to_owned()];
    })
    .await;
    let allowed = [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://app.example"),
    ];
    assert_eq!(unsafe_request(&server, &allowed).await, Ok(()));
    assert!(force(&server, &allowed).await);
    assert_eq!(
        unsafe_request(&server, &[("origin", "http://app.example")]).await,
        Err("origin_mismatch".to_owned())
    );
}

#[tokio::test]
async fn forwarded_proto_sets_the_derived_scheme_only_from_a_trusted_proxy() {
    let proxied =
        TestServer::start(|c| c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()]).await;
    let twin = https_twin(&proxied);
    let own = proxied.base.clone();
    let tls = ("x-forwarded-proto", "https");
    assert_eq!(
        unsafe_request(&proxied, &[tls, ("origin", twin.as_str())]).await,
        Ok(())
    );
    assert_eq!(
        unsafe_request(&proxied, &[tls, ("origin", own.as_str())]).await,
        Err("origin_mismatch".to_owned()),
        "arrived over https: the http origin is another one"
    );

    let direct = TestServer::start(|_| {}).await;
    let twin = https_twin(&direct);
    assert_eq!(
        unsafe_request(&direct, &[tls, ("origin", twin.as_str())]).await,
        Err("origin_mismatch".to_owned()),
        "from a peer that is no trusted proxy the header is ignored"
    );
}
