//! The comparison servers of the benchmark, answering the same routes with the same
//! JSON envelope as TrustyConvert:
//!
//! - `bare`: no session work at all — the ceiling of axum on this machine;
//! - `tower-memory` / `tower-redis URL`: the same operations on axum +
//!   tower-sessions (its memory store, or its Redis store), written the way its
//!   documentation suggests, with the same cookie attributes, a 256-bit CSRF token and
//!   the same idle timeout.
//!
//! Usage: `baseline MODE ADDR [REDIS_URL]`; prints `listening on http://ADDR`. Uploads
//! are written to `BENCH_UPLOAD_DIR` (default: a folder of this process in the temp dir).

use std::net::SocketAddr;

use axum::extract::Multipart;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use time::OffsetDateTime;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, MemoryStore, Session, SessionManagerLayer, SessionStore};
use trustyconvert_session::Timestamp;

/// The same allocator as TrustyConvert's binary, so allocation speed is not what the
/// comparison measures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CSRF_KEY: &str = "csrf";
const IDLE: time::Duration = time::Duration::hours(1);

/// A per-request correlation id in the envelope and the `X-Correlation-ID` header, as
/// TrustyConvert's API answers every request (not session work, so the ceiling does
/// it too).
fn with_correlation_id(status: StatusCode, mut body: Value) -> Response {
    let id = uuid::Uuid::new_v4().to_string();
    let header = HeaderValue::from_str(&id).expect("a UUID is a header value");
    body["correlation_id"] = Value::String(id);
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert("x-correlation-id", header);
    response
}

fn envelope(status: StatusCode, data: Value) -> Response {
    with_correlation_id(status, json!({"success": true, "data": data}))
}

