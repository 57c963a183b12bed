//! The concurrency checker (`docs/RELIABILITY.md`): concurrent clients with seeded
//! random timing (init, validate, rotate, upload, convert, download, close,
//! force-init, and provoked races between them) against the real binary, every
//! request recorded; afterwards the invariants are judged over the history. Against
//! (a) the embedded store, (b) two instances sharing one real Redis and one data
//! directory.
//!
//! `TRUSTY_CHECKER_SECS` sets the load per store (default 10), `TRUSTY_CHECKER_SEED`
//! replays a run's operation choices and pauses; run with `--nocapture` to see the
//! report.

mod checker;
mod common;

#[path = "../../session/tests/support/redis_server.rs"]
mod redis_server;

use checker::{Backend, Settings};
use common::ServeProcess;
use redis_server::RedisServer;

fn instance(store: &str, data_dir: &std::path::Path, settings: &Settings) -> ServeProcess {
    let mut flags = vec!["--store".to_owned(), store.to_owned()];
    flags.extend(settings.serve_flags());
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    ServeProcess::start(data_dir, &flags, &[])
}

/// The errors an instance logged (the first few), to explain a 5xx.
fn print_problems(name: &str, server: &ServeProcess) {
    let log = server.log_text();
    let problems: Vec<&str> = log.lines().filter(|line| line.contains("ERROR")).collect();
    if !problems.is_empty() {
        println!(
            "[{name}] {} error line(s) logged, the first ones:",
            problems.len()
        );
        for line in problems.iter().take(10) {
            println!("    {line}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_store_keeps_its_invariants_under_concurrent_clients() {
    let settings = Settings::from_env();
    let data = tempfile::tempdir().unwrap();
    let server = instance("embedded", data.path(), &settings);
    let backend = Backend::Embedded {
        database: data.path().join("trustyconvert.sqlite3"),
    };
    let outcome = checker::check(
        "embedded",
        vec![server.base.clone()],
        data.path(),
        backend,
        settings,
    )
    .await;
    print_problems("embedded", &server);
    drop(server);
    outcome.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_redis_keep_their_invariants_under_concurrent_clients() {
    let settings = Settings::from_env();
    let redis = RedisServer::start();
    let data = tempfile::tempdir().unwrap();
    // One after the other: the first generates the signing key both use.
    let a = instance(&redis.url(), data.path(), &settings);
    let b = instance(&redis.url(), data.path(), &settings);
    let backend = Backend::Redis { url: redis.url() };
    let outcome = checker::check(
        "redis ×2",
        vec![a.base.clone(), b.base.clone()],
        data.path(),
        backend,
        settings,
    )
    .await;
    print_problems("redis instance A", &a);
    print_problems("redis instance B", &b);
    drop((a, b));
    outcome.assert_clean();
}
