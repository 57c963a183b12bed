//! `trustyconvert session init|status|close` against a real `trustyconvert serve`.

mod common;

use std::process::{Command, Output};

use common::{ServeProcess, BIN};

fn session(state_dir: &std::path::Path, server: &str, action: &str) -> Output {
    Command::new(BIN)
        .args(["session", action, "--server", server])
        .env("TRUSTY_STATE_DIR", state_dir)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn session_line(output: &Output) -> String {
    stdout(output)
        .lines()
        .find(|l| l.starts_with("session:"))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn init_status_close_round_trip_keeps_one_session_between_runs() {
    let data = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(data.path(), &["--store", "memory"], &[]);

    let status = session(state.path(), &server.base, "status");
    assert!(status.status.success());
    assert!(
        stdout(&status).contains("No active session"),
        "{}",
        stdout(&status)
    );

    let init = session(state.path(), &server.base, "init");
    assert!(init.status.success(), "{init:?}");
    let id = session_line(&init);
    assert!(id.len() > "session:".len() + 10, "{}", stdout(&init));

    let status = session(state.path(), &server.base, "status");
    assert_eq!(
        session_line(&status),
        id,
        "status shows the session kept from the last run"
    );
    let again = session(state.path(), &server.base, "init");
    assert_eq!(session_line(&again), id, "init joins the kept session");

    let state_file = std::fs::metadata(state.path().join("cookies.json")).unwrap();
    #[cfg(unix)]
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&state_file.permissions()) & 0o777,
        0o600
    );

    let close = session(state.path(), &server.base, "close");
    assert!(close.status.success());
    assert!(
        stdout(&close).contains("Session closed"),
        "{}",
        stdout(&close)
    );
    let status = session(state.path(), &server.base, "status");
    assert!(stdout(&status).contains("No active session"));
    let close = session(state.path(), &server.base, "close");
    assert!(stdout(&close).contains("No active session"));
}

#[test]
fn an_unreachable_server_gives_a_clear_message_and_a_failure_exit() {
    let state = tempfile::tempdir().unwrap();
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = format!("http://127.0.0.1:{port}");
    for action in ["init", "status", "close"] {
        let output = session(state.path(), &server, action);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{action}: {output:?}");
        assert!(
            stderr.contains("cannot reach the server"),
            "{action}: {stderr}"
        );
        assert!(stderr.contains(&server), "{action}: {stderr}");
        assert!(!stderr.contains("panicked"), "{action}: {stderr}");
    }
}

/// A server that accepts connections and never answers; they stay open while it lives.
fn silent_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for connection in listener.incoming().flatten() {
            held.push(connection);
        }
    });
    base
}

#[test]
fn timeout_flag_and_env_bound_the_wait_for_a_silent_server() {
    let state = tempfile::tempdir().unwrap();
    let server = silent_server();
    for (args, env) in [(vec!["--timeout", "300ms"], None), (vec![], Some("300ms"))] {
        let mut command = Command::new(BIN);
        command
            .args(["session", "init", "--server", &server])
            .args(&args)
            .env("TRUSTY_STATE_DIR", state.path());
        if let Some(value) = env {
            command.env("TRUSTY_TIMEOUT", value);
        }
        let started = std::time::Instant::now();
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} {env:?}: {output:?}");
        assert!(stderr.contains("did not answer in time"), "{stderr}");
        assert!(
            stderr.contains("--timeout"),
            "says how to wait longer: {stderr}"
        );
        // The session start gives up after twice the timeout; the default would be 30 s.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }
    let zero = Command::new(BIN)
        .args(["session", "status", "--server", &server, "--timeout", "0s"])
        .env("TRUSTY_STATE_DIR", state.path())
        .output()
        .unwrap();
    assert!(!zero.status.success());
    assert!(String::from_utf8_lossy(&zero.stderr).contains("longer than 0"));
}
