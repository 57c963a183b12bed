//! Bad input, limits, ownership, tokens and cleanup of the conversion API.

mod common;

use std::time::Duration;

use common::conversion::*;
use common::*;
use image::ImageFormat;
use reqwest::StatusCode;
use serde_json::json;

async fn server_with(
    configure: impl FnOnce(&mut trustyconvert_server::ServerConfig),
) -> TestServer {
    TestServer::start(|c| {
        c.jobs.max_active_jobs = 10;
        configure(c);
    })
    .await
}

#[tokio::test]
async fn oversized_uploads_get_413_and_nothing_is_stored() {
    let server = server_with(|c| c.jobs.max_upload_bytes = 1024).await;
    let creds = new_session(&server).await;
    let job_id = new_job_id();
    // Over the limit by a little: caught while streaming.
    let (status, _, body) = upload(&server, &creds, &job_id, "big.txt", vec![b'a'; 1500]).await;
    let details = assert_error(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "MaxFileSizeExceededError",
    );
    assert_eq!(details["max_size"], 1024);
    // Far over the limit: refused from Content-Length before reading the body.
    let (status, _, body) = upload(&server, &creds, &job_id, "huge.txt", vec![b'a'; 300_000]).await;
    assert_error(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "MaxFileSizeExceededError",
    );
    let (status, _) = job_status(&server, &creds, &job_id).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Exactly at the limit is fine.
    let (status, _, body) = upload(&server, &creds, &job_id, "fits.txt", vec![b'a'; 1024]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn content_must_match_the_claimed_type() {
    let server = server_with(|_| {}).await;
    let creds = new_session(&server).await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("photo.png", sample_image(ImageFormat::Jpeg)),
        ("photo.jpg", b"GIF89a not really".to_vec()),
        ("notes.txt", sample_image(ImageFormat::Png)),
        ("data.json", b"name,age\nx,1\n".to_vec()),
        ("empty.csv", Vec::new()),
        ("report.pdf", b"hello".to_vec()),
        ("slides.pptx", b"hello".to_vec()),
        ("song.mp3", b"hello".to_vec()),
    ];
    for (name, bytes) in cases {
        let (status, _, body) = upload(&server, &creds, &new_job_id(), name, bytes).await;
        assert_error(
            status,
            &body,
            StatusCode::BAD_REQUEST,
            "FileValidationError",
        );
    }
    // Not a format, or one nothing reads (a zip is only ever written).
    for name in ["program.exe", "noextension", "archive.zip"] {
        let (status, _, body) =
            upload(&server, &creds, &new_job_id(), name, b"hello".to_vec()).await;
        assert_error(
            status,
            &body,
            StatusCode::BAD_REQUEST,
            "UnsupportedFormatError",
        );
    }
}

#[tokio::test]
async fn job_ids_must_be_uuid_v4_and_unique_in_the_session() {
    let server = server_with(|_| {}).await;
    let creds = new_session(&server).await;
    for bad in ["not-a-uuid", "", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"] {
        let (status, _, body) = upload(&server, &creds, bad, "a.txt", b"hi".to_vec()).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "ValidationError");
    }
    let job_id = new_job_id();
    let (status, _, _) = upload(&server, &creds, &job_id, "a.txt", b"hi".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, body) = upload(&server, &creds, &job_id, "b.txt", b"again".to_vec()).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "ValidationError");
    // Another session may use the same id: ids are scoped to their session.
    let other = new_session(&server).await;
    let (status, _, _) = upload(&server, &other, &job_id, "c.txt", b"mine".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn an_image_declaring_enormous_dimensions_is_refused_not_decoded() {
    let server = server_with(|_| {}).await;
    let creds = new_session(&server).await;
    // A real 1×1 BMP whose header is patched to claim 40000×40000 pixels.
    let mut bomb = {
        let image = image::DynamicImage::new_rgb8(1, 1);
        let mut out = std::io::Cursor::new(Vec::new());
        image.write_to(&mut out, ImageFormat::Bmp).unwrap();
        out.into_inner()
    };
    bomb[18..22].copy_from_slice(&40_000i32.to_le_bytes());
    bomb[22..26].copy_from_slice(&40_000i32.to_le_bytes());
    let (status, _, body) = upload(&server, &creds, &new_job_id(), "bomb.bmp", bomb).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "FileValidationError",
    );
}

