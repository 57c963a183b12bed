//! `trustyconvert serve` as an operator runs it: the real binary, real signals.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{ServeProcess, BIN};
use reqwest::StatusCode;
use serde_json::Value;

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

fn cookie_value(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .find_map(|v| {
            let first = v.to_str().ok()?.split(';').next()?;
            let (key, value) = first.split_once('=')?;
            (key == name).then(|| value.to_owned())
        })
}

async fn init(server: &ServeProcess) -> Creds {
    let response = reqwest::get(server.url("/api/session/init")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    Creds {
        session: cookie_value(&response, "trustyconvert_session").unwrap(),
        csrf: cookie_value(&response, "csrftoken").unwrap(),
    }
}

async fn session_status(server: &ServeProcess, creds: &Creds) -> StatusCode {
    let request = reqwest::Client::new()
        .get(server.url("/api/session"))
        .header("cookie", creds.cookie());
    request.send().await.unwrap().status()
}

async fn rotate(
    server: &ServeProcess,
    creds: &Creds,
    token: &str,
    correlation: &str,
) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(server.url("/api/session/csrf"))
        .header("cookie", creds.cookie())
        .header("x-csrf-token", token)
        .header("x-correlation-id", correlation)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

#[test]
fn serve_help_lists_the_operator_flags() {
    let output = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for flag in [
        "--bind",
        "--store",
        "--data-dir",
        "--insecure-cookies",
        "--allowed-origin",
        "--idle-timeout",
        "--absolute-timeout",
        "--csrf-grace",
        "--secret-key-file",
        "TRUSTY_BIND",
        "TRUSTY_STORE",
        "TRUSTY_DATA_DIR",
        "TRUSTY_IDLE_TIMEOUT",
    ] {
        assert!(help.contains(flag), "`serve --help` lacks {flag}:\n{help}");
    }
}

#[test]
fn bad_flags_exit_non_zero_with_a_message() {
    let output = Command::new(BIN)
        .args(["serve", "--idle-timeout", "soon"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--idle-timeout"));
    let output = Command::new(BIN)
        .args(["serve", "--store", "floppy"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("floppy"));
}

#[test]
fn an_invalid_public_origin_is_refused_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [
        "https://convert.example/app",
        "https://convert.example/",
        "convert.example",
        "ftp://convert.example",
        "https://user@convert.example",
    ] {
        let output = Command::new(BIN)
            .args(["serve", "--store", "memory", "--bind", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--public-origin", bad])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{bad} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("--public-origin") && stderr.contains(bad),
            "{bad}: {stderr}"
        );
    }
}

#[tokio::test]
async fn without_public_origin_the_derived_origin_is_announced_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(dir.path(), &["--store", "memory"], &[]);
    let log = server.log_text();
    let announced: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("no public origin configured"))
        .collect();
    assert_eq!(announced.len(), 1, "{log}");
    assert!(announced[0].contains("http://"), "{log}");
    drop(server);

    let server = ServeProcess::start(
        dir.path(),
        &[
            "--store",
            "memory",
            "--public-origin",
            "https://convert.example",
        ],
        &[],
    );
    let log = server.log_text();
    assert!(!log.contains("no public origin configured"), "{log}");
}

#[tokio::test]
async fn embedded_sessions_and_the_key_survive_sigkill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(dir.path(), &["--insecure-cookies"], &[]);
    let mut sessions = Vec::new();
    for _ in 0..20 {
        sessions.push(init(&server).await);
    }
    server.kill_hard();

    let server = ServeProcess::start(dir.path(), &["--insecure-cookies"], &[]);
    for creds in &sessions {
        assert_eq!(session_status(&server, creds).await, StatusCode::OK);
    }
    // The generated key was kept too: tokens minted before the crash still verify.
    let (status, body) = rotate(&server, &sessions[0], &sessions[0].csrf, "after-restart").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn sigterm_stops_cleanly_and_security_events_are_logged_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(dir.path(), &["--store", "memory"], &[]);
    let creds = init(&server).await;
    let (status, body) = rotate(&server, &creds, "forged-token", "corr-forged-1").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["type"], "CSRFValidationError");
    let (status, body) = rotate(&server, &creds, &creds.csrf, "corr-good-2").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (exit, log) = server.terminate();
    assert!(exit.success(), "exit status {exit:?}; log:\n{log}");
    let rejection = log
        .lines()
        .find(|l| l.contains("csrf_rejected"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(rejection.contains("corr-forged-1"), "{rejection}");
    assert!(
        !log.contains(&creds.session),
        "the secret session id reached the log"
    );
    assert!(!log.contains(&creds.csrf), "a CSRF token reached the log");
    assert!(log.contains("stopped"), "{log}");
}

#[tokio::test]
async fn environment_variables_configure_serve() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(
        dir.path(),
        &[],
        &[
            ("TRUSTY_BIND", "127.0.0.1:0"),
            ("TRUSTY_STORE", "memory"),
            ("TRUSTY_INSECURE_COOKIES", "true"),
            ("TRUSTY_IDLE_TIMEOUT", "700ms"),
        ],
    );
    let response = reqwest::get(server.url("/api/session/init")).await.unwrap();
    let cookies: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_ascii_lowercase())
        .collect();
    assert!(cookies.iter().all(|c| !c.contains("secure")), "{cookies:?}");
    let creds = Creds {
        session: cookie_value(&response, "trustyconvert_session").unwrap(),
        csrf: cookie_value(&response, "csrftoken").unwrap(),
    };
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        session_status(&server, &creds).await,
        StatusCode::UNAUTHORIZED,
        "idle timeout from env"
    );
}
