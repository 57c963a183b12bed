//! The example application over real HTTP: the binary is started on a free port and
//! driven like a browser would (cookies kept by hand, the CSRF header repeated).

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The example binary, stopped when dropped.
struct App {
    child: Child,
    base: String,
}

impl App {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_axum-app"))
            .arg("127.0.0.1:0")
            .stdout(Stdio::piped())
            .spawn()
            .expect("the example starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout is piped"))
            .read_line(&mut line)
            .expect("the example prints its address");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self { child, base }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client keeping the two cookies the way a browser would.
struct Browser {
    http: reqwest::Client,
    base: String,
    session: Option<String>,
    csrf: Option<String>,
}

impl Browser {
    fn new(app: &App) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: app.base.clone(),
            session: None,
            csrf: None,
        }
    }

    async fn send(&mut self, method: &str, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.base);
        let mut request = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url).json(&json!({ "message": "hello" })),
        };
        let cookies: Vec<String> = [
            ("trustyconvert_session", &self.session),
            ("csrftoken", &self.csrf),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_ref().map(|v| format!("{name}={v}")))
        .collect();
        if !cookies.is_empty() {
            request = request.header(COOKIE, cookies.join("; "));
        }
        if let Some(token) = token {
            request = request.header("x-csrf-token", token);
        }
        let response = request.send().await.expect("the example answers");
        for cookie in response.headers().get_all(SET_COOKIE) {
            let cookie = cookie.to_str().unwrap();
            let (pair, _) = cookie.split_once(';').unwrap_or((cookie, ""));
            let (name, value) = pair.split_once('=').unwrap();
            let value = (!value.is_empty()).then(|| value.to_owned());
            match name {
                "trustyconvert_session" => self.session = value,
                "csrftoken" => self.csrf = value,
                other => panic!("unexpected cookie {other}"),
            }
        }
        let status = response.status();
        (
            status,
            response
                .json()
                .await
                .expect("every answer is a JSON envelope"),
        )
    }
}

#[tokio::test]
async fn the_example_app_issues_rotates_checks_and_closes_sessions() {
    let app = App::start();
    let mut browser = Browser::new(&app);

    let (status, init) = browser.send("GET", "/api/session/init", None).await;
    assert_eq!(status, StatusCode::OK, "{init}");
    let id = init["data"]["id"].as_str().unwrap().to_owned();
    let token = init["data"]["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(
        browser.csrf.as_deref(),
        Some(token.as_str()),
        "the cookie carries the token"
    );

    let (status, current) = browser.send("GET", "/api/session", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(current["data"]["id"], id.as_str());

    let (status, refused) = browser.send("POST", "/api/echo", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["error"]["type"], "CSRFValidationError");
    assert_eq!(refused["error"]["details"]["reason"], "missing_token");

    let (status, echoed) = browser.send("POST", "/api/echo", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{echoed}");
    assert_eq!(echoed["data"]["echo"]["message"], "hello");
    assert_eq!(echoed["data"]["session"], id.as_str());

    let (status, rotated) = browser
        .send("POST", "/api/session/csrf", Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let fresh = rotated["data"]["csrf_token"].as_str().unwrap().to_owned();
    assert_ne!(fresh, token, "rotation hands out a new token");
    let (status, _) = browser.send("POST", "/api/echo", Some(&fresh)).await;
    assert_eq!(status, StatusCode::OK, "the new token works");

    let (status, closed) = browser
        .send("POST", "/api/session/close", Some(&fresh))
        .await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert_eq!(browser.session, None, "closing expires the session cookie");
    let (status, gone) = browser.send("GET", "/api/session", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{gone}");
    assert_eq!(gone["error"]["type"], "SessionValidationError");
}

#[tokio::test]
async fn a_token_of_another_session_is_refused_by_the_example_app() {
    let app = App::start();
    let mut alice = Browser::new(&app);
    let mut mallory = Browser::new(&app);
    alice.send("GET", "/api/session/init", None).await;
    mallory.send("GET", "/api/session/init", None).await;
    // Mallory's token, planted in Alice's cookie and header: the MAC binds it to
    // Mallory's session.
    let planted = mallory.csrf.clone().unwrap();
    alice.csrf = Some(planted.clone());
    let (status, refused) = alice.send("POST", "/api/echo", Some(&planted)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["error"]["details"]["reason"], "bad_signature");
}