#[tokio::test]
async fn convert_checks_target_and_optional_source_format() {
    let server = server_with(|_| {}).await;
    let creds = new_session(&server).await;
    let job_id = new_job_id();
    upload(
        &server,
        &creds,
        &job_id,
        "pic.png",
        sample_image(ImageFormat::Png),
    )
    .await;
    for target in ["csv", "html", "exe"] {
        let (status, _, body) = convert(
            &server,
            &creds,
            json!({"job_id": job_id, "target_format": target}),
        )
        .await;
        assert_error(
            status,
            &body,
            StatusCode::BAD_REQUEST,
            "UnsupportedFormatError",
        );
    }
    let (status, _, body) = convert(
        &server,
        &creds,
        json!({"job_id": job_id, "target_format": "gif", "source_format": "jpeg"}),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "ValidationError");
    let (status, _, body) = convert(&server, &creds, json!({"target_format": "gif"})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "ValidationError");
    let (status, _, body) = convert(
        &server,
        &creds,
        json!({"job_id": new_job_id(), "target_format": "gif"}),
    )
    .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "ResourceNotFound");
    let (status, _, body) = convert(
        &server,
        &creds,
        json!({"job_id": job_id, "target_format": "GIF", "source_format": "png"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // A job converts once.
    let (status, _, body) = convert(
        &server,
        &creds,
        json!({"job_id": job_id, "target_format": "bmp"}),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "ValidationError");
}

#[tokio::test]
async fn the_per_session_limit_on_active_jobs_answers_429() {
    let server = TestServer::start(|c| {
        c.jobs.max_active_jobs = 1;
        c.jobs.workers = 1;
    })
    .await;
    let creds = new_session(&server).await;
    // A conversion big enough to still be running when the next request arrives.
    let noise = image::RgbImage::from_fn(1500, 1500, |x, y| {
        let v = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) as u8;
        image::Rgb([v, v.rotate_left(3), v.rotate_left(5)])
    });
    let mut png = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(noise)
        .write_to(&mut png, ImageFormat::Png)
        .unwrap();
    let (first, second) = (new_job_id(), new_job_id());
    upload(&server, &creds, &first, "a.png", png.get_ref().clone()).await;
    upload(&server, &creds, &second, "b.txt", b"text".to_vec()).await;
    let (status, _, _) = convert(
        &server,
        &creds,
        json!({"job_id": first, "target_format": "webp"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _, body) = convert(
        &server,
        &creds,
        json!({"job_id": second, "target_format": "pdf"}),
    )
    .await;
    let details = assert_error(
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "TaskLimitExceeded",
    );
    assert_eq!(details["max_active_jobs"], 1);
    // Another session is not affected by this session's limit.
    let other = new_session(&server).await;
    let job = new_job_id();
    upload(&server, &other, &job, "c.txt", b"text".to_vec()).await;
    let (status, _, _) = convert(
        &server,
        &other,
        json!({"job_id": job, "target_format": "pdf"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // Once the first finishes, the second is accepted.
    wait_finished(&server, &creds, &first).await;
    let (status, _, body) = convert(
        &server,
        &creds,
        json!({"job_id": second, "target_format": "pdf"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

#[tokio::test]
async fn jobs_of_another_session_are_not_found() {
    let server = server_with(|_| {}).await;
    let owner = new_session(&server).await;
    let stranger = new_session(&server).await;
    let job_id = new_job_id();
    upload(&server, &owner, &job_id, "mine.txt", b"private".to_vec()).await;
    let (status, body) = job_status(&server, &stranger, &job_id).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "ResourceNotFound");
    let (status, _, body) = convert(
        &server,
        &stranger,
        json!({"job_id": job_id, "target_format": "pdf"}),
    )
    .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "ResourceNotFound");
    convert(
        &server,
        &owner,
        json!({"job_id": job_id, "target_format": "pdf"}),
    )
    .await;
    wait_finished(&server, &owner, &job_id).await;
    let (status, body) = download_token(&server, &stranger, &job_id).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "ResourceNotFound");
}

#[tokio::test]
async fn download_tokens_are_single_use_and_die_with_their_session() {
    let server = server_with(|_| {}).await;
    let creds = new_session(&server).await;
    let job_id = completed_job(&server, &creds, "a.txt", b"hello".to_vec(), "pdf").await;
    let (_, body) = download_token(&server, &creds, &job_id).await;
    let token = body["data"]["download_token"].as_str().unwrap().to_owned();
    assert!(body["data"]["expires_at"].as_str().unwrap().ends_with('Z'));
    let (status, _, _) = download(&server, &token).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, bytes) = download(&server, &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a token works once");
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["error"]["type"], "ResourceNotFound");
    let (status, _, _) = download(&server, "made-up-token").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, body) = download_token(&server, &creds, &job_id).await;
    let token = body["data"]["download_token"].as_str().unwrap().to_owned();
    let (status, _, _) = post_with(&server, "/api/session/close", &creds).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = download(&server, &token).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a closed session's outputs are gone"
    );
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let server = server_with(|c| {
        c.rate_limits.upload_per_minute = 2;
        c.rate_limits.convert_per_minute = 1;
        c.rate_limits.download_per_minute = 1;
    })
    .await;
    let creds = new_session(&server).await;
    let mut jobs = Vec::new();
    for _ in 0..2 {
        let job_id = new_job_id();
        let (status, _, _) = upload(&server, &creds, &job_id, "a.txt", b"x".to_vec()).await;
        assert_eq!(status, StatusCode::CREATED);
        jobs.push(job_id);
    }
    let (status, _, _) = convert(
        &server,
        &creds,
        json!({"job_id": jobs[0], "target_format": "pdf"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, headers, body) = convert(
        &server,
        &creds,
        json!({"job_id": jobs[1], "target_format": "pdf"}),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "RateLimitExceeded",
    );
    assert!(headers.get("retry-after").is_some());
    let (status, headers, body) =
        upload(&server, &creds, &new_job_id(), "a.txt", b"x".to_vec()).await;
    assert_error(
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "RateLimitExceeded",
    );
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let (status, _, _) = download(&server, "x").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, headers, _) = download(&server, "y").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(headers.get("retry-after").is_some());
}

fn session_dirs(server: &TestServer) -> Vec<String> {
    let root = server.config.data_dir.join("jobs");
    std::fs::read_dir(root)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| !name.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn closing_a_session_removes_its_jobs_and_files() {
    let server = server_with(|_| {}).await;
    let creds = new_session(&server).await;
    completed_job(&server, &creds, "a.md", b"# hi".to_vec(), "html").await;
    assert_eq!(session_dirs(&server).len(), 1);
    post_with(&server, "/api/session/close", &creds).await;
    assert!(
        session_dirs(&server).is_empty(),
        "files remain: {:?}",
        session_dirs(&server)
    );
}

#[tokio::test]
async fn an_expired_session_loses_its_jobs_and_files() {
    let server = server_with(|c| {
        c.timeouts.idle = Duration::from_millis(1500);
        c.timeouts.sweep_interval = Duration::from_millis(100);
    })
    .await;
    let creds = new_session(&server).await;
    let (status, _, body) = upload(&server, &creds, &new_job_id(), "a.txt", b"bye".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(session_dirs(&server).len(), 1);
    // Nothing touches the session any more: it expires, and the sweep (every 100 ms)
    // removes its files. Waited for, however late a loaded machine runs the sweep.
    eventually("the expired session's files are removed", || {
        session_dirs(&server).is_empty()
    })
    .await;
}

#[tokio::test]
async fn file_names_are_never_used_as_paths() {
    let server = server_with(|_| {}).await;
    let creds = new_session(&server).await;
    let job_id = new_job_id();
    let (status, _, body) = upload(
        &server,
        &creds,
        &job_id,
        "../../../escape.txt",
        b"contained".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, body) = job_status(&server, &creds, &job_id).await;
    assert_eq!(body["data"]["original_filename"], "escape.txt");
    let data_dir = &server.config.data_dir;
    for escaped in [
        data_dir.join("escape.txt"),
        data_dir.parent().unwrap().join("escape.txt"),
    ] {
        assert!(!escaped.exists(), "{} was written", escaped.display());
    }
    let stored = data_dir.join("jobs").join(&session_dirs(&server)[0]);
    let job_dir = std::fs::read_dir(&stored)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(std::fs::read(job_dir.join("input")).unwrap(), b"contained");
}

#[tokio::test]
async fn without_a_known_extension_the_declared_mime_type_names_the_format() {
    let server = server_with(|_| {}).await;
    let creds = new_session(&server).await;
    let png = reqwest::multipart::Part::bytes(sample_image(ImageFormat::Png))
        .file_name("photo")
        .mime_str("image/png")
        .unwrap();
    let job_id = new_job_id();
    let (status, _, body) = upload_part(&server, &creds, &job_id, png).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, body) = job_status(&server, &creds, &job_id).await;
    assert_eq!(body["data"]["source_format"], "png");
    // The declared type is held to the same magic-byte check.
    let lie = reqwest::multipart::Part::bytes(b"plain words".to_vec())
        .file_name("photo")
        .mime_str("image/png")
        .unwrap();
    let (status, _, body) = upload_part(&server, &creds, &new_job_id(), lie).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "FileValidationError",
    );
    let unknown = reqwest::multipart::Part::bytes(b"?".to_vec())
        .file_name("blob")
        .mime_str("application/octet-stream")
        .unwrap();
    let (status, _, body) = upload_part(&server, &creds, &new_job_id(), unknown).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "UnsupportedFormatError",
    );
}

#[tokio::test]
async fn files_on_disk_without_a_live_session_are_swept() {
    let server = server_with(|c| c.timeouts.sweep_interval = Duration::from_millis(100)).await;
    let creds = new_session(&server).await;
    let (status, _, body) =
        upload(&server, &creds, &new_job_id(), "kept.txt", b"live".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let live = session_dirs(&server);
    assert_eq!(live.len(), 1);
    // Files left by a session whose records are gone (for example, a crash mid-upload).
    // The sweep may take them at any moment from here on (it runs every 100 ms), so
    // what is counted is the live session's folder, before and after.
    let orphan = server
        .config
        .data_dir
        .join("jobs")
        .join("ab".repeat(32))
        .join("some-job");
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join("input"), b"left behind").unwrap();
    eventually("the orphaned files are swept", || !orphan.exists()).await;
    assert_eq!(
        session_dirs(&server),
        live,
        "only the live session's files remain"
    );
}

/// Every file and folder under `dir`, with its permission bits.
#[cfg(unix)]
fn modes_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, bool, u32)> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                pending.push(entry.path());
            }
            found.push((
                entry.path(),
                meta.is_dir(),
                meta.permissions().mode() & 0o777,
            ));
        }
    }
    found
}

