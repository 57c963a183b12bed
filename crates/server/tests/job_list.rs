//! Many files at once over real HTTP, on every store: the session's jobs listed newest
//! first (`GET /api/jobs`), a job deleted now (`DELETE /api/jobs/{job_id}`: files gone,
//! quota released, links dead, a running conversion stopped), and one zip of several
//! outputs (`POST /api/download/archive`) streamed under unique names with flat memory.

mod common;
#[path = "../../session/tests/support/redis_server.rs"]
mod redis_server;

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::Command;

use common::conversion::*;
use common::*;
use image::ImageFormat;
use redis_server::RedisServer;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trustyconvert_server::StoreKind;

/// The three stores, Redis started for the test.
fn stores(redis: &RedisServer) -> [(&'static str, StoreKind); 3] {
    [
        ("memory", StoreKind::Memory),
        ("embedded", StoreKind::Embedded),
        ("redis", StoreKind::Redis(redis.url())),
    ]
}

async fn list(server: &TestServer, creds: &Creds) -> (StatusCode, Value) {
    let (status, _, body) = send(
        server,
        Method::GET,
        "/api/jobs",
        Some(&creds.cookie_header()),
        None,
        &[],
    )
    .await;
    (status, body)
}

async fn delete(server: &TestServer, creds: &Creds, job_id: &str) -> (StatusCode, Value) {
    let (status, _, body) = send(
        server,
        Method::DELETE,
        &format!("/api/jobs/{job_id}"),
        Some(&creds.cookie_header()),
        Some(&creds.csrf),
        &[],
    )
    .await;
    (status, body)
}

async fn archive_token(
    server: &TestServer,
    creds: &Creds,
    job_ids: &[&str],
) -> (StatusCode, Value) {
    let request = client()
        .post(server.url("/api/download/archive"))
        .header("cookie", creds.cookie_header())
        .header("x-csrf-token", &creds.csrf)
        .json(&json!({ "job_ids": job_ids }));
    let (status, _, body) = split(request.send().await.unwrap()).await;
    (status, body)
}

/// Uploads `bytes` as `filename` without converting: the job id.
async fn uploaded(server: &TestServer, creds: &Creds, filename: &str, bytes: Vec<u8>) -> String {
    let job_id = new_job_id();
    let (status, _, body) = upload(server, creds, &job_id, filename, bytes).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    job_id
}

/// Whether a folder named after `job_id` (its files) is anywhere under `dir`.
fn has_files_of(dir: &Path, job_id: &str) -> bool {
    let name = job_id.replace('-', "");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        path.is_dir() && (entry.file_name() == name.as_str() || has_files_of(&path, job_id))
    })
}

