//! Connection-level abuse over real TCP: half-sent headers, stalled bodies, oversized
//! headers, too many connections, oversized multipart text fields.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

fn short_limits(config: &mut trustyconvert_server::ServerConfig) {
    config.http.header_read_timeout = Duration::from_secs(1);
    config.http.body_idle_timeout = Duration::from_secs(1);
}

async fn connect(server: &TestServer) -> TcpStream {
    let addr = server.base.trim_start_matches("http://");
    TcpStream::connect(addr).await.unwrap()
}

/// What the server sends before closing `stream`, if it closes it within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(received),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off_while_others_are_served() {
    let server = TestServer::start(short_limits).await;
    let mut slow = connect(&server).await;
    slow.write_all(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .unwrap();
    let health = client()
        .get(server.url("/api/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        health.status(),
        StatusCode::OK,
        "others are served meanwhile"
    );
    assert!(
        closed_within(&mut slow, Duration::from_secs(10))
            .await
            .is_some(),
        "the half-sent request's connection is closed"
    );
}

#[tokio::test]
async fn a_stalled_upload_body_is_cut_off() {
    let server = TestServer::start(short_limits).await;
    let creds = new_session(&server).await;
    let mut stalled = connect(&server).await;
    let head = format!(
        "POST /api/upload HTTP/1.1\r\nHost: localhost\r\nCookie: {}\r\nX-CSRF-Token: {}\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n\
         --b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello",
        creds.cookie_header(),
        creds.csrf
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    let health = client()
        .get(server.url("/api/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        health.status(),
        StatusCode::OK,
        "others are served meanwhile"
    );
    let answer = closed_within(&mut stalled, Duration::from_secs(10))
        .await
        .expect("the stalled upload is given up on");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
}

#[tokio::test]
async fn oversized_headers_get_431() {
    let server = TestServer::start(|_| {}).await;
    let response = client()
        .get(server.url("/api/health"))
        .header("x-padding", "a".repeat(100 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_one() {
    let server = TestServer::start(|c| {
        c.http.max_connections = 2;
        c.http.header_read_timeout = Duration::from_secs(2);
    })
    .await;
    // Two connections that say nothing hold both slots until their head deadline.
    let idle = [connect(&server).await, connect(&server).await];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let request = tokio::spawn({
        let url = server.url("/api/health");
        async move { client().get(url).send().await.map(|r| r.status()) }
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        !request.is_finished(),
        "a third connection is not served yet"
    );
    let status = tokio::time::timeout(Duration::from_secs(10), request)
        .await
        .expect("served once a slot frees")
        .unwrap()
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    drop(idle);
}

#[tokio::test]
async fn a_job_id_field_longer_than_a_uuid_is_refused_without_buffering_it() {
    let server = TestServer::start(|_| {}).await;
    let creds = new_session(&server).await;
    let huge = "0".repeat(2 * 1024 * 1024);
    let form = reqwest::multipart::Form::new().text("job_id", huge).part(
        "file",
        reqwest::multipart::Part::bytes(b"hello".to_vec()).file_name("a.txt"),
    );
    let response = client()
        .post(server.url("/api/upload"))
        .header("cookie", creds.cookie_header())
        .header("x-csrf-token", &creds.csrf)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, _, body) = split(response).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "ValidationError");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("too long"));
}

/// A small deterministic generator (xorshift), so a failing case can be replayed.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[tokio::test]
async fn mangled_multipart_uploads_get_a_typed_error_never_a_500() {
    let server = TestServer::start(|c| c.rate_limits.upload_per_minute = 0).await;
    let creds = new_session(&server).await;
    let valid = b"--b\r\nContent-Disposition: form-data; name=\"job_id\"\r\n\r\n\
        8c0e3f7a-2b1d-4c5e-9f60-1a2b3c4d5e6f\r\n--b\r\nContent-Disposition: form-data; \
        name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n"
        .to_vec();
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    for case in 0..300 {
        let mut body = valid.clone();
        match case % 4 {
            0 => body.truncate(noise.below(body.len())),
            1 => {
                for _ in 0..1 + noise.below(8) {
                    let at = noise.below(body.len());
                    body[at] = noise.next() as u8;
                }
            }
            2 => {
                let at = noise.below(body.len());
                let junk: Vec<u8> = (0..noise.below(2048)).map(|_| noise.next() as u8).collect();
                body.splice(at..at, junk);
            }
            _ => body = (0..noise.below(4096)).map(|_| noise.next() as u8).collect(),
        }
        let response = client()
            .post(server.url("/api/upload"))
            .header("cookie", creds.cookie_header())
            .header("x-csrf-token", &creds.csrf)
            .header("content-type", "multipart/form-data; boundary=b")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let (_, _, envelope) = split(response).await;
        assert!(
            status.is_client_error() || status.is_success(),
            "case {case}: {status} {envelope}"
        );
        assert!(envelope["success"].is_boolean(), "case {case}: {envelope}");
    }
}
