//! The OpenAPI document served at `/api/openapi.json` describes what the server really
//! answers: every documented operation is exercised against a real server here, and
//! every answer's status must be documented for its operation and its JSON body must
//! validate against the documented schema. An operation the document lists but this
//! test never exercises fails the test too, so the document and the test stay whole.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use common::conversion::{new_job_id, sample_image, upload, wait_finished};
use common::*;
use image::ImageFormat;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The served document, and which (method, path) operations were checked against it.
struct Contract {
    document: Value,
    checked: Mutex<BTreeSet<(String, String)>>,
}

impl Contract {
    async fn fetch(server: &TestServer) -> Self {
        let response = client()
            .get(server.url("/api/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let document: Value = response.json().await.unwrap();
        assert!(
            document["openapi"].as_str().unwrap().starts_with("3.1"),
            "an OpenAPI 3.1 document"
        );
        let contract = Self {
            document,
            checked: Mutex::default(),
        };
        contract.mark("get", "/api/openapi.json", StatusCode::OK);
        contract
    }

    /// The documented response of `method path` for `status`, marking the operation
    /// as exercised. Panics if the operation or the status is not documented.
    fn mark(&self, method: &str, path: &str, status: StatusCode) -> &Value {
        let operation = &self.document["paths"][path][method];
        assert!(
            operation.is_object(),
            "{method} {path} is not in the document"
        );
        let response = &operation["responses"][status.as_str()];
        assert!(
            response.is_object(),
            "{method} {path} answered {status}, which the document does not list"
        );
        self.checked
            .lock()
            .unwrap()
            .insert((method.to_owned(), path.to_owned()));
        response
    }

    /// Checks a JSON answer: its status is documented and its body validates against
    /// the documented schema (with the document's components for references).
    fn check(&self, method: &str, path: &str, status: StatusCode, body: &Value) {
        let response = self.mark(method, path, status);
        let schema = &response["content"]["application/json"]["schema"];
        assert!(
            schema.is_object(),
            "{method} {path} {status}: no JSON schema documented"
        );
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.document["components"],
            "allOf": [schema],
        });
        let validator = jsonschema::draft202012::new(&root).expect("the schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|error| format!("{} at {}", error, error.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {path} {status}: the body does not match the document:\n{}\nbody: {body}",
            errors.join("\n")
        );
    }

    /// Every operation the document lists.
    fn documented(&self) -> BTreeSet<(String, String)> {
        let mut operations = BTreeSet::new();
        for (path, item) in self.document["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                operations.insert((method.clone(), path.clone()));
            }
        }
        operations
    }

    fn assert_all_exercised(&self) {
        let checked = self.checked.lock().unwrap().clone();
        let missing: Vec<_> = self.documented().difference(&checked).cloned().collect();
        assert!(
            missing.is_empty(),
            "documented but never checked: {missing:?}"
        );
    }
}

/// `method path` with the session's cookies (and CSRF header on POST), checked.
async fn call(
    contract: &Contract,
    server: &TestServer,
    method: Method,
    path: &str,
    creds: Option<&Creds>,
    json_body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = client().request(method.clone(), server.url(path));
    if let Some(creds) = creds {
        request = request.header("cookie", creds.cookie_header());
        if method == Method::POST {
            request = request.header("x-csrf-token", &creds.csrf);
        }
    }
    if let Some(body) = json_body {
        request = request.json(&body);
    }
    let (status, headers, body) = split(request.send().await.unwrap()).await;
    let template = path.split('?').next().unwrap();
    contract.check(
        &method.as_str().to_ascii_lowercase(),
        template,
        status,
        &body,
    );
    (status, headers, body)
}

