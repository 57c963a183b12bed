//! A bounded soak: many concurrent clients, each alternating between two real
//! instances that share one Redis (as behind a round-robin load balancer), doing the
//! whole mix — new session, status, CSRF-protected rotation, small conversions with
//! download — for `TRUSTY_SOAK_SECS` seconds (10 by default; 60 for the long run in
//! docs/RELIABILITY.md). Every answer must be the expected one, and the instances'
//! memory must stay flat. It prints its figures.

mod common;

#[path = "../../session/tests/support/redis_server.rs"]
mod redis_server;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::ServeProcess;
use redis_server::RedisServer;
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};

const CLIENTS: usize = 24;

#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    conversions: AtomicU64,
    unexpected: AtomicU64,
}

struct Client {
    http: reqwest::Client,
    bases: [String; 2],
    turn: usize,
    session: String,
    csrf: String,
    tally: Arc<Tally>,
}

impl Client {
    /// The next instance, round robin.
    fn url(&mut self, path: &str) -> String {
        self.turn += 1;
        format!("{}{path}", self.bases[self.turn % 2])
    }

    fn cookie(&self) -> String {
        format!(
            "trustyconvert_session={}; csrftoken={}",
            self.session, self.csrf
        )
    }

    fn expect(&self, what: &str, status: StatusCode, wanted: StatusCode, body: &Value) {
        self.tally.requests.fetch_add(1, Ordering::Relaxed);
        if status != wanted {
            self.tally.unexpected.fetch_add(1, Ordering::Relaxed);
            eprintln!("unexpected answer to {what}: {status} {body}");
        }
    }

    async fn init(&mut self) {
        let url = self.url("/api/session/init");
        let response = self.http.get(url).send().await.unwrap();
        let status = response.status();
        let cookie = |name: &str| {
            response
                .headers()
                .get_all("set-cookie")
                .iter()
                .find_map(|value| {
                    let first = value.to_str().ok()?.split(';').next()?;
                    let (key, value) = first.split_once('=')?;
                    (key == name).then(|| value.to_owned())
                })
        };
        self.session = cookie("trustyconvert_session").unwrap_or_default();
        self.csrf = cookie("csrftoken").unwrap_or_default();
        self.expect("init", status, StatusCode::OK, &Value::Null);
    }

    async fn status(&mut self) {
        let url = self.url("/api/session");
        let response = self
            .http
            .get(url)
            .header("cookie", self.cookie())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        self.expect("status", status, StatusCode::OK, &body);
    }

    async fn rotate(&mut self) {
        let url = self.url("/api/session/csrf");
        let response = self
            .http
            .post(url)
            .header("cookie", self.cookie())
            .header("x-csrf-token", &self.csrf)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if let Some(token) = body["data"]["csrf_token"].as_str() {
            self.csrf = token.to_owned();
        }
        self.expect("rotate", status, StatusCode::OK, &body);
    }

