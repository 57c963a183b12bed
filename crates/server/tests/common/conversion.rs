//! Helpers for the conversion API tests: sample files and the upload → convert →
//! status → download flow over real HTTP.

use std::io::Cursor;
use std::time::Duration;

use image::{DynamicImage, ImageFormat, Rgba, RgbaImage};
use reqwest::header::HeaderMap;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{client, send, split, Creds, TestServer};

pub const WIDTH: u32 = 37;
pub const HEIGHT: u32 = 23;

/// A small RGBA gradient in `format` (alpha dropped where the format has none).
pub fn sample_image(format: ImageFormat) -> Vec<u8> {
    let image = RgbaImage::from_fn(WIDTH, HEIGHT, |x, y| {
        Rgba([(x * 6) as u8, (y * 11) as u8, 128, 200])
    });
    let image = match format {
        ImageFormat::Jpeg | ImageFormat::Bmp => {
            DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(image).to_rgb8())
        }
        _ => DynamicImage::ImageRgba8(image),
    };
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

pub fn new_job_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `POST /api/upload` with `file` (named `filename`) and `job_id`.
pub async fn upload(
    server: &TestServer,
    creds: &Creds,
    job_id: &str,
    filename: &str,
    bytes: Vec<u8>,
) -> (StatusCode, HeaderMap, Value) {
    upload_part(
        server,
        creds,
        job_id,
        Part::bytes(bytes).file_name(filename.to_owned()),
    )
    .await
}

/// `POST /api/upload` with a prepared `file` part.
pub async fn upload_part(
    server: &TestServer,
    creds: &Creds,
    job_id: &str,
    part: Part,
) -> (StatusCode, HeaderMap, Value) {
    let form = Form::new()
        .text("job_id", job_id.to_owned())
        .part("file", part);
    let request = client()
        .post(server.url("/api/upload"))
        .header("cookie", creds.cookie_header())
        .header("x-csrf-token", &creds.csrf)
        .multipart(form);
    split(request.send().await.unwrap()).await
}

/// `POST /api/convert`.
pub async fn convert(
    server: &TestServer,
    creds: &Creds,
    body: Value,
) -> (StatusCode, HeaderMap, Value) {
    let request = client()
        .post(server.url("/api/convert"))
        .header("cookie", creds.cookie_header())
        .header("x-csrf-token", &creds.csrf)
        .json(&body);
    split(request.send().await.unwrap()).await
}

/// `GET /api/job_status`.
pub async fn job_status(server: &TestServer, creds: &Creds, job_id: &str) -> (StatusCode, Value) {
    let path = format!("/api/job_status?job_id={job_id}");
    let (status, _, body) = send(
        server,
        Method::GET,
        &path,
        Some(&creds.cookie_header()),
        None,
        &[],
    )
    .await;
    (status, body)
}

/// Polls until the job is completed or failed; returns its status `data`. Waits for
/// the condition however slow the machine is (bounded only to end a hung run).
pub async fn wait_finished(server: &TestServer, creds: &Creds, job_id: &str) -> Value {
    let give_up = std::time::Instant::now() + Duration::from_secs(900);
    while std::time::Instant::now() < give_up {
        let (status, body) = job_status(server, creds, job_id).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let data = body["data"].clone();
        let progress = data["progress"].as_u64().unwrap();
        assert!(progress <= 100);
        if matches!(data["status"].as_str(), Some("completed" | "failed")) {
            return data;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {job_id} did not finish");
}

/// `POST /api/download_token`.
pub async fn download_token(
    server: &TestServer,
    creds: &Creds,
    job_id: &str,
) -> (StatusCode, Value) {
    let request = client()
        .post(server.url("/api/download_token"))
        .header("cookie", creds.cookie_header())
        .header("x-csrf-token", &creds.csrf)
        .json(&json!({ "job_id": job_id }));
    let (status, _, body) = split(request.send().await.unwrap()).await;
    (status, body)
}

/// `GET /api/download?token=` without any cookie (as a new tab would).
pub async fn download(server: &TestServer, token: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
    let response = client()
        .get(server.url(&format!("/api/download?token={token}")))
        .send()
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.bytes().await.unwrap().to_vec())
}

/// Upload, convert and wait: the id of a completed job.
pub async fn completed_job(
    server: &TestServer,
    creds: &Creds,
    filename: &str,
    bytes: Vec<u8>,
    target: &str,
) -> String {
    let job_id = new_job_id();
    let (status, _, body) = upload(server, creds, &job_id, filename, bytes).await;
    assert_eq!(status, StatusCode::CREATED, "upload {filename}: {body}");
    assert_eq!(body["data"]["status"], "uploaded");
    let request = json!({"job_id": job_id, "target_format": target});
    let (status, _, body) = convert(server, creds, request).await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "convert {filename} → {target}: {body}"
    );
    assert_eq!(body["data"]["status"], "queued");
    assert!(body["data"]["task_id"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    let data = wait_finished(server, creds, &job_id).await;
    assert_eq!(data["status"], "completed", "{filename} → {target}: {data}");
    assert_eq!(data["progress"], 100);
    job_id
}

/// Upload, convert, wait, download: the output bytes and the download's headers.
pub async fn round_trip(
    server: &TestServer,
    creds: &Creds,
    filename: &str,
    bytes: Vec<u8>,
    target: &str,
) -> (HeaderMap, Vec<u8>) {
    let job_id = completed_job(server, creds, filename, bytes, target).await;
    let (_, status) = job_status(server, creds, &job_id).await;
    let output_size = status["data"]["output_size"].as_u64();
    let (status, body) = download_token(server, creds, &job_id).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["data"]["download_token"].as_str().unwrap().to_owned();
    let (status, headers, bytes) = download(server, &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers["content-length"].to_str().unwrap(),
        bytes.len().to_string()
    );
    assert_eq!(output_size, Some(bytes.len() as u64));
    (headers, bytes)
}