#[cfg(unix)]
#[tokio::test]
async fn data_files_and_folders_are_private_to_the_service_user() {
    use std::os::unix::fs::PermissionsExt as _;
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    let server = TestServer::start_in(&data, |c| {
        c.store = trustyconvert_server::StoreKind::Embedded;
    })
    .await;
    let creds = new_session(&server).await;
    completed_job(&server, &creds, "a.txt", b"hello".to_vec(), "pdf").await;

    let data_mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(data_mode, 0o700, "the data directory");
    let found = modes_under(&data);
    assert!(
        found.iter().filter(|(_, dir, _)| !dir).count() >= 4,
        "database, key, input and output at least: {found:?}"
    );
    for (path, is_dir, mode) in found {
        let expected = if is_dir { 0o700 } else { 0o600 };
        assert_eq!(mode, expected, "{} is {mode:o}", path.display());
    }
}

#[tokio::test]
async fn at_most_sixteen_download_tokens_live_per_job_and_issuing_is_rate_limited() {
    let server = server_with(|c| c.rate_limits.download_per_minute = 0).await;
    let creds = new_session(&server).await;
    let job_id = completed_job(&server, &creds, "a.txt", b"hello".to_vec(), "pdf").await;
    let mut tokens = Vec::new();
    for _ in 0..20 {
        let (status, body) = download_token(&server, &creds, &job_id).await;
        assert_eq!(status, StatusCode::CREATED);
        tokens.push(body["data"]["download_token"].as_str().unwrap().to_owned());
    }
    for (n, token) in tokens.iter().enumerate() {
        let (status, _, _) = download(&server, token).await;
        let expected = if n < 4 {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        assert_eq!(
            status, expected,
            "token {n}: the 16 newest live, older ones retired"
        );
    }

    let limited = server_with(|c| c.rate_limits.download_per_minute = 3).await;
    let creds = new_session(&limited).await;
    let job_id = completed_job(&limited, &creds, "a.txt", b"hello".to_vec(), "pdf").await;
    for _ in 0..3 {
        assert_eq!(
            download_token(&limited, &creds, &job_id).await.0,
            StatusCode::CREATED
        );
    }
    let (status, body) = download_token(&limited, &creds, &job_id).await;
    assert_error(
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "RateLimitExceeded",
    );
}

#[tokio::test]
async fn head_on_a_download_never_spends_its_token() {
    let server = server_with(|_| {}).await;
    let creds = new_session(&server).await;
    let job_id = completed_job(&server, &creds, "a.txt", b"hello".to_vec(), "pdf").await;
    let (_, body) = download_token(&server, &creds, &job_id).await;
    let token = body["data"]["download_token"].as_str().unwrap().to_owned();
    let url = server.url(&format!("/api/download?token={token}"));
    for _ in 0..3 {
        let head = client().head(&url).send().await.unwrap();
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(head.headers()["content-type"], "application/pdf");
        assert!(head.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment"));
    }
    let (status, headers, bytes) = download(&server, &token).await;
    assert_eq!(status, StatusCode::OK, "HEAD left the token usable");
    assert_eq!(headers["content-length"], bytes.len().to_string().as_str());
    assert!(bytes.starts_with(b"%PDF-"));
    let head = client().head(&url).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::NOT_FOUND, "spent by the GET");
}

#[tokio::test]
async fn head_on_a_download_counts_against_the_download_rate_limit() {
    let server = server_with(|c| c.rate_limits.download_per_minute = 3).await;
    let creds = new_session(&server).await;
    let job_id = completed_job(&server, &creds, "a.txt", b"hello".to_vec(), "pdf").await;
    let (status, body) = download_token(&server, &creds, &job_id).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["data"]["download_token"].as_str().unwrap().to_owned();
    let url = server.url(&format!("/api/download?token={token}"));
    // One of the three is spent on the token; two HEADs use the rest.
    for _ in 0..2 {
        let head = client().head(&url).send().await.unwrap();
        assert_eq!(head.status(), StatusCode::OK);
    }
    let head = client().head(&url).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(head.headers().get("retry-after").is_some());
    let (status, _, _) = download(&server, &token).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "GET shares the budget"
    );
}