    async fn post_json(&mut self, path: &str, body: Value) -> (StatusCode, Value) {
        let url = self.url(path);
        let response = self
            .http
            .post(url)
            .header("cookie", self.cookie())
            .header("x-csrf-token", &self.csrf)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn convert(&mut self, round: usize) {
        let job_id = uuid::Uuid::new_v4().to_string();
        let csv = format!("name,round\nsoak,{round}\n");
        let form = Form::new()
            .text("job_id", job_id.clone())
            .part("file", Part::bytes(csv.into_bytes()).file_name("soak.csv"));
        let url = self.url("/api/upload");
        let response = self
            .http
            .post(url)
            .header("cookie", self.cookie())
            .header("x-csrf-token", &self.csrf)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = response.status();
        self.expect("upload", status, StatusCode::CREATED, &Value::Null);
        let request = json!({"job_id": job_id, "target_format": "json"});
        let (status, body) = self.post_json("/api/convert", request).await;
        self.expect("convert", status, StatusCode::ACCEPTED, &body);
        loop {
            let url = self.url(&format!("/api/job_status?job_id={job_id}"));
            let response = self
                .http
                .get(url)
                .header("cookie", self.cookie())
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            self.expect("job status", status, StatusCode::OK, &body);
            match body["data"]["status"].as_str() {
                Some("completed") => break,
                Some("queued" | "processing") => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                _ => {
                    self.tally.unexpected.fetch_add(1, Ordering::Relaxed);
                    eprintln!("conversion did not complete: {body}");
                    return;
                }
            }
        }
        let (status, body) = self
            .post_json("/api/download_token", json!({"job_id": job_id}))
            .await;
        self.expect("download token", status, StatusCode::CREATED, &body);
        let token = body["data"]["download_token"].as_str().unwrap_or("");
        let url = self.url(&format!("/api/download?token={token}"));
        let response = self.http.get(url).send().await.unwrap();
        let status = response.status();
        let bytes = response.bytes().await.unwrap_or_default();
        self.expect("download", status, StatusCode::OK, &Value::Null);
        if !bytes.starts_with(b"[") {
            self.tally.unexpected.fetch_add(1, Ordering::Relaxed);
        }
        self.tally.conversions.fetch_add(1, Ordering::Relaxed);
    }
}

fn resident_mib(instances: &[&ServeProcess]) -> Vec<f64> {
    instances
        .iter()
        .map(|instance| instance.memory_kib().expect("Linux reports VmRSS") as f64 / 1024.0)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_load_over_two_instances_has_no_unexpected_answer_and_flat_memory() {
    let seconds: u64 = std::env::var("TRUSTY_SOAK_SECS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(10);
    let redis = RedisServer::start();
    let data = tempfile::tempdir().unwrap();
    let unlimited = [
        "--store",
        &redis.url(),
        "--rate-limit-init",
        "0",
        "--rate-limit-upload",
        "0",
        "--rate-limit-convert",
        "0",
        "--rate-limit-download",
        "0",
    ];
    let a = ServeProcess::start(data.path(), &unlimited, &[]);
    let b = ServeProcess::start(data.path(), &unlimited, &[]);
    let bases = [a.base.clone(), b.base.clone()];
    let tally = Arc::new(Tally::default());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let warm_at = Instant::now() + Duration::from_secs(seconds / 5);
    let mut clients = Vec::new();
    for index in 0..CLIENTS {
        let mut client = Client {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap(),
            bases: bases.clone(),
            turn: index,
            session: String::new(),
            csrf: String::new(),
            tally: Arc::clone(&tally),
        };
        clients.push(tokio::spawn(async move {
            let mut round = 0;
            while Instant::now() < deadline {
                if round % 25 == 0 {
                    client.init().await;
                }
                client.status().await;
                client.rotate().await;
                if round % 5 == 0 {
                    client.convert(round).await;
                }
                round += 1;
            }
        }));
    }
    tokio::time::sleep_until(warm_at.into()).await;
    let warm = resident_mib(&[&a, &b]);
    for client in clients {
        client.await.unwrap();
    }
    let end = resident_mib(&[&a, &b]);
    let requests = tally.requests.load(Ordering::Relaxed);
    let unexpected = tally.unexpected.load(Ordering::Relaxed);
    println!(
        "soak: {seconds} s, {CLIENTS} clients, 2 instances: {requests} requests ({:.0}/s), \
         {} conversions, {unexpected} unexpected; RSS MiB after warm-up {warm:.1?}, at end {end:.1?}",
        requests as f64 / seconds as f64,
        tally.conversions.load(Ordering::Relaxed),
    );
    assert!(requests > 0);
    assert_eq!(unexpected, 0, "every answer is the expected one");
    for (before, after) in warm.iter().zip(&end) {
        assert!(
            *after <= before * 1.5 + 32.0,
            "memory grew from {before:.1} MiB to {after:.1} MiB"
        );
    }
}
