//! Atomic under concurrency, over real HTTP on every store (memory, embedded SQLite,
//! a real Redis): racing rotations never hand out a dead token, parallel uploads never
//! pass the quota together, and an upload whose session is closed while its body is
//! still arriving leaves nothing behind (no job, no folder, no Redis key); an upload
//! too large to hold in memory is refused once it passes the room left in its
//! session's quota, while its body is still arriving. The store
//! steps behind these (and the writes of conversions, grants and leases racing a
//! close) are held to the same rules by the storage contract on every backend.

mod common;
#[path = "../../session/tests/support/redis_server.rs"]
mod redis_server;

use std::path::{Path, PathBuf};

use common::conversion::new_job_id;
use common::*;
use image::{ImageFormat, Rgb, RgbImage};
use redis_server::RedisServer;
use reqwest::{Method, StatusCode};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use trustyconvert_server::StoreKind;
use trustyconvert_session::crypto::SessionSecret;

/// One server per store; the Redis one with its own `redis-server`.
struct OnStore {
    name: &'static str,
    server: TestServer,
    redis: Option<RedisServer>,
}

async fn servers(configure: impl Fn(&mut trustyconvert_server::ServerConfig)) -> Vec<OnStore> {
    let redis = RedisServer::start();
    let mut all = Vec::new();
    for (name, kind) in [
        ("memory", StoreKind::Memory),
        ("embedded", StoreKind::Embedded),
        ("redis", StoreKind::Redis(redis.url())),
    ] {
        let server = TestServer::start(|config| {
            config.store = kind;
            configure(config);
        })
        .await;
        all.push(OnStore {
            name,
            server,
            redis: None,
        });
    }
    all.last_mut().unwrap().redis = Some(redis);
    all
}

