//! Several real `trustyconvert serve` processes sharing one Redis (a single server or a
//! three-master cluster, both started here) and one data directory: one truth across
//! instances, faults survived. Redis round trips are counted by Redis itself.

mod common;

#[path = "../../session/tests/support/redis_server.rs"]
mod redis_server;

use std::path::Path;
use std::time::{Duration, Instant};

use common::ServeProcess;
use redis_server::{RedisCluster, RedisServer};
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// An instance on `store`, sharing `data_dir` (files and the signing key).
fn instance(store: &str, data_dir: &Path, extra: &[&str]) -> ServeProcess {
    let mut args = vec!["--store", store];
    args.extend_from_slice(extra);
    ServeProcess::start(data_dir, &args, &[])
}

/// A browser's credentials.
#[derive(Debug, Clone)]
struct Creds {
    session: String,
    csrf: String,
}

impl Creds {
    fn cookie(&self) -> String {
        format!(
            "trustyconvert_session={}; csrftoken={}",
            self.session, self.csrf
        )
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
}

fn cookie_of(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .find_map(|value| {
            let first = value.to_str().ok()?.split(';').next()?;
            let (key, value) = first.split_once('=')?;
            (key == name).then(|| value.to_owned())
        })
}

async fn init(server: &ServeProcess) -> (StatusCode, Option<Creds>) {
    let response = client()
        .get(server.url("/api/session/init"))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let creds = cookie_of(&response, "trustyconvert_session").map(|session| Creds {
        session,
        csrf: cookie_of(&response, "csrftoken").unwrap(),
    });
    (status, creds)
}

async fn get(server: &ServeProcess, path: &str, creds: &Creds) -> (StatusCode, Value) {
    let response = client()
        .get(server.url(path))
        .header("cookie", creds.cookie())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(
    server: &ServeProcess,
    path: &str,
    creds: &Creds,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client()
        .post(server.url(path))
        .header("cookie", creds.cookie())
        .header("x-csrf-token", &creds.csrf);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn upload(server: &ServeProcess, creds: &Creds, job_id: &str, text: &str) -> StatusCode {
    upload_named(server, creds, job_id, "notes.csv", text).await
}

/// `GET /api/health` as a monitor asks it: no cookie.
async fn health(server: &ServeProcess) -> (StatusCode, Value) {
    let response = client()
        .get(server.url("/api/health"))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Waits until the job is finished, asking `server`; returns its status. Waits for the
/// condition however slow the machine is (bounded only to end a hung run).
async fn wait_finished(server: &ServeProcess, creds: &Creds, job_id: &str) -> Value {
    let give_up = std::time::Instant::now() + Duration::from_secs(900);
    while std::time::Instant::now() < give_up {
        let (status, body) = get(server, &format!("/api/job_status?job_id={job_id}"), creds).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if matches!(
            body["data"]["status"].as_str(),
            Some("completed" | "failed")
        ) {
            return body["data"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {job_id} did not finish");
}

/// Everything one instance does is seen at once by the other.
async fn instances_share_one_truth(store: &str) {
    let data = tempfile::tempdir().unwrap();
    let limits = ["--rate-limit-init", "4"];
    // One after the other: the first generates the signing key both use.
    let a = instance(store, data.path(), &limits);
    let b = instance(store, data.path(), &limits);

    let (status, creds) = init(&a).await;
    assert_eq!(status, StatusCode::OK);
    let creds = creds.unwrap();
    // The init limit (4 per minute per client) counts across both instances: one
    // session so far, three more anywhere, then 429 everywhere. Checked first, right
    // after the first init: the limit refills one init every 15 s, and the rest of the
    // test may take that long on a loaded machine.
    let mut answers = Vec::new();
    for server in [&a, &b, &a, &b] {
        answers.push(init(server).await.0);
    }
    assert_eq!(
        answers,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ],
        "rate limits count per client across instances"
    );

    let (status, on_a) = get(&a, "/api/session", &creds).await;
    assert_eq!(status, StatusCode::OK);
    let (status, on_b) = get(&b, "/api/session", &creds).await;
    assert_eq!(status, StatusCode::OK, "a session made on A works on B");
    assert_eq!(on_a["data"]["id"], on_b["data"]["id"]);

    let (status, rotated) = post(&a, "/api/session/csrf", &creds, None).await;
    assert_eq!(status, StatusCode::OK);
    let creds = Creds {
        csrf: rotated["data"]["csrf_token"].as_str().unwrap().to_owned(),
        ..creds
    };
    let (status, _) = post(&b, "/api/session/csrf", &creds, None).await;
    assert_eq!(status, StatusCode::OK, "a token rotated on A is valid on B");
    let (_, rotated) = post(&b, "/api/session/csrf", &creds, None).await;
    let creds = Creds {
        csrf: rotated["data"]["csrf_token"].as_str().unwrap().to_owned(),
        ..creds
    };

    let job_id = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        upload(&a, &creds, &job_id, "name,size\nphoto,12\n").await,
        StatusCode::CREATED
    );
    let request = json!({"job_id": job_id, "target_format": "json"});
    let (status, body) = post(&a, "/api/convert", &creds, Some(request)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let finished = wait_finished(&b, &creds, &job_id).await;
    assert_eq!(
        finished["status"], "completed",
        "a job converted by A is done on B"
    );

    let request = json!({"job_id": job_id});
    let (status, body) = post(&b, "/api/download_token", &creds, Some(request)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["data"]["download_token"].as_str().unwrap().to_owned();
    let path = format!("/api/download?token={token}");
    let first = client().get(a.url(&path)).send().await.unwrap().status();
    let second = client().get(b.url(&path)).send().await.unwrap().status();
    assert_eq!(
        (first, second),
        (StatusCode::OK, StatusCode::NOT_FOUND),
        "a token issued on B downloads on A, once"
    );
    // Raced: each of several tokens is taken by exactly one of the two instances.
    for _ in 0..5 {
        let request = json!({"job_id": job_id});
        let (_, body) = post(&a, "/api/download_token", &creds, Some(request)).await;
        let token = body["data"]["download_token"].as_str().unwrap().to_owned();
        let path = format!("/api/download?token={token}");
        let (first, second) = tokio::join!(
            client().get(a.url(&path)).send(),
            client().get(b.url(&path)).send()
        );
        let mut statuses = [first.unwrap().status(), second.unwrap().status()];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::NOT_FOUND],
            "a download token works once across instances, even when raced"
        );
    }

    let (status, _) = post(&b, "/api/session/close", &creds, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get(&a, "/api/session", &creds).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a close on B is seen at once on A"
    );
    let (status, _) = get(&a, &format!("/api/job_status?job_id={job_id}"), &creds).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn instances_sharing_redis_see_one_truth() {
    let redis = RedisServer::start();
    instances_share_one_truth(&redis.url()).await;
}

#[tokio::test]
async fn instances_sharing_a_redis_cluster_see_one_truth() {
    let cluster = RedisCluster::start();
    instances_share_one_truth(&cluster.url()).await;
}

/// An instance on `redis` whose maintenance pass (a handful of commands) runs once, as
/// it starts, and not again within the test (`--sweep-interval 1h`): the commands
/// counted after its first requests are theirs.
fn quiet_instance(redis: &RedisServer, data_dir: &Path) -> ServeProcess {
    instance(&redis.url(), data_dir, &["--sweep-interval", "1h"])
}

/// A quiet instance on `redis` and a session of it.
async fn quiet_session(redis: &RedisServer, data_dir: &Path) -> (ServeProcess, Creds) {
    let server = quiet_instance(redis, data_dir);
    let (status, creds) = init(&server).await;
    (
        server,
        creds.unwrap_or_else(|| panic!("no session: {status}")),
    )
}

/// The commands Redis ran while `requests` ran (the test's own `INFO` aside).
async fn commands_during<F: std::future::Future<Output = ()>>(
    redis: &RedisServer,
    requests: F,
) -> Vec<(String, u64)> {
    let before = redis.all_command_calls();
    requests.await;
    let after = redis.all_command_calls();
    after
        .iter()
        .map(|(name, calls)| (name.clone(), calls - before.get(name).copied().unwrap_or(0)))
        .filter(|(name, delta)| *delta > 0 && name != "info")
        .collect()
}

#[tokio::test]
async fn validating_a_request_is_one_redis_round_trip() {
    let redis = RedisServer::start();
    let data = tempfile::tempdir().unwrap();
    let (server, creds) = quiet_session(&redis, data.path()).await;
    const REQUESTS: u64 = 50;
    let commands = commands_during(&redis, async {
        for _ in 0..REQUESTS {
            let (status, _) = get(&server, "/api/session", &creds).await;
            assert_eq!(status, StatusCode::OK);
        }
    })
    .await;
    assert_eq!(
        commands,
        [("getex".to_owned(), REQUESTS)],
        "each validated request is exactly one command: GETEX reads and slides the idle expiry"
    );
}

#[tokio::test]
async fn rotating_a_csrf_token_is_one_redis_round_trip() {
    let redis = RedisServer::start();
    let data = tempfile::tempdir().unwrap();
    let (server, mut creds) = quiet_session(&redis, data.path()).await;
    let previous = creds.csrf.clone();
    // The first rotation loads the script into Redis (`SCRIPT LOAD`, once per process).
    let (status, body) = post(&server, "/api/session/csrf", &creds, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    creds.csrf = body["data"]["csrf_token"].as_str().unwrap().to_owned();
    const ROTATIONS: u64 = 20;
    let commands = commands_during(&redis, async {
        for _ in 0..ROTATIONS {
            let (status, body) = post(&server, "/api/session/csrf", &creds, None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let token = body["data"]["csrf_token"].as_str().unwrap().to_owned();
            assert_ne!(token, creds.csrf, "each rotation hands out a new token");
            creds.csrf = token;
        }
    })
    .await;
    // Redis counts the commands a script runs too: its GET, and the SET that swaps
    // the token and slides the idle expiry.
    assert_eq!(
        commands,
        [
            ("evalsha".to_owned(), ROTATIONS),
            ("get".to_owned(), ROTATIONS),
            ("set".to_owned(), ROTATIONS)
        ],
        "each rotation is one script: it resolves the session, slides its idle expiry and swaps the token"
    );

    // A token rotated away many rotations ago (neither current nor the previous one)
    // is refused in that one step and rotates nothing; the current one still works.
    let stale = Creds {
        csrf: previous,
        ..creds.clone()
    };
    let commands = commands_during(&redis, async {
        let (status, body) = post(&server, "/api/session/csrf", &stale, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"]["details"]["reason"], "stale_token");
    })
    .await;
    assert_eq!(
        commands,
        [
            ("evalsha".to_owned(), 1),
            ("get".to_owned(), 1),
            ("pexpireat".to_owned(), 1)
        ],
        "a refused rotation is the same one script, which only slides the idle expiry"
    );
    let (status, _) = get(&server, "/api/session", &creds).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = post(&server, "/api/session/csrf", &creds, None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the current token was not touched: {body}"
    );
}

/// How often the session's stored bytes were read (`HVALS` of its job sizes; the job
/// scripts read them with `HGETALL`).
fn quota_reads(commands: &[(String, u64)]) -> u64 {
    commands
        .iter()
        .filter(|(name, _)| name == "hvals")
        .map(|(_, calls)| *calls)
        .sum()
}

#[tokio::test]
async fn the_quota_is_read_ahead_only_for_an_upload_that_outgrows_memory() {
    let redis = RedisServer::start();
    let data = tempfile::tempdir().unwrap();
    let (server, creds) = quiet_session(&redis, data.path()).await;
    const SMALL: u64 = 5;
    let commands = commands_during(&redis, async {
        for _ in 0..SMALL {
            let job_id = uuid::Uuid::new_v4().to_string();
            let status = upload(&server, &creds, &job_id, "name,size\nphoto,12\n").await;
            assert_eq!(status, StatusCode::CREATED);
        }
    })
    .await;
    assert_eq!(
        quota_reads(&commands),
        0,
        "a small upload is held to the quota by the script that records it alone: {commands:?}"
    );
    // 300 KB: more than an upload held in memory, so it goes to disk bounded by the room
    // left in the quota, read once.
    let large = "name,size\n".repeat(30_000);
    let commands = commands_during(&redis, async {
        let job_id = uuid::Uuid::new_v4().to_string();
        let status = upload_named(&server, &creds, &job_id, "large.csv", &large).await;
        assert_eq!(status, StatusCode::CREATED);
    })
    .await;
    assert_eq!(quota_reads(&commands), 1, "{commands:?}");
}

#[tokio::test]
async fn redis_outage_is_503_and_service_resumes_without_restart() {
    let mut redis = RedisServer::start();
    let data = tempfile::tempdir().unwrap();
    let server = instance(&redis.url(), data.path(), &[]);
    let (_, creds) = init(&server).await;
    let creds = creds.unwrap();

    // Frozen: connections stay open and nothing answers; the instance gives up on
    // its own timeout instead of hanging the request.
    redis.pause();
    let started = Instant::now();
    let (status, body) = get(&server, "/api/session", &creds).await;
    let frozen = started.elapsed();
    redis.resume();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        frozen < Duration::from_secs(10),
        "a frozen Redis costs a request its store timeout, not a hang ({frozen:?})"
    );

    redis.stop();
    let started = Instant::now();
    let (status, body) = get(&server, "/api/session", &creds).await;
    let waited = started.elapsed();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["type"], "ServiceUnavailable");
    assert!(
        waited < Duration::from_secs(15),
        "answered within the client's request timeout, not a hang ({waited:?})"
    );
    let (status, _) = init(&server).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "no session issued unchecked"
    );
    let (status, body) = health(&server).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["data"]["status"], "unhealthy");

    redis.restart();
    let back = Instant::now();
    let recovered = loop {
        if init(&server).await.0 == StatusCode::OK {
            break back.elapsed();
        }
        assert!(
            back.elapsed() < Duration::from_secs(2),
            "the service must serve again within 2 s of Redis coming back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!(
        "redis outage: frozen answered in {frozen:?}, stopped answered in {waited:?}, \
         recovered {recovered:?} after restart"
    );
    let (status, body) = health(&server).await;
    assert_eq!(
        (status, &body["data"]["status"]),
        (StatusCode::OK, &json!("healthy"))
    );
}

#[tokio::test]
async fn killing_an_instance_leaves_its_sessions_to_the_others() {
    let redis = RedisServer::start();
    let data = tempfile::tempdir().unwrap();
    let unlimited = ["--rate-limit-init", "0"];
    let a = instance(&redis.url(), data.path(), &unlimited);
    let b = instance(&redis.url(), data.path(), &unlimited);
    let mut sessions = Vec::new();
    for _ in 0..20 {
        sessions.push(init(&a).await.1.unwrap());
    }
    // Load on A while it dies.
    let load = {
        let base = a.base.clone();
        tokio::spawn(async move {
            for _ in 0..200 {
                let _ = client()
                    .get(format!("{base}/api/session/init"))
                    .send()
                    .await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    a.kill_hard();
    let _ = load.await;
    for creds in &sessions {
        let (status, _) = get(&b, "/api/session", creds).await;
        assert_eq!(status, StatusCode::OK, "B serves the sessions A created");
        let (status, _) = post(&b, "/api/session/csrf", creds, None).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(init(&b).await.0, StatusCode::OK);
}

#[tokio::test]
async fn embedded_store_keeps_every_answered_session_after_sigkill() {
    let data = tempfile::tempdir().unwrap();
    let unlimited = ["--rate-limit-init", "0"];
    let server = instance("embedded", data.path(), &unlimited);
    let base = server.base.clone();
    let (answered_tx, mut answered_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut burst = Vec::new();
    for _ in 0..8 {
        let (base, answered) = (base.clone(), answered_tx.clone());
        burst.push(tokio::spawn(async move {
            for _ in 0..200 {
                let Ok(response) = client()
                    .get(format!("{base}/api/session/init"))
                    .send()
                    .await
                else {
                    return;
                };
                if response.status() == StatusCode::OK {
                    let session = cookie_of(&response, "trustyconvert_session").unwrap();
                    let csrf = cookie_of(&response, "csrftoken").unwrap();
                    let _ = answered.send(Creds { session, csrf });
                }
            }
        }));
    }
    drop(answered_tx);
    // Kill it mid-burst, after some answers are out.
    let mut answered = Vec::new();
    while answered.len() < 150 {
        answered.push(answered_rx.recv().await.expect("the burst answers"));
    }
    server.kill_hard();
    for task in burst {
        let _ = task.await;
    }
    while let Ok(creds) = answered_rx.try_recv() {
        answered.push(creds);
    }
    let restarted = instance("embedded", data.path(), &unlimited);
    let (status, body) = health(&restarted).await;
    assert_eq!(status, StatusCode::OK, "the database opens cleanly: {body}");
    for creds in &answered {
        let (status, _) = get(&restarted, "/api/session", creds).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "a session whose answer was sent survives"
        );
    }
    println!(
        "embedded SIGKILL: {} answered sessions all valid after restart",
        answered.len()
    );
}

/// A text file big enough that converting it to PDF takes a while.
fn long_text() -> String {
    "All work and no play makes a long text file for a slow conversion.\n".repeat(150_000)
}

async fn upload_named(
    server: &ServeProcess,
    creds: &Creds,
    job_id: &str,
    name: &str,
    text: &str,
) -> StatusCode {
    let form = Form::new().text("job_id", job_id.to_owned()).part(
        "file",
        Part::bytes(text.as_bytes().to_vec()).file_name(name.to_owned()),
    );
    client()
        .post(server.url("/api/upload"))
        .header("cookie", creds.cookie())
        .header("x-csrf-token", &creds.csrf)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_stopped_instances_jobs_fail_and_no_one_elses() {
    let redis = RedisServer::start();
    let data = tempfile::tempdir().unwrap();
    // The conversions are slow on purpose; how slow depends on the machine, so their
    // time limit is far above what any machine needs (the test is about leases).
    let fast = [
        "--sweep-interval",
        "1s",
        "--workers",
        "1",
        "--max-active-jobs",
        "4",
        "--conversion-timeout",
        "15m",
    ];
    let a = instance(&redis.url(), data.path(), &fast);
    let b = instance(&redis.url(), data.path(), &fast);
    let creds = init(&a).await.1.unwrap();
    let text = long_text();

    // B works on a slow job while A's maintenance runs every second: B's lease keeps
    // it B's.
    let on_b = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        upload_named(&b, &creds, &on_b, "b.txt", &text).await,
        StatusCode::CREATED
    );
    let request = json!({"job_id": on_b, "target_format": "pdf"});
    assert_eq!(
        post(&b, "/api/convert", &creds, Some(request)).await.0,
        StatusCode::ACCEPTED
    );

    // A takes two slow jobs (one runs, one waits for its only worker) and dies.
    let mut on_a = Vec::new();
    for _ in 0..2 {
        let job_id = uuid::Uuid::new_v4().to_string();
        assert_eq!(
            upload_named(&a, &creds, &job_id, "a.txt", &text).await,
            StatusCode::CREATED
        );
        let request = json!({"job_id": job_id, "target_format": "pdf"});
        assert_eq!(
            post(&a, "/api/convert", &creds, Some(request)).await.0,
            StatusCode::ACCEPTED
        );
        on_a.push(job_id);
    }
    a.kill_hard();

    let finished = wait_finished(&b, &creds, &on_b).await;
    assert_eq!(
        finished["status"], "completed",
        "another instance's sweep never fails B's job: {finished}"
    );
    let mut abandoned = 0;
    for job_id in &on_a {
        let job = wait_finished(&b, &creds, job_id).await;
        if job["status"] == "failed" {
            assert!(
                job["error"].as_str().unwrap().contains("restarted"),
                "{job}"
            );
            abandoned += 1;
        }
    }
    assert!(
        abandoned >= 1,
        "the job A queued but never ran is failed by B"
    );
}

#[tokio::test]
async fn redis_over_tls_with_a_password_in_the_url() {
    let redis = RedisServer::start_tls("s3cret-pass");
    let data = tempfile::tempdir().unwrap();
    let ca = redis.ca_file().display().to_string();
    let store = redis.url();
    let server = ServeProcess::start(
        data.path(),
        &["--store", &store],
        &[("SSL_CERT_FILE", ca.as_str())],
    );
    let (status, creds) = init(&server).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get(&server, "/api/session", &creds.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !server.log_text().contains("s3cret-pass"),
        "the password is never logged"
    );

    // A wrong password: the instance refuses to start, without echoing it.
    let wrong = store.replace("s3cret-pass", "not-the-pass");
    let output = std::process::Command::new(common::BIN)
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--store",
            &wrong,
            "--data-dir",
        ])
        .arg(data.path())
        .env("SSL_CERT_FILE", &ca)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(!stderr.contains("not-the-pass"), "{stderr}");
}

#[tokio::test]
async fn the_idle_expiry_slides_by_a_ttl_update_and_ends_the_session() {
    let redis = RedisServer::start();
    let data = tempfile::tempdir().unwrap();
    // The idle timeout leaves seconds to spare around the one request that must find
    // the session alive, so a loaded machine cannot make it late.
    let server = instance(&redis.url(), data.path(), &["--idle-timeout", "5s"]);
    let creds = init(&server).await.1.unwrap();
    // `PTTL` (ms left) or `PEXPIRETIME` (when, in ms) of the one session key.
    let expiry = |command: &str| {
        let keys = match redis.query(&["KEYS", "tc:*:session"]).unwrap() {
            redis::Value::Array(keys) => keys,
            other => panic!("{other:?}"),
        };
        assert_eq!(keys.len(), 1);
        let redis::Value::BulkString(key) = &keys[0] else {
            panic!("{keys:?}")
        };
        let key = String::from_utf8(key.clone()).unwrap();
        match redis.query(&[command, &key]).unwrap() {
            redis::Value::Int(ms) => ms,
            other => panic!("{other:?}"),
        }
    };
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let before = expiry("PTTL");
    assert!(before < 4000, "time passed: {before} ms left");
    let expires_before = expiry("PEXPIRETIME");
    assert_eq!(get(&server, "/api/session", &creds).await.0, StatusCode::OK);
    // The expiry moved as far as the time between the init and this request (at least
    // the 1.2 s slept; 1 s allows for millisecond rounding): now + idle, whatever time
    // the check below itself takes.
    let moved = expiry("PEXPIRETIME") - expires_before;
    assert!(
        moved >= 1000,
        "the request slid the idle expiry: moved by {moved} ms"
    );
    tokio::time::sleep(Duration::from_millis(5300)).await;
    assert_eq!(
        get(&server, "/api/session", &creds).await.0,
        StatusCode::UNAUTHORIZED,
        "idle for longer than the timeout: Redis expired it"
    );
}
