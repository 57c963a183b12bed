//! Connection-level abuse over real TCP: half-sent headers, stalled and trickled bodies,
//! oversized headers, too many connections (in all and from one address), oversized
//! multipart text fields.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

fn short_limits(config: &mut trustyconvert_server::ServerConfig) {
    config.http.header_read_timeout = Duration::from_secs(1);
    config.http.body_idle_timeout = Duration::from_secs(1);
}

async fn connect(server: &TestServer) -> TcpStream {
    let addr = server.base.trim_start_matches("http://");
    TcpStream::connect(addr).await.unwrap()
}

/// What the server sends before closing `stream`, if it closes it within `within`.
async fn closed_within(stream: &mut (impl AsyncRead + Unpin), within: Duration) -> Option<Vec<u8>> {
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
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains(r#""type":"ValidationError""#) && answer.contains("body_stalled"),
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

/// A connection to `server` whose source address is `source`: all of 127/8 is loopback
/// on Linux, so 127.0.0.2 is another client address on the same machine.
async fn connect_from(server: &TestServer, source: Ipv4Addr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    let target: SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
    socket.connect(target).await.unwrap()
}

const FIRST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const SECOND: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// An HTTP client whose connections come from `source`.
fn client_from(source: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(source))
        .timeout(EVENTUALLY)
        .build()
        .unwrap()
}

/// Sends `GET /api/health` on `stream` and reads the answer's head, keeping the
/// connection open; `None` if the server closed it instead.
async fn health_kept_alive(stream: &mut TcpStream) -> Option<String> {
    let request = b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n";
    stream.write_all(request).await.ok()?;
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = stream.read(&mut buffer).await.ok()?;
        if n == 0 {
            return None;
        }
        received.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&received);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .expect("the health answer has a length");
            if body.len() >= length {
                return Some(head.to_owned());
            }
        }
    }
}

/// Limits under which held connections stay open for the whole test: only the rules
/// under test close anything.
fn per_address_limits(config: &mut trustyconvert_server::ServerConfig) {
    config.http.max_connections_per_address = 2;
    config.http.header_read_timeout = Duration::from_secs(120);
}