/// Whether `token` (with the session cookie of `creds`) passes the CSRF check: a
/// `POST /api/convert` with an empty body passes the guard, then fails validation.
async fn token_accepted(server: &TestServer, creds: &Creds, token: &str) -> bool {
    let cookie = format!("{SESSION_COOKIE}={}; {CSRF_COOKIE}={token}", creds.session);
    let (status, _, body) = send(
        server,
        Method::POST,
        "/api/convert",
        Some(&cookie),
        Some(token),
        &[("content-type", "application/json")],
    )
    .await;
    assert_ne!(status, StatusCode::UNAUTHORIZED, "{body}");
    status != StatusCode::FORBIDDEN
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_rotations_never_hand_out_a_dead_token() {
    const TRIALS: usize = 30;
    for store in servers(|_| {}).await {
        let server = &store.server;
        let mut differing = 0;
        for trial in 0..TRIALS {
            let creds = new_session(server).await;
            // Two rotations presenting the same token, released together.
            let (first, second) = tokio::join!(
                post_with(server, "/api/session/csrf", &creds),
                post_with(server, "/api/session/csrf", &creds)
            );
            let mut returned = Vec::new();
            for (status, _, body) in [first, second] {
                assert_eq!(status, StatusCode::OK, "{}: {body}", store.name);
                returned.push(body["data"]["csrf_token"].as_str().unwrap().to_owned());
            }
            differing += usize::from(returned[0] != returned[1]);
            for token in &returned {
                assert!(
                    token_accepted(server, &creds, token).await,
                    "{} trial {trial}: a rotation answered 200 with a token that is already dead",
                    store.name
                );
            }
        }
        // The loser hands out the winner's token: both answers carry the same one.
        assert_eq!(differing, 0, "{}", store.name);
    }
}

/// A PNG of noise, which does not compress: about `side * side * 3` bytes.
fn incompressible_png(side: u32) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    let image = RgbImage::from_fn(side, side, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let [r, g, b, _] = state.to_le_bytes();
        Rgb([r, g, b])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_uploads_never_pass_the_session_quota_together() {
    const QUOTA: u64 = 100 * 1024;
    let png = incompressible_png(140); // about 60 KiB: one fits, two do not
    assert!(png.len() as u64 > QUOTA / 2 && (png.len() as u64) < QUOTA);
    for store in servers(|config| config.jobs.max_session_storage = QUOTA).await {
        let server = &store.server;
        let creds = new_session(server).await;
        let ids: Vec<String> = (0..6).map(|_| new_job_id()).collect();
        let uploads = ids
            .iter()
            .map(|id| common::conversion::upload(server, &creds, id, "noise.png", png.clone()));
        let answers = futures::future::join_all(uploads).await;
        let mut accepted = 0;
        for (status, _, body) in &answers {
            match *status {
                StatusCode::CREATED => accepted += 1,
                StatusCode::PAYLOAD_TOO_LARGE => {
                    assert_error(
                        *status,
                        body,
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "MaxFileSizeExceededError",
                    );
                }
                other => panic!("{}: unexpected {other}: {body}", store.name),
            }
        }
        assert_eq!(
            accepted, 1,
            "{}: six parallel uploads, room for one",
            store.name
        );
        let folder = session_folder(&server.config.data_dir, &creds);
        assert_eq!(
            job_folders(&folder),
            1,
            "{}: refused uploads leave no files",
            store.name
        );
    }
}

/// Opens a connection for an upload of a `file_length`-byte file named `file_name`
/// and sends the request's head, so a test can send the body as it likes; returns the
/// connection and the multipart text to send before and after the file's bytes.
async fn open_upload(
    server: &TestServer,
    creds: &Creds,
    file_name: &str,
    content_type: &str,
    file_length: usize,
) -> (tokio::net::TcpStream, Vec<u8>, Vec<u8>) {
    let boundary = "atomicity-boundary";
    let before = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"job_id\"\r\n\r\n{}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: {content_type}\r\n\r\n",
        new_job_id()
    );
    let after = format!("\r\n--{boundary}--\r\n");
    let head = format!(
        "POST /api/upload HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {length}\r\n\
         Connection: close\r\n\r\n",
        host = server.base.trim_start_matches("http://"),
        cookie = creds.cookie_header(),
        csrf = creds.csrf,
        length = before.len() + file_length + after.len()
    );
    let mut stream = tokio::net::TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    (stream, before.into_bytes(), after.into_bytes())
}

/// Everything the server answers until it closes the connection.
async fn answer_of(mut stream: tokio::net::TcpStream) -> String {
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// Sends an upload over a raw connection, holding its last bytes back until `hold`
/// resolves; returns the status line's code.
async fn upload_held_open(
    server: &TestServer,
    creds: &Creds,
    png: &[u8],
    hold: impl std::future::Future<Output = ()>,
) -> u16 {
    let (mut stream, mut body, after) =
        open_upload(server, creds, "photo.png", "image/png", png.len()).await;
    body.extend_from_slice(png);
    body.extend_from_slice(&after);
    let (early, late) = body.split_at(body.len() - 64);
    stream.write_all(early).await.unwrap();
    stream.flush().await.unwrap();
    hold.await;
    stream.write_all(late).await.unwrap();
    let answer = answer_of(stream).await;
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

/// Sends an upload declaring a `declared`-byte file, but only the first `sent` bytes
/// of it; returns the answer (status line, headers and body).
async fn answer_before_the_body_ends(
    server: &TestServer,
    creds: &Creds,
    declared: usize,
    sent: usize,
) -> String {
    let (mut stream, before, _) =
        open_upload(server, creds, "big.txt", "text/plain", declared).await;
    stream.write_all(&before).await.unwrap();
    stream.write_all(&vec![b'a'; sent]).await.unwrap();
    stream.flush().await.unwrap();
    // The rest is never sent: only an answer given before the body ends arrives here.
    answer_of(stream).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_past_the_room_left_in_the_quota_is_refused_before_its_body_ends() {
    const QUOTA: usize = 100 * 1024;
    for store in servers(|config| config.jobs.max_session_storage = QUOTA as u64).await {
        let server = &store.server;
        let creds = new_session(server).await;
        // 10 MiB declared, 300 KiB sent: past the quota, far from the end.
        let answer = answer_before_the_body_ends(server, &creds, 10 << 20, 300 * 1024).await;
        assert!(
            answer.starts_with("HTTP/1.1 413"),
            "{}: {answer}",
            store.name
        );
        assert!(
            answer.contains("MaxFileSizeExceededError")
                && answer.contains("storage limit of 100 KiB"),
            "{}: {answer}",
            store.name
        );
        let folder = session_folder(&server.config.data_dir, &creds);
        assert_eq!(job_folders(&folder), 0, "{}: nothing kept", store.name);
        let incoming = server.config.data_dir.join("jobs").join(".incoming");
        assert_eq!(
            job_folders(&incoming),
            0,
            "{}: the spilled part is removed",
            store.name
        );
        // Within the room, the same session's upload is taken.
        let fits = vec![b'b'; QUOTA / 2];
        let (status, _, body) =
            common::conversion::upload(server, &creds, &new_job_id(), "half.txt", fits).await;
        assert_eq!(status, StatusCode::CREATED, "{}: {body}", store.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_whose_session_closes_mid_body_leaves_nothing_and_gets_401() {
    let png = incompressible_png(60);
    for store in servers(|_| {}).await {
        let server = &store.server;
        let creds = new_session(server).await;
        let close = async {
            // The request has passed the guard and its body is arriving: close now.
            let (status, _, body) = post_with(server, "/api/session/close", &creds).await;
            assert_eq!(status, StatusCode::OK, "{}: {body}", store.name);
        };
        let status = upload_held_open(server, &creds, &png, close).await;
        assert_eq!(
            status, 401,
            "{}: the same 401 as after the close",
            store.name
        );
        let folder = session_folder(&server.config.data_dir, &creds);
        assert!(
            !folder.exists(),
            "{}: the closed session's folder came back",
            store.name
        );
        if let Some(redis) = &store.redis {
            let tag = hex(&session_key_of(&creds));
            let keys = all_keys(redis);
            assert!(
                keys.iter().all(|key| !key.contains(&tag)),
                "{}: keys of the closed session remain: {keys:?}",
                store.name
            );
        }
    }
}

fn session_key_of(creds: &Creds) -> [u8; 32] {
    SessionSecret::parse(creds.session.as_bytes())
        .expect("a session cookie of this server")
        .store_key()
        .0
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Where the files of `creds`' session live.
fn session_folder(data_dir: &Path, creds: &Creds) -> PathBuf {
    data_dir.join("jobs").join(hex(&session_key_of(creds)))
}

fn job_folders(session_folder: &Path) -> usize {
    std::fs::read_dir(session_folder).map_or(0, |entries| entries.count())
}

/// Every key in the Redis database.
fn all_keys(redis: &RedisServer) -> Vec<String> {
    match redis.query(&["KEYS", "*"]).unwrap() {
        redis::Value::Array(keys) => keys
            .into_iter()
            .map(|key| match key {
                redis::Value::BulkString(bytes) => String::from_utf8(bytes).unwrap(),
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}
