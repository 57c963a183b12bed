//! Runs the `concurrent_ensure` example (built by `cargo test`) against a real server and
//! checks its claim against the server's own counter.

mod common;

use common::TestServer;

fn example_binary() -> std::path::PathBuf {
    // Test binaries live in target/<profile>/deps; examples in target/<profile>/examples.
    let test_binary = std::env::current_exe().unwrap();
    let profile_dir = test_binary.parent().unwrap().parent().unwrap();
    profile_dir
        .join("examples")
        .join(format!("concurrent_ensure{}", std::env::consts::EXE_SUFFIX))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_reports_one_init_for_many_callers_and_the_server_agrees() {
    let server = TestServer::start(|_| {}).await;
    let binary = example_binary();
    assert!(binary.exists(), "{} was not built", binary.display());
    let output = tokio::process::Command::new(&binary)
        .args(["--server", &server.base, "--callers", "3000"])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let line: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        line,
        serde_json::json!({"callers": 3000, "init_requests": 1, "ok": 3000})
    );
    assert_eq!(server.metric("trusty_session_init_requests_total").await, 1);
}
