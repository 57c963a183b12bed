//! The typed conversion calls through the SessionManager, with progress reporting.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use trustyconvert_client::protocol::{Format, JobStatus};
use trustyconvert_client::{FileBody, Progress};

/// Every `(done, total)` a progress callback was given.
type Reports = Arc<Mutex<Vec<(u64, Option<u64>)>>>;

fn recorder() -> (Progress, Reports) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    (
        Progress::new(move |done, total| log.lock().unwrap().push((done, total))),
        seen,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_convert_download_with_progress() {
    let server = TestServer::start(|_| {}).await;
    let (manager, _transport, _clock) = manager(&server);
    let api = manager.api();
    let text: Vec<u8> = (0..20_000)
        .flat_map(|i| format!("line {i}\n").into_bytes())
        .collect();
    let job_id = "0b6c2c8e-54b4-4c3a-9d55-6a4c1f0f0a11";

    let (upload_progress, sent) = recorder();
    let uploaded = api
        .upload_file(
            job_id,
            "big.txt",
            FileBody::Bytes(text.clone().into()),
            Some(upload_progress),
        )
        .await
        .unwrap();
    assert_eq!(uploaded.status, JobStatus::Uploaded);
    let sent = sent.lock().unwrap().clone();
    assert!(
        sent.len() > 1,
        "a {} byte upload reports in several steps: {sent:?}",
        text.len()
    );
    assert!(
        sent.windows(2).all(|w| w[0].0 < w[1].0),
        "monotonic: {sent:?}"
    );
    let (last, total) = *sent.last().unwrap();
    assert_eq!(Some(last), total, "ends at the total");

    api.convert(job_id, Format::Pdf).await.unwrap();
    // Waited for however slow the machine is (bounded only to end a hung run).
    let give_up = std::time::Instant::now() + Duration::from_secs(900);
    let mut status = api.job_status(job_id).await.unwrap();
    while !status.status.is_finished() && std::time::Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(25)).await;
        status = api.job_status(job_id).await.unwrap();
    }
    assert_eq!(status.status, JobStatus::Completed, "{status:?}");

    let token = api.download_token(job_id).await.unwrap();
    let (download_progress, received) = recorder();
    let pdf = api
        .download_with_progress(&token.download_token, Some(download_progress))
        .await
        .unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    assert_eq!(
        received.lock().unwrap().last().copied(),
        Some((pdf.len() as u64, Some(pdf.len() as u64)))
    );
    assert_eq!(Some(pdf.len() as u64), status.output_size);

    // A used token surfaces as a typed error to its caller; it is not a session-level
    // failure, so last_error stays clear.
    let error = api.download(&token.download_token).await.unwrap_err();
    assert_eq!(
        error.kind(),
        Some(trustyconvert_client::protocol::ErrorType::ResourceNotFound)
    );
    assert_eq!(manager.state().last_error, None);

    // A plain URL for the browser to stream itself: the token is the only credential.
    let token = api.download_token(job_id).await.unwrap();
    let url = api.download_url(&token.download_token);
    assert!(url.starts_with(&server.base), "{url}");
    let streamed = reqwest::get(&url).await.unwrap();
    assert_eq!(streamed.status(), reqwest::StatusCode::OK);
    assert_eq!(streamed.bytes().await.unwrap().as_ref(), pdf.as_slice());
}