#[tokio::test]
async fn every_documented_answer_matches_the_openapi_document() {
    let server = TestServer::start(|config| {
        config.jobs.max_upload_bytes = 64 * 1024;
        config.jobs.max_active_jobs = 1;
    })
    .await;
    let contract = Contract::fetch(&server).await;
    let get = Method::GET;
    let post = Method::POST;

    // Sessions.
    let (status, headers, body) = call(
        &contract,
        &server,
        get.clone(),
        "/api/session/init",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let creds = creds_from(&headers, &body);
    call(
        &contract,
        &server,
        get.clone(),
        "/api/session/init?bogus=1",
        None,
        None,
    )
    .await;
    call(
        &contract,
        &server,
        get.clone(),
        "/api/session",
        Some(&creds),
        None,
    )
    .await;
    call(&contract, &server, get.clone(), "/api/session", None, None).await;
    let (status, _, body) = call(
        &contract,
        &server,
        post.clone(),
        "/api/session/csrf",
        Some(&creds),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let creds = Creds {
        csrf: body["data"]["csrf_token"].as_str().unwrap().to_owned(),
        ..creds
    };
    let forged = Creds {
        csrf: "forged".to_owned(),
        ..creds.clone()
    };
    let (status, _, _) = call(
        &contract,
        &server,
        post.clone(),
        "/api/session/csrf",
        Some(&forged),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = call(
        &contract,
        &server,
        post.clone(),
        "/api/session/close",
        Some(&forged),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Service information.
    call(&contract, &server, get.clone(), "/api/health", None, None).await;
    for path in ["/api/convert/formats", "/api/supported-conversions"] {
        call(&contract, &server, get.clone(), path, None, None).await;
    }
    let metrics = client().get(server.url("/metrics")).send().await.unwrap();
    contract.mark("get", "/metrics", metrics.status());

    // Upload.
    let job_id = new_job_id();
    let (status, _, body) = upload(
        &server,
        &creds,
        &job_id,
        "photo.png",
        sample_image(ImageFormat::Png),
    )
    .await;
    contract.check("post", "/api/upload", status, &body);
    assert_eq!(status, StatusCode::CREATED);
    for (id, name, bytes) in [
        (
            "not-a-uuid".to_owned(),
            "photo.png",
            sample_image(ImageFormat::Png),
        ),
        (new_job_id(), "program.exe", b"MZ....".to_vec()),
        (new_job_id(), "big.txt", vec![b'a'; 100 * 1024]),
    ] {
        let (status, _, body) = upload(&server, &creds, &id, name, bytes).await;
        contract.check("post", "/api/upload", status, &body);
    }
    let anonymous = Form::new().part("file", Part::bytes(b"x".to_vec()).file_name("a.txt"));
    let response = client()
        .post(server.url("/api/upload"))
        .multipart(anonymous)
        .send()
        .await
        .unwrap();
    let (status, _, body) = split(response).await;
    contract.check("post", "/api/upload", status, &body);

    // Convert and status.
    let convert = |job: &str, target: &str| json!({"job_id": job, "target_format": target});
    call(
        &contract,
        &server,
        post.clone(),
        "/api/convert",
        Some(&creds),
        Some(convert(&job_id, "exe")),
    )
    .await;
    call(
        &contract,
        &server,
        post.clone(),
        "/api/convert",
        Some(&creds),
        Some(convert(&new_job_id(), "jpeg")),
    )
    .await;
    let (status, _, _) = call(
        &contract,
        &server,
        post.clone(),
        "/api/convert",
        Some(&creds),
        Some(convert(&job_id, "jpeg")),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let status_path = format!("/api/job_status?job_id={job_id}");
    call(
        &contract,
        &server,
        get.clone(),
        &status_path,
        Some(&creds),
        None,
    )
    .await;
    call(
        &contract,
        &server,
        get.clone(),
        "/api/job_status?job_id=nope",
        Some(&creds),
        None,
    )
    .await;
    let unknown = format!("/api/job_status?job_id={}", new_job_id());
    call(
        &contract,
        &server,
        get.clone(),
        &unknown,
        Some(&creds),
        None,
    )
    .await;
    let finished = wait_finished(&server, &creds, &job_id).await;
    assert_eq!(finished["status"], "completed");
    let (status, _, body) = call(
        &contract,
        &server,
        get.clone(),
        &status_path,
        Some(&creds),
        None,
    )
    .await;
    assert_eq!(
        (status, &body["data"]["target_format"]),
        (StatusCode::OK, &json!("jpeg"))
    );

    // Downloads.
    let token_request = |job: &str| Some(json!({"job_id": job}));
    call(
        &contract,
        &server,
        post.clone(),
        "/api/download_token",
        Some(&creds),
        token_request(&new_job_id()),
    )
    .await;
    let (status, _, body) = call(
        &contract,
        &server,
        post.clone(),
        "/api/download_token",
        Some(&creds),
        token_request(&job_id),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = body["data"]["download_token"].as_str().unwrap().to_owned();
    let url = server.url(&format!("/api/download?token={token}"));
    let head = client().head(&url).send().await.unwrap();
    contract.mark("head", "/api/download", head.status());
    assert_eq!(head.status(), StatusCode::OK);
    let file = client().get(&url).send().await.unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    contract.mark("get", "/api/download", file.status());
    let (status, _, _) = call(
        &contract,
        &server,
        get.clone(),
        &format!("/api/download?token={token}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a token works once");
    call(&contract, &server, get.clone(), "/api/download", None, None).await;

    // Many files: the list, a zip, deleting.
    let (status, _, body) = call(
        &contract,
        &server,
        get.clone(),
        "/api/jobs",
        Some(&creds),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["jobs"][0]["job_id"], job_id.as_str());
    let archive = |jobs: Vec<String>| Some(json!({ "job_ids": jobs }));
    for (jobs, expected) in [
        (vec![job_id.clone()], StatusCode::CREATED),
        (vec![new_job_id()], StatusCode::NOT_FOUND),
        (vec![], StatusCode::BAD_REQUEST),
    ] {
        let (status, _, _) = call(
            &contract,
            &server,
            post.clone(),
            "/api/download/archive",
            Some(&creds),
            archive(jobs),
        )
        .await;
        assert_eq!(status, expected);
    }
    let delete_job = || {
        client()
            .delete(server.url(&format!("/api/jobs/{job_id}")))
            .header("cookie", creds.cookie_header())
            .header("x-csrf-token", &creds.csrf)
            .send()
    };
    let deleted = delete_job().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    contract.mark("delete", "/api/jobs/{job_id}", deleted.status());
    let (status, _, body) = split(delete_job().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    contract.check("delete", "/api/jobs/{job_id}", status, &body);

    let (status, _, _) = call(
        &contract,
        &server,
        post.clone(),
        "/api/session/close",
        Some(&creds),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    contract.assert_all_exercised();
}

#[tokio::test]
async fn rate_limited_and_unavailable_answers_match_the_openapi_document() {
    let limited = TestServer::start(|config| config.rate_limits.init_per_minute = 1).await;
    let contract = Contract::fetch(&limited).await;
    for _ in 0..2 {
        call(
            &contract,
            &limited,
            Method::GET,
            "/api/session/init",
            None,
            None,
        )
        .await;
    }

    let store = Arc::new(InstrumentedStore::default());
    let server = TestServer::start_with_storage(store.clone()).await;
    let creds = new_session(&server).await;
    store.down.store(true, Ordering::SeqCst);
    let (status, _, _) = call(
        &contract,
        &server,
        Method::GET,
        "/api/session/init",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _, body) = call(&contract, &server, Method::GET, "/api/health", None, None).await;
    assert_eq!(
        (status, &body["data"]["status"]),
        (StatusCode::SERVICE_UNAVAILABLE, &json!("unhealthy"))
    );
    let (status, _, _) = call(
        &contract,
        &server,
        Method::GET,
        "/api/session",
        Some(&creds),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn the_documents_paths_and_upload_fields_are_the_protocols() {
    use trustyconvert_protocol::{fields, paths};
    let server = TestServer::start(|_| {}).await;
    let contract = Contract::fetch(&server).await;
    let documented: BTreeSet<&str> = contract.document["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let protocol = BTreeSet::from([
        paths::SESSION,
        paths::SESSION_INIT,
        paths::SESSION_CSRF,
        paths::SESSION_CLOSE,
        paths::HEALTH,
        paths::FORMATS,
        paths::SUPPORTED_CONVERSIONS,
        paths::OPENAPI,
        paths::UPLOAD,
        paths::CONVERT,
        paths::JOB_STATUS,
        paths::DOWNLOAD_TOKEN,
        paths::DOWNLOAD,
        paths::DOWNLOAD_ARCHIVE,
        paths::JOBS,
        paths::JOB,
        paths::METRICS,
    ]);
    assert_eq!(documented, protocol);

    let form = &contract.document["paths"][paths::UPLOAD]["post"]["requestBody"]["content"]
        ["multipart/form-data"]["schema"];
    let name = form["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .unwrap_or_else(|| panic!("the upload form is a named schema: {form}"));
    let properties: BTreeSet<&str> = contract.document["components"]["schemas"][name]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(properties, BTreeSet::from([fields::JOB_ID, fields::FILE]));
}
