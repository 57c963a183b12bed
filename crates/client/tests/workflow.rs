//! The one conversion workflow (upload → convert → poll → download) against the real
//! server over HTTP: what it returns, how a failed job reaches the caller, and what an
//! observer hears.

mod common;

use std::sync::{Arc, Mutex};

use common::TestServer;
use trustyconvert_client::protocol::Format;
use trustyconvert_client::workflow::{Converted, Observer, Workflow, WorkflowError};
use trustyconvert_client::{FileBody, ManagerConfig, SessionManager};

/// One callback an observer received.
#[derive(Debug, Clone, PartialEq)]
enum Heard {
    UploadProgress(u64, Option<u64>),
    Uploaded,
    Progress(u8),
    Converted,
    DownloadProgress(u64, Option<u64>),
}

/// Keeps every callback in order.
#[derive(Default)]
struct Recorder(Mutex<Vec<Heard>>);

impl Recorder {
    fn heard(&self) -> Vec<Heard> {
        self.0.lock().unwrap().clone()
    }

    fn push(&self, heard: Heard) {
        self.0.lock().unwrap().push(heard);
    }
}

impl Observer for Recorder {
    fn upload_progress(&self, sent: u64, total: Option<u64>) {
        self.push(Heard::UploadProgress(sent, total));
    }
    fn uploaded(&self) {
        self.push(Heard::Uploaded);
    }
    fn conversion_progress(&self, percent: u8) {
        self.push(Heard::Progress(percent));
    }
    fn converted(&self) {
        self.push(Heard::Converted);
    }
    fn download_progress(&self, received: u64, total: Option<u64>) {
        self.push(Heard::DownloadProgress(received, total));
    }
}

fn workflow(server: &TestServer) -> Workflow {
    let manager = SessionManager::connect(&server.base, ManagerConfig::default()).unwrap();
    Workflow::new(manager.api())
}

fn markdown() -> Vec<u8> {
    (0..2_000)
        .flat_map(|i| format!("# Part {i}\n\nSome *text*.\n\n").into_bytes())
        .collect()
}

/// Converts `notes.md` (see [`markdown`]) to `target`, heard by `recorder`.
async fn convert_notes(
    workflow: &Workflow,
    target: Format,
    recorder: &Arc<Recorder>,
) -> Result<Converted, WorkflowError> {
    let file = FileBody::Bytes(markdown().into());
    workflow
        .convert_file(file, "notes.md", target, recorder.clone())
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversion_returns_the_converted_bytes_under_the_output_name() {
    let server = TestServer::start(|_| {}).await;
    let workflow = workflow(&server);
    let recorder = Arc::new(Recorder::default());
    let converted = convert_notes(&workflow, Format::Html, &recorder)
        .await
        .unwrap();
    assert_eq!(converted.file_name, "notes.html");
    let html = workflow
        .download(&converted, recorder.clone())
        .await
        .unwrap();
    let text = String::from_utf8(html.clone()).unwrap();
    assert!(text.contains("<h1>Part 1999</h1>"), "{}", &text[..200]);
    assert_eq!(converted.status.output_size, Some(html.len() as u64));

    let heard = recorder.heard();
    let total = markdown().len() as u64;
    assert_eq!(
        heard
            .iter()
            .rfind(|h| matches!(h, Heard::UploadProgress(..))),
        Some(&Heard::UploadProgress(total, Some(total))),
        "the upload reports up to its size: {heard:?}"
    );
    let size = html.len() as u64;
    assert_eq!(
        heard.last(),
        Some(&Heard::DownloadProgress(size, Some(size))),
        "{heard:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_observer_hears_monotonic_progress_ending_at_100_in_order() {
    let server = TestServer::start(|_| {}).await;
    let recorder = Arc::new(Recorder::default());
    convert_notes(&workflow(&server), Format::Pdf, &recorder)
        .await
        .unwrap();

    let heard = recorder.heard();
    let uploaded = heard.iter().position(|h| *h == Heard::Uploaded).unwrap();
    assert!(
        heard[..uploaded]
            .iter()
            .all(|h| matches!(h, Heard::UploadProgress(..))),
        "only upload progress comes before the upload is done: {heard:?}"
    );
    assert_eq!(heard.last(), Some(&Heard::Converted), "{heard:?}");
    let progress: Vec<u8> = heard[uploaded + 1..heard.len() - 1]
        .iter()
        .map(|h| match h {
            Heard::Progress(percent) => *percent,
            other => panic!("between upload and completion only progress: {other:?}"),
        })
        .collect();
    assert!(
        progress.windows(2).all(|w| w[0] < w[1]),
        "never decreasing nor repeated: {progress:?}"
    );
    assert_eq!(progress.last(), Some(&100), "{progress:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_is_a_typed_error_with_the_servers_reason() {
    let server = TestServer::start(|config| config.jobs.max_output_bytes = 1024).await;
    let manager = SessionManager::connect(&server.base, ManagerConfig::default()).unwrap();
    let workflow = Workflow::new(manager.api());
    let recorder = Arc::new(Recorder::default());

    let error = convert_notes(&workflow, Format::Pdf, &recorder)
        .await
        .unwrap_err();
    let WorkflowError::JobFailed { job_id, reason } = &error else {
        panic!("a failed job, not {error:?}");
    };
    assert!(
        reason.contains("larger than the limit of 1 KiB"),
        "{reason}"
    );
    let status = manager.api().job_status(job_id).await.unwrap();
    assert_eq!(
        status.error.as_deref(),
        Some(reason.as_str()),
        "the server's own words"
    );
    assert!(!recorder.heard().contains(&Heard::Converted));
    assert_eq!(
        error.user_message(),
        format!("The conversion failed: {reason}")
    );
}