#[tokio::test]
async fn a_download_token_of_an_expired_session_is_refused_before_the_sweep() {
    let store = std::sync::Arc::new(trustyconvert_server::storage::MemoryStorage::default());
    let server = TestServer::start_with_storage(store.clone()).await;
    let creds = new_session(&server).await;
    let job_id = completed_job(&server, &creds, "a.txt", b"hello".to_vec(), "pdf").await;
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let (status, body) = download_token(&server, &creds, &job_id).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        tokens.push(body["data"]["download_token"].as_str().unwrap().to_owned());
    }
    // The session's idle expiry is moved into the past in the store itself: expired,
    // and not swept (the sweep runs once a minute, and nothing here asks it to).
    let key = trustyconvert_session::crypto::SessionSecret::parse(creds.session.as_bytes())
        .expect("the cookie is a session id")
        .store_key();
    let past = trustyconvert_session::Timestamp::from_millis(
        trustyconvert_session::Timestamp::now().as_millis() - 1000,
    );
    use trustyconvert_server::storage::SessionStore as _;
    assert!(
        store.touch_session(&key, past).await.unwrap(),
        "not swept yet"
    );
    let head = client()
        .head(server.url(&format!("/api/download?token={}", tokens[0])))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::NOT_FOUND);
    for token in &tokens {
        let (status, _, bytes) = download(&server, token).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

#[tokio::test]
async fn uploads_and_outputs_are_held_to_the_session_storage_quota() {
    let server = server_with(|c| c.jobs.max_session_storage = 10 * 1024).await;
    let creds = new_session(&server).await;
    let six_kib = vec![b'a'; 6 * 1024];
    let (status, _, _) = upload(&server, &creds, &new_job_id(), "a.txt", six_kib.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, body) = upload(&server, &creds, &new_job_id(), "b.txt", six_kib.clone()).await;
    assert_error(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "MaxFileSizeExceededError",
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("storage limit of 10 KiB"), "{message}");
    assert_eq!(
        session_dirs(&server).len(),
        1,
        "nothing of the refused upload kept"
    );
    // The quota is per session.
    let other = new_session(&server).await;
    let (status, _, _) = upload(&server, &other, &new_job_id(), "c.txt", six_kib).await;
    assert_eq!(status, StatusCode::CREATED);

    // An output that would not fit fails its job, naming the limit.
    let png = sample_image(ImageFormat::Png);
    let quota = png.len() as u64 + 1000;
    let tight = server_with(|c| c.jobs.max_session_storage = quota).await;
    let creds = new_session(&tight).await;
    let job_id = new_job_id();
    let (status, _, _) = upload(&tight, &creds, &job_id, "p.png", png).await;
    assert_eq!(status, StatusCode::CREATED);
    convert(
        &tight,
        &creds,
        json!({"job_id": job_id, "target_format": "bmp"}),
    )
    .await;
    let status = wait_finished(&tight, &creds, &job_id).await;
    assert_eq!(status["status"], "failed", "{status}");
    let reason = status["error_message"].as_str().unwrap_or_default();
    let limit = format!(
        "storage limit of {}",
        trustyconvert_protocol::human_size(quota)
    );
    assert!(reason.contains(&limit), "{status}");
}

/// Uploads `bytes` as `name`, converts to `target` and returns the finished status.
async fn convert_once(
    server: &TestServer,
    name: &str,
    bytes: Vec<u8>,
    target: &str,
) -> serde_json::Value {
    let creds = new_session(server).await;
    let job_id = new_job_id();
    let (status, _, body) = upload(server, &creds, &job_id, name, bytes).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _, body) = convert(
        server,
        &creds,
        json!({"job_id": job_id, "target_format": target}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    wait_finished(server, &creds, &job_id).await
}

fn assert_failed_naming(status: &serde_json::Value, limit: &str) {
    assert_eq!(status["status"], "failed", "{status}");
    let reason = status["error_message"].as_str().unwrap_or_default();
    assert!(reason.contains(limit), "the reason names {limit}: {status}");
}

#[tokio::test]
async fn amplifying_inputs_stop_at_the_output_limit_and_the_server_lives_on() {
    let server = server_with(|c| c.jobs.max_output_bytes = 1024 * 1024).await;
    // 20 000 objects with one distinct key each: a 20 000 × 20 000 table as CSV.
    let items: Vec<String> = (0..20_000).map(|i| format!("{{\"k{i}\":0}}")).collect();
    let wide = format!("[{}]", items.join(",")).into_bytes();
    let status = convert_once(&server, "wide.json", wide, "csv").await;
    assert_failed_naming(&status, "larger than the limit of 1 MiB");

    // 40 long header names over 20 000 empty rows: every row repeats every name.
    let header: Vec<String> = (0..40)
        .map(|i| format!("column_{i}_{}", "x".repeat(80)))
        .collect();
    let mut csv = header.join(",");
    csv.push('\n');
    csv.push_str(&format!("{}\n", ",".repeat(39)).repeat(20_000));
    let status = convert_once(&server, "rows.csv", csv.into_bytes(), "json").await;
    assert_failed_naming(&status, "larger than the limit of 1 MiB");

    // A small solid PNG that decodes to 4000 × 4000: 48 MB as BMP.
    let solid = image::RgbImage::from_pixel(4000, 4000, image::Rgb([200, 30, 30]));
    let mut png = std::io::Cursor::new(Vec::new());
    solid.write_to(&mut png, ImageFormat::Png).unwrap();
    let status = convert_once(&server, "solid.png", png.into_inner(), "bmp").await;
    assert_failed_naming(&status, "larger than the limit of 1 MiB");

    let health = client()
        .get(server.url("/api/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK, "the server is alive");
    // Something legitimate still converts.
    let status = convert_once(&server, "ok.csv", b"a,b\n1,2\n".to_vec(), "json").await;
    assert_eq!(status["status"], "completed", "{status}");
}

/// The names of the files in every job folder under the server's data directory.
fn job_folder_contents(server: &TestServer) -> Vec<Vec<String>> {
    let jobs = server.config.data_dir.join("jobs");
    let mut folders = Vec::new();
    for session in std::fs::read_dir(&jobs).unwrap().map(Result::unwrap) {
        if session.file_name() == ".incoming" {
            continue;
        }
        for job in std::fs::read_dir(session.path())
            .unwrap()
            .map(Result::unwrap)
        {
            let mut names: Vec<String> = std::fs::read_dir(job.path())
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            folders.push(names);
        }
    }
    folders
}

#[tokio::test]
async fn output_written_past_the_limit_is_removed_from_disk() {
    let server = server_with(|c| c.jobs.max_output_bytes = 1024 * 1024).await;
    // A small solid PNG that decodes to 4000 × 4000: 48 MB as BMP (written in order)
    // or TIFF (which seeks back to fill in offsets). Each is on disk, a MiB of it,
    // when the limit stops it.
    let solid = image::RgbImage::from_pixel(4000, 4000, image::Rgb([200, 30, 30]));
    let mut png = std::io::Cursor::new(Vec::new());
    solid.write_to(&mut png, ImageFormat::Png).unwrap();
    for target in ["bmp", "tiff"] {
        let status = convert_once(&server, "solid.png", png.get_ref().clone(), target).await;
        assert_failed_naming(&status, "larger than the limit of 1 MiB");
    }
    let mut folders = job_folder_contents(&server);
    folders.sort();
    assert_eq!(
        folders,
        [vec!["input"], vec!["input"]],
        "only the upload is left in a failed job's folder"
    );
    // Within the limit, the result is placed as the job's output.
    let small = image::RgbImage::from_pixel(100, 100, image::Rgb([200, 30, 30]));
    let mut png = std::io::Cursor::new(Vec::new());
    small.write_to(&mut png, ImageFormat::Png).unwrap();
    let status = convert_once(&server, "small.png", png.into_inner(), "tiff").await;
    assert_eq!(status["status"], "completed", "{status}");
    let mut folders = job_folder_contents(&server);
    folders.sort();
    assert_eq!(
        folders,
        [vec!["input"], vec!["input"], vec!["input", "output"]]
    );
}

#[tokio::test]
async fn a_conversion_past_its_time_limit_fails_and_frees_its_worker() {
    let server = server_with(|c| {
        c.jobs.conversion_timeout = Duration::from_millis(50);
        c.jobs.workers = 1;
    })
    .await;
    let long_text = "a line of plain text that wraps onto many pdf pages\n".repeat(200_000);
    let status = convert_once(&server, "long.txt", long_text.into_bytes(), "pdf").await;
    assert_failed_naming(&status, "took longer than the limit of 50ms");
    // The only worker is free again.
    let status = convert_once(&server, "short.csv", b"a\n1\n".to_vec(), "json").await;
    assert_eq!(status["status"], "completed", "{status}");
}
