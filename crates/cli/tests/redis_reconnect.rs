//! Real `trustyconvert serve` processes on one real Redis (a single `redis-server`, or a
//! three-master cluster) that is restarted under them: no request fails once Redis is
//! up again, also on an instance that was idle through the outage and so still held
//! the connection Redis closed.

mod common;

#[path = "../../session/tests/support/redis_server.rs"]
mod redis_server;

use std::path::Path;
use std::time::{Duration, Instant};

use common::ServeProcess;
use redis_server::{RedisCluster, RedisServer};
use reqwest::StatusCode;
use serde_json::Value;

/// An instance on `store`, sharing `data_dir` (files and the signing key).
fn instance(store: &str, data_dir: &Path) -> ServeProcess {
    ServeProcess::start(data_dir, &["--store", store], &[])
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

/// `GET /api/session/init` without a cookie: a new session (the init rate limit's
/// script, then `SET NX`: writes). Returns the status, the body and the cookie header
/// the new session's requests carry.
async fn init(server: &ServeProcess) -> (StatusCode, Value, Option<String>) {
    let response = client()
        .get(server.url("/api/session/init"))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let cookie = cookie_of(&response, "trustyconvert_session").map(|session| {
        let csrf = cookie_of(&response, "csrftoken").unwrap();
        format!("trustyconvert_session={session}; csrftoken={csrf}")
    });
    (status, response.json().await.unwrap_or(Value::Null), cookie)
}

/// `GET /api/session` with `cookie` (one `GETEX`).
async fn status(server: &ServeProcess, cookie: &str) -> (StatusCode, Value) {
    let response = client()
        .get(server.url("/api/session"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// What an instance logged about its store, for failure messages.
fn store_errors(server: &ServeProcess) -> String {
    server
        .log_text()
        .lines()
        .filter(|line| line.contains("store"))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The Redis the instances share.
enum Redis {
    Server(RedisServer),
    Cluster(RedisCluster),
}

impl Redis {
    fn url(&self) -> String {
        match self {
            Redis::Server(server) => server.url(),
            Redis::Cluster(cluster) => cluster.url(),
        }
    }

    /// Kills every process (SIGKILL): their connections are closed.
    fn stop(&mut self) {
        match self {
            Redis::Server(server) => server.stop(),
            Redis::Cluster(cluster) => cluster.nodes.iter_mut().for_each(RedisServer::stop),
        }
    }

    /// Starts it again on the same ports (empty: nothing is persisted) and returns once
    /// it answers: `PING` for a server, `cluster_state:ok` from every node of a cluster
    /// (which re-forms from the node files it kept).
    fn start_again(&mut self) {
        match self {
            Redis::Server(server) => {
                server.restart();
                assert!(server.query(&["PING"]).is_ok());
            }
            Redis::Cluster(cluster) => {
                cluster.nodes.iter_mut().for_each(RedisServer::restart);
                let started = Instant::now();
                while !cluster.nodes.iter().all(|node| {
                    node.text(&["CLUSTER", "INFO"])
                        .is_some_and(|info| info.contains("cluster_state:ok"))
                }) {
                    assert!(
                        started.elapsed() < Duration::from_secs(30),
                        "the cluster re-forms"
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }
}

/// Three instances use Redis once each; Redis goes down, one of them (`busy`) is asked
/// meanwhile, the other two are idle; Redis comes back; then each idle instance's first
/// request must be served: one a read (`GETEX`), one writes (the init rate limit's
/// script, `SET NX`), neither replayable blindly.
async fn idle_instances_serve_their_first_request_after_a_restart(mut redis: Redis) {
    let data = tempfile::tempdir().unwrap();
    // One after the other: the first generates the signing key all of them use.
    let busy = instance(&redis.url(), data.path());
    let idle_reader = instance(&redis.url(), data.path());
    let idle_writer = instance(&redis.url(), data.path());

    // Every instance has used its connection once.
    let (code, body, cookie) = init(&busy).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let cookie = cookie.unwrap();
    for server in [&idle_reader, &idle_writer] {
        let (code, body) = status(server, &cookie).await;
        assert_eq!(code, StatusCode::OK, "{body}");
    }

    // The outage, seen only by `busy`: the documented typed 503, never fail-open.
    redis.stop();
    let (code, body) = status(&busy, &cookie).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["type"], "ServiceUnavailable", "{body}");
    let (code, body, issued) = init(&busy).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(issued.is_none(), "no session issued unchecked");
    // Long enough that a single server's idle instances have given up reconnecting by
    // themselves (one attempt and one retry, at most 0.5 s apart): they come out of the
    // outage holding a failed connection. The verdict does not depend on this pause:
    // without the fix the idle instances fail after any outage.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    redis.start_again();
    let back = Instant::now();
    let cookie = loop {
        if let (StatusCode::OK, _, Some(cookie)) = init(&busy).await {
            break cookie;
        }
        assert!(
            back.elapsed() < Duration::from_secs(2),
            "the busy instance serves again within 2 s of Redis answering: {}",
            store_errors(&busy)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let recovered = back.elapsed();

    // The idle instances' first requests since the outage.
    let (read, read_body) = status(&idle_reader, &cookie).await;
    let (write, write_body, issued) = init(&idle_writer).await;
    assert_eq!(
        (read, write),
        (StatusCode::OK, StatusCode::OK),
        "an idle instance's first request after Redis came back, a read (GETEX): {read_body} \
         (log: {}); writes (rate script, SET NX): {write_body} (log: {})",
        store_errors(&idle_reader),
        store_errors(&idle_writer),
    );
    let issued = issued.unwrap();
    assert_eq!(status(&idle_reader, &issued).await.0, StatusCode::OK);
    assert_eq!(status(&busy, &issued).await.0, StatusCode::OK);
    println!(
        "after the restart the busy instance served again in {recovered:?}; \
         both idle instances served their first request"
    );
}

#[tokio::test]
async fn an_instance_idle_through_a_redis_restart_serves_its_first_request() {
    idle_instances_serve_their_first_request_after_a_restart(Redis::Server(RedisServer::start()))
        .await;
}

#[tokio::test]
async fn an_instance_idle_through_a_redis_cluster_restart_serves_its_first_request() {
    idle_instances_serve_their_first_request_after_a_restart(Redis::Cluster(RedisCluster::start()))
        .await;
}