fn zip_entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    (0..archive.len())
        .map(|index| {
            let mut file = archive.by_index(index).unwrap();
            let mut content = Vec::new();
            file.read_to_end(&mut content).unwrap();
            (file.name().unwrap().to_string(), content)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sessions_jobs_are_listed_newest_first_with_their_state_on_every_store() {
    let redis = RedisServer::start();
    for (name, kind) in stores(&redis) {
        let server = TestServer::start(|config| config.store = kind.clone()).await;
        let (creds, other) = (new_session(&server).await, new_session(&server).await);
        let (status, body) = list(&server, &creds).await;
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
        assert_eq!(body["data"]["jobs"], json!([]), "{name}");

        let first = uploaded(&server, &creds, "first.png", sample_image(ImageFormat::Png)).await;
        let done = completed_job(
            &server,
            &creds,
            "second.png",
            sample_image(ImageFormat::Png),
            "jpeg",
        )
        .await;
        let third = uploaded(&server, &creds, "third.md", b"# Notes\n".to_vec()).await;
        let theirs = uploaded(
            &server,
            &other,
            "theirs.png",
            sample_image(ImageFormat::Png),
        )
        .await;

        let (_, body) = list(&server, &creds).await;
        let jobs = body["data"]["jobs"].as_array().unwrap().clone();
        let ids: Vec<&str> = jobs
            .iter()
            .map(|job| job["job_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [third.as_str(), done.as_str(), first.as_str()],
            "{name}"
        );
        let completed = &jobs[1];
        assert_eq!(completed["original_filename"], "second.png", "{name}");
        assert_eq!(completed["source_format"], "png");
        assert_eq!(completed["target_format"], "jpeg");
        assert_eq!(completed["status"], "completed");
        assert_eq!(completed["progress"], 100);
        assert!(completed["file_size"].as_u64().unwrap() > 0);
        assert!(completed["output_size"].as_u64().unwrap() > 0);
        assert!(completed["created_at"].as_str().is_some());
        assert!(completed["completed_at"].as_str().is_some());
        assert_eq!(jobs[0]["status"], "uploaded");
        assert_eq!(jobs[0]["source_format"], "markdown");
        // Each as GET /api/job_status reports it.
        let (_, status) = job_status(&server, &creds, &done).await;
        assert_eq!(&status["data"], completed, "{name}");

        let (_, body) = list(&server, &other).await;
        assert_eq!(body["data"]["jobs"][0]["job_id"], theirs.as_str(), "{name}");
        assert_eq!(body["data"]["jobs"].as_array().unwrap().len(), 1, "{name}");
        let (status, _, body) = send(&server, Method::GET, "/api/jobs", None, None, &[]).await;
        assert_error(
            status,
            &body,
            StatusCode::UNAUTHORIZED,
            "SessionValidationError",
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_job_removes_its_files_releases_its_quota_and_ends_its_links_on_every_store() {
    let redis = RedisServer::start();
    let picture = sample_image(ImageFormat::Png);
    for (name, kind) in stores(&redis) {
        // Room for the job's upload and output, not for another upload beside them.
        let quota = picture.len() as u64 * 2 + 200;
        let server = TestServer::start(|config| {
            config.store = kind.clone();
            config.jobs.max_session_storage = quota;
        })
        .await;
        let creds = new_session(&server).await;
        let job_id = completed_job(&server, &creds, "a.png", picture.clone(), "png").await;
        assert!(has_files_of(&server.config.data_dir, &job_id), "{name}");
        let (status, body) = download_token(&server, &creds, &job_id).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let link = body["data"]["download_token"].as_str().unwrap().to_owned();
        let (status, _, body) =
            upload(&server, &creds, &new_job_id(), "b.png", picture.clone()).await;
        assert_error(
            status,
            &body,
            StatusCode::PAYLOAD_TOO_LARGE,
            "MaxFileSizeExceededError",
        );

        // CSRF-checked like every unsafe request; ids must be UUID v4.
        let (status, _, body) = send(
            &server,
            Method::DELETE,
            &format!("/api/jobs/{job_id}"),
            Some(&creds.cookie_header()),
            None,
            &[],
        )
        .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "CSRFValidationError");
        let (status, body) = delete(&server, &creds, "not-a-uuid").await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "ValidationError");
        let stranger = new_session(&server).await;
        let (status, body) = delete(&server, &stranger, &job_id).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "ResourceNotFound");

        let (status, body) = delete(&server, &creds, &job_id).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{name}: {body}");
        assert!(
            !has_files_of(&server.config.data_dir, &job_id),
            "{name}: files left"
        );
        let (status, body) = job_status(&server, &creds, &job_id).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "ResourceNotFound");
        let (status, _, _) = download(&server, &link).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{name}: a link outlived its job"
        );
        let (_, body) = list(&server, &creds).await;
        assert_eq!(body["data"]["jobs"], json!([]), "{name}");
        let (status, body) = delete(&server, &creds, &job_id).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "ResourceNotFound");
        // Its bytes left the quota.
        let (status, _, body) =
            upload(&server, &creds, &new_job_id(), "b.png", picture.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_holds_every_output_under_unique_names_and_works_once_on_every_store() {
    let redis = RedisServer::start();
    for (name, kind) in stores(&redis) {
        let server = TestServer::start(|config| config.store = kind.clone()).await;
        let creds = new_session(&server).await;
        let png = sample_image(ImageFormat::Png);
        let jobs = [
            completed_job(&server, &creds, "photo.png", png.clone(), "jpeg").await,
            completed_job(&server, &creds, "photo.png", png.clone(), "jpeg").await,
            completed_job(
                &server,
                &creds,
                "notes.md",
                b"# Notes\n\nText.\n".to_vec(),
                "html",
            )
            .await,
        ];
        let ids: Vec<&str> = jobs.iter().map(String::as_str).collect();
        let (status, body) = archive_token(&server, &creds, &ids).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
        let token = body["data"]["download_token"].as_str().unwrap().to_owned();
        assert!(body["data"]["expires_at"].as_str().is_some());

        let head = client()
            .head(server.url(&format!("/api/download?token={token}")))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), StatusCode::OK, "{name}: HEAD spends nothing");
        let (status, headers, bytes) = download(&server, &token).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert_eq!(headers["content-type"], "application/zip");
        let disposition = headers["content-disposition"].to_str().unwrap();
        assert!(
            disposition.contains("trustyconvert-3-files.zip"),
            "{disposition}"
        );
        let entries = zip_entries(&bytes);
        let names: Vec<&str> = entries.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            ["photo.jpg", "photo (2).jpg", "notes.html"],
            "{name}"
        );
        for (entry, job_id) in entries.iter().zip(&jobs) {
            let (status, body) = download_token(&server, &creds, job_id).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            let own = body["data"]["download_token"].as_str().unwrap();
            let (_, _, alone) = download(&server, own).await;
            assert_eq!(
                entry.1, alone,
                "{name}: {} differs from its own download",
                entry.0
            );
        }
        image::load_from_memory_with_format(&entries[0].1, ImageFormat::Jpeg).unwrap();
        assert!(String::from_utf8_lossy(&entries[2].1).contains("Notes"));

        let (status, _, _) = download(&server, &token).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{name}: a zip token works once"
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zips_of_unknown_foreign_unfinished_or_repeated_jobs_are_refused_with_their_type() {
    let server = TestServer::start(|_| {}).await;
    let (creds, other) = (new_session(&server).await, new_session(&server).await);
    let done = completed_job(
        &server,
        &creds,
        "a.png",
        sample_image(ImageFormat::Png),
        "jpeg",
    )
    .await;
    let waiting = uploaded(&server, &creds, "b.png", sample_image(ImageFormat::Png)).await;
    let theirs = completed_job(
        &server,
        &other,
        "c.png",
        sample_image(ImageFormat::Png),
        "jpeg",
    )
    .await;
    let unknown = new_job_id();

    for (ids, status, kind, about) in [
        (
            vec![done.as_str(), unknown.as_str()],
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            Some(&unknown),
        ),
        (
            vec![done.as_str(), theirs.as_str()],
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            Some(&theirs),
        ),
        (
            vec![done.as_str(), waiting.as_str()],
            StatusCode::BAD_REQUEST,
            "ValidationError",
            Some(&waiting),
        ),
        (
            vec![done.as_str(), done.as_str()],
            StatusCode::BAD_REQUEST,
            "ValidationError",
            Some(&done),
        ),
        (vec![], StatusCode::BAD_REQUEST, "ValidationError", None),
        (
            vec!["not-a-uuid"],
            StatusCode::BAD_REQUEST,
            "ValidationError",
            None,
        ),
    ] {
        let (got, body) = archive_token(&server, &creds, &ids).await;
        let details = assert_error(got, &body, status, kind);
        if let Some(job_id) = about {
            assert_eq!(details["job_id"], job_id.as_str(), "{body}");
        }
    }
    let too_many: Vec<String> = (0..201).map(|_| new_job_id()).collect();
    let too_many: Vec<&str> = too_many.iter().map(String::as_str).collect();
    let (got, body) = archive_token(&server, &creds, &too_many).await;
    assert_error(got, &body, StatusCode::BAD_REQUEST, "ValidationError");
    // Without the CSRF token: refused like any unsafe request.
    let (got, _, body) = send(
        &server,
        Method::POST,
        "/api/download/archive",
        Some(&creds.cookie_header()),
        None,
        &[],
    )
    .await;
    assert_error(got, &body, StatusCode::FORBIDDEN, "CSRFValidationError");
    server.stop().await;
}

/// Polls `condition` until it holds; fails, naming `what`, past [`EVENTUALLY`].
async fn wait_until<F: std::future::Future<Output = bool>>(
    what: &str,
    mut condition: impl FnMut() -> F,
) {
    let give_up = std::time::Instant::now() + EVENTUALLY;
    while !condition().await {
        assert!(
            std::time::Instant::now() < give_up,
            "never happened: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The resident memory of this process (the server runs in it), in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

/// A FLAC of `seconds` of silence (small to upload, large as WAV), made by FFmpeg.
fn silence_flac(dir: &Path, seconds: u32) -> Vec<u8> {
    let path = dir.join("silence.flac");
    let made = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=48000:cl=stereo",
            "-t",
        ])
        .arg(seconds.to_string())
        .arg(&path)
        .status()
        .expect("ffmpeg (scripts/setup-engines.sh)");
    assert!(made.success());
    std::fs::read(path).unwrap()
}

/// A server (memory store) with room for outputs of a GiB, a session, and a folder.
async fn roomy_server() -> (TestServer, Creds, tempfile::TempDir) {
    let server = TestServer::start(|config| {
        config.jobs.max_output_bytes = 1 << 30;
        config.jobs.max_session_storage = 1 << 31;
    })
    .await;
    let creds = new_session(&server).await;
    (server, creds, tempfile::tempdir().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_output_is_zipped_while_it_is_sent_with_flat_memory() {
    let (server, creds, dir) = roomy_server().await;
    // 20 minutes of 48 kHz stereo: a 230 MB WAV, converted by FFmpeg in its own
    // process, so this process's memory holds only what the download itself takes
    // (and whatever the tests running beside this one take).
    let flac = silence_flac(dir.path(), 1200);
    let small = completed_job(
        &server,
        &creds,
        "tiny.png",
        sample_image(ImageFormat::Png),
        "jpeg",
    )
    .await;
    let large = completed_job(&server, &creds, "long.flac", flac, "wav").await;
    let (_, status) = job_status(&server, &creds, &large).await;
    let wav_size = status["data"]["output_size"].as_u64().unwrap();
    assert!(wav_size > 220_000_000, "{wav_size}");

    let (status, body) = archive_token(&server, &creds, &[&large, &small]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["data"]["download_token"].as_str().unwrap();
    let before = resident_bytes();
    let mut peak = before;
    let mut response = client()
        .get(server.url(&format!("/api/download?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers().get("content-length").is_none(),
        "streamed"
    );
    let zip_path = dir.path().join("all.zip");
    let mut saved = std::fs::File::create(&zip_path).unwrap();
    while let Some(chunk) = response.chunk().await.unwrap() {
        saved.write_all(&chunk).unwrap();
        peak = peak.max(resident_bytes());
    }
    drop(saved);
    let grown = peak.saturating_sub(before);
    assert!(
        grown < 96 << 20,
        "memory grew by {} MB while sending a {} MB zip",
        grown >> 20,
        wav_size >> 20
    );
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let mut wav = archive.by_index(0).unwrap();
    assert_eq!(wav.name().unwrap(), "long.wav");
    assert_eq!(wav.size(), wav_size);
    // Reading it whole checks its CRC.
    let read = std::io::copy(&mut wav, &mut std::io::sink()).unwrap();
    assert_eq!(read, wav_size);
    drop(wav);
    assert_eq!(archive.by_index(1).unwrap().name().unwrap(), "tiny.jpg");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_running_job_stops_its_conversion() {
    let (server, creds, dir) = roomy_server().await;
    // Nearly three hours of sound to Ogg Vorbis: tens of seconds of work.
    let job_id = uploaded(
        &server,
        &creds,
        "long.flac",
        silence_flac(dir.path(), 10_700),
    )
    .await;
    let (status, _, body) = convert(
        &server,
        &creds,
        json!({"job_id": job_id, "target_format": "ogg"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    wait_until("the conversion starts", || async {
        job_status(&server, &creds, &job_id).await.1["data"]["status"] == "processing"
    })
    .await;
    let (status, body) = delete(&server, &creds, &job_id).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = job_status(&server, &creds, &job_id).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "ResourceNotFound");
    // Stopped, not run to its end: counted as cancelled, and its files are gone.
    wait_until("the conversion is stopped", || async {
        metric(&server, "trusty_conversions_cancelled_total").await == 1
    })
    .await;
    assert!(!has_files_of(&server.config.data_dir, &job_id));
    server.stop().await;
}