fn failure(status: StatusCode, kind: &str) -> Response {
    let body = json!({
        "success": false,
        "error": {"message": kind, "type": kind, "details": {}},
    });
    with_correlation_id(status, body)
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS has randomness");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `expires_at` (RFC 3339, seconds) and `expires_in` of an expiry, as TrustyConvert
/// writes them.
fn expiry_json(expires_at: OffsetDateTime) -> (String, i64) {
    let millis = i64::try_from(expires_at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let at = Timestamp::from_millis(millis).to_rfc3339();
    let remaining = (expires_at - OffsetDateTime::now_utc()).whole_seconds();
    (at, remaining.max(0))
}

fn session_json(id: &str, token: &str, expires_at: OffsetDateTime) -> Value {
    let (at, remaining) = expiry_json(expires_at);
    json!({"id": id, "csrf_token": token, "expires_at": at, "expires_in": remaining})
}

/// The ceiling: the same routes and JSON, no session work.
fn bare() -> Router {
    let info = || async {
        let expires_at = OffsetDateTime::now_utc() + IDLE;
        envelope(StatusCode::OK, session_json("bench", "token", expires_at))
    };
    Router::new()
        .route("/api/session/init", get(info))
        .route("/api/session", get(info))
        .route("/api/session/csrf", post(info))
        .route(
            "/api/upload",
            post(|mut form: Multipart| async move {
                while let Ok(Some(field)) = form.next_field().await {
                    let _ = field.bytes().await;
                }
                envelope(
                    StatusCode::CREATED,
                    json!({"job_id": "bench", "status": "uploaded"}),
                )
            }),
        )
}

async fn init(session: Session) -> Response {
    // A new session for every request without a cookie, like TrustyConvert's init.
    let token = new_token();
    if session.insert(CSRF_KEY, &token).await.is_err() || session.save().await.is_err() {
        return failure(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable");
    }
    let id = session.id().map(|id| id.to_string()).unwrap_or_default();
    envelope(
        StatusCode::OK,
        session_json(&id, &token, session.expiry_date()),
    )
}

async fn status(session: Session) -> Response {
    match session.get::<String>(CSRF_KEY).await {
        Ok(Some(token)) => {
            let id = session.id().map(|id| id.to_string()).unwrap_or_default();
            envelope(
                StatusCode::OK,
                session_json(&id, &token, session.expiry_date()),
            )
        }
        Ok(None) => failure(StatusCode::UNAUTHORIZED, "SessionValidationError"),
        Err(_) => failure(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
    }
}

/// The CSRF header must equal the session's token (constant time).
async fn csrf_ok(session: &Session, headers: &HeaderMap) -> Result<(), Response> {
    let stored = match session.get::<String>(CSRF_KEY).await {
        Ok(Some(token)) => token,
        Ok(None) => return Err(failure(StatusCode::UNAUTHORIZED, "SessionValidationError")),
        Err(_) => {
            return Err(failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
            ))
        }
    };
    let sent = headers
        .get("x-csrf-token")
        .map(|value| value.as_bytes())
        .unwrap_or(b"");
    if bool::from(subtle::ConstantTimeEq::ct_eq(sent, stored.as_bytes())) {
        Ok(())
    } else {
        Err(failure(StatusCode::FORBIDDEN, "CSRFValidationError"))
    }
}

async fn rotate(session: Session, headers: HeaderMap) -> Response {
    if let Err(refused) = csrf_ok(&session, &headers).await {
        return refused;
    }
    let token = new_token();
    if session.insert(CSRF_KEY, &token).await.is_err() {
        return failure(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable");
    }
    let (at, remaining) = expiry_json(session.expiry_date());
    envelope(
        StatusCode::OK,
        json!({"csrf_token": token, "expires_at": at, "expires_in": remaining}),
    )
}

async fn upload(session: Session, headers: HeaderMap, mut form: Multipart) -> Response {
    if let Err(refused) = csrf_ok(&session, &headers).await {
        return refused;
    }
    // The benchmark gives each server its own folder and removes it afterwards.
    let dir = std::env::var_os("BENCH_UPLOAD_DIR").map_or_else(
        || {
            std::env::temp_dir().join(format!(
                "trustyconvert-bench-uploads-{}",
                std::process::id()
            ))
        },
        std::path::PathBuf::from,
    );
    let mut job_id = String::new();
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or("").to_owned();
        let Ok(bytes) = field.bytes().await else {
            return failure(StatusCode::BAD_REQUEST, "ValidationError");
        };
        match name.as_str() {
            "job_id" => job_id = String::from_utf8_lossy(&bytes).into_owned(),
            "file" => {
                let _ = tokio::fs::create_dir_all(&dir).await;
                if tokio::fs::write(dir.join(new_token()), &bytes)
                    .await
                    .is_err()
                {
                    return failure(StatusCode::INTERNAL_SERVER_ERROR, "ServerError");
                }
            }
            _ => {}
        }
    }
    envelope(
        StatusCode::CREATED,
        json!({"job_id": job_id, "status": "uploaded"}),
    )
}

fn with_sessions<S: SessionStore + Clone>(store: S) -> Router {
    let layer = SessionManagerLayer::new(store)
        .with_name("trustyconvert_session")
        .with_secure(true)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(IDLE));
    Router::new()
        .route("/api/session/init", get(init))
        .route("/api/session", get(status))
        .route("/api/session/csrf", post(rotate))
        .route("/api/upload", post(upload))
        .layer(layer)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: baseline bare|tower-memory|tower-redis ADDR [REDIS_URL]";
    let (mode, addr) = match (args.get(1), args.get(2)) {
        (Some(mode), Some(addr)) => (mode.as_str(), addr.parse::<SocketAddr>().expect(usage)),
        _ => panic!("{usage}"),
    };
    let app = match mode {
        "bare" => bare(),
        "tower-memory" => with_sessions(MemoryStore::default()),
        "tower-redis" => {
            use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};
            let url = args.get(3).expect(usage);
            let config = Config::from_url(url).expect("a redis:// URL");
            let pool = Pool::new(config, None, None, None, 4).expect("a Redis pool");
            pool.init().await.expect("Redis answers");
            with_sessions(tower_sessions_redis_store::RedisStore::new(pool))
        }
        _ => panic!("{usage}"),
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("the address binds");
    println!("listening on http://{}", listener.local_addr().unwrap());
    axum::serve(listener, app).await.expect("serves");
}