#[tokio::test]
async fn connections_over_the_per_address_cap_are_closed_at_once_and_counted() {
    let server = TestServer::start(per_address_limits).await;
    // Two connections the server has answered on, so it has accepted and counts them.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = connect_from(&server, FIRST).await;
        let head = health_kept_alive(&mut stream).await.expect("served");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        held.push(stream);
    }
    let mut extra = connect_from(&server, FIRST).await;
    let answer = closed_within(&mut extra, EVENTUALLY)
        .await
        .expect("the third connection from the address is closed");
    assert!(answer.is_empty(), "closed without an answer: {answer:?}");

    // Asked from another address: this one is at its cap.
    let second = client_from(SECOND);
    let refused = metric_from(&second, &server, "trusty_connections_refused_total").await;
    assert_eq!(refused, 1);

    // The place is given back when a connection ends: the address is served again.
    drop(held.pop());
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        let mut stream = connect_from(&server, FIRST).await;
        if let Some(head) = health_kept_alive(&mut stream).await {
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            break;
        }
        assert!(Instant::now() < deadline, "the place was never given back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn one_address_at_its_cap_does_not_starve_another() {
    let server = TestServer::start(|config| {
        per_address_limits(config);
        config.http.max_connections = 4;
    })
    .await;
    // Six slow clients on one address, each stuck in the middle of its request head:
    // more than the per-address cap (2), more than all connection slots (4).
    let (closed_tx, mut closed_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut writers = Vec::new();
    for index in 0..6 {
        let stream = connect_from(&server, FIRST).await;
        let (mut reader, mut writer) = stream.into_split();
        // A refused connection may already be closed: its write may fail.
        let _ = writer
            .write_all(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n")
            .await;
        writers.push(writer);
        let closed_tx = closed_tx.clone();
        tokio::spawn(async move {
            let answer = closed_within(&mut reader, 2 * EVENTUALLY).await;
            let _ = closed_tx.send((index, answer));
        });
    }
    let mut refused = Vec::new();
    while refused.len() < 4 {
        let (index, answer) = tokio::time::timeout(EVENTUALLY, closed_rx.recv())
            .await
            .expect("the connections over the address's cap are closed")
            .unwrap();
        assert_eq!(answer.as_deref(), Some(&b""[..]), "connection {index}");
        refused.push(index);
    }

    let health = client_from(SECOND)
        .get(server.url("/api/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK, "another address is served");

    // The two connections kept were really being served: they finish their requests.
    for (index, writer) in writers.iter_mut().enumerate() {
        if !refused.contains(&index) {
            writer
                .write_all(b"Connection: close\r\n\r\n")
                .await
                .unwrap();
        }
    }
    for _ in 0..2 {
        let (index, answer) = tokio::time::timeout(EVENTUALLY, closed_rx.recv())
            .await
            .expect("the kept connections are answered")
            .unwrap();
        let answer = String::from_utf8_lossy(answer.as_deref().unwrap()).into_owned();
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "connection {index}: {answer}"
        );
    }
}

/// The head and the multipart opening of an upload of `file_len` bytes, and the
/// closing boundary.
fn upload_parts(creds: &Creds, file_len: usize) -> (String, &'static str) {
    let opening = "--b\r\nContent-Disposition: form-data; name=\"job_id\"\r\n\r\n\
        8c0e3f7a-2b1d-4c5e-9f60-1a2b3c4d5e6f\r\n--b\r\nContent-Disposition: form-data; \
        name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\n";
    let closing = "\r\n--b--\r\n";
    let head = format!(
        "POST /api/upload HTTP/1.1\r\nHost: localhost\r\nCookie: {}\r\nX-CSRF-Token: {}\r\n\
         Connection: close\r\nContent-Type: multipart/form-data; boundary=b\r\n\
         Content-Length: {}\r\n\r\n{opening}",
        creds.cookie_header(),
        creds.csrf,
        opening.len() + file_len + closing.len()
    );
    (head, closing)
}

/// A short grace and 1000 bytes/s; the idle timeout is long, so only the rate rule
/// can end a body that keeps trickling.
fn rate_limits(config: &mut trustyconvert_server::ServerConfig) {
    config.http.body_rate_grace = Duration::from_secs(1);
    config.http.body_min_rate = 1000;
    config.http.body_idle_timeout = Duration::from_secs(120);
}

/// Sends `head`, then the body one byte every 200 ms (never idle for long, far below
/// 1000 bytes/s), and returns what the server answered before closing the connection.
async fn answer_to_a_trickle(server: &TestServer, head: &str) -> String {
    let (mut reader, mut writer) = connect(server).await.into_split();
    writer.write_all(head.as_bytes()).await.unwrap();
    let trickle = tokio::spawn(async move {
        while writer.write_all(b"a").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let answer = closed_within(&mut reader, EVENTUALLY)
        .await
        .expect("the trickled body is closed well before its idle timeout");
    trickle.abort();
    String::from_utf8_lossy(&answer).into_owned()
}

fn assert_too_slow(answer: &str) {
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains(r#""type":"ValidationError""#)
            && answer.contains(r#""reason":"body_too_slow""#)
            && answer.contains(r#""min_rate_bytes_per_second":1000"#),
        "{answer}"
    );
}

#[tokio::test]
async fn a_trickled_body_is_closed_by_the_minimum_rate() {
    let server = TestServer::start(rate_limits).await;
    let creds = new_session(&server).await;
    let (head, _) = upload_parts(&creds, 100_000);
    assert_too_slow(&answer_to_a_trickle(&server, &head).await);
}

#[tokio::test]
async fn a_trickled_json_body_is_closed_by_the_minimum_rate() {
    let server = TestServer::start(rate_limits).await;
    let creds = new_session(&server).await;
    let head = format!(
        "POST /api/convert HTTP/1.1\r\nHost: localhost\r\nCookie: {}\r\nX-CSRF-Token: {}\r\n\
         Content-Type: application/json\r\nContent-Length: 10000\r\n\r\n",
        creds.cookie_header(),
        creds.csrf
    );
    assert_too_slow(&answer_to_a_trickle(&server, &head).await);
}

#[tokio::test]
async fn an_upload_at_a_healthy_rate_is_not_cut() {
    let server = TestServer::start(rate_limits).await;
    let creds = new_session(&server).await;
    // 2 MiB in 64 KiB pieces every 100 ms: past the grace period, and so far above
    // 1000 bytes/s that only a wrong rule (or a total deadline) could cut it.
    let chunk = "hello world\n".repeat(64 * 1024 / 12);
    let pieces = 2 * 1024 * 1024 / chunk.len();
    let (head, closing) = upload_parts(&creds, pieces * chunk.len());
    let mut stream = connect(&server).await;
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    for _ in 0..pieces {
        stream
            .write_all(chunk.as_bytes())
            .await
            .expect("the server keeps reading the upload");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stream.write_all(closing.as_bytes()).await.unwrap();
    assert!(
        started.elapsed() > Duration::from_secs(1),
        "outlasted the grace"
    );
    let answer = closed_within(&mut stream, EVENTUALLY)
        .await
        .expect("answered");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
}
