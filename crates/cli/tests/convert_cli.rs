//! `trustyconvert convert` and `formats`: with and without `--server`, errors, and a
//! server restart with a job in flight.

mod common;

use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use common::ServeProcess;
use trustyconvert_client::protocol::{Format, JobStatus};
use trustyconvert_client::transport::ReqwestTransport;
use trustyconvert_client::{ManagerConfig, SessionManager};

fn run(args: &[&str], state_dir: &std::path::Path) -> Output {
    common::run_client(args, state_dir)
}

fn write_png(path: &std::path::Path, width: u32, height: u32) {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        let v = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) as u8;
        image::Rgb([v, v.rotate_left(3), v.rotate_left(5)])
    });
    image.save(path).unwrap();
}

#[test]
fn convert_without_a_server_needs_no_setup() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photo.png");
    write_png(&input, 40, 30);
    let output = run(
        &["convert", input.to_str().unwrap(), "--to", "jpg"],
        dir.path(),
    );
    assert!(output.status.success(), "{output:?}");
    let converted = image::open(dir.path().join("photo.jpg")).unwrap();
    assert_eq!((converted.width(), converted.height()), (40, 30));

    let explicit = dir.path().join("out.pdf");
    let output = run(
        &[
            "convert",
            input.to_str().unwrap(),
            "--to",
            "pdf",
            "-o",
            explicit.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(output.status.success(), "{output:?}");
    assert!(std::fs::read(&explicit).unwrap().starts_with(b"%PDF-"));
}

#[test]
fn convert_errors_name_the_file_or_the_problem_and_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.png");
    let output = run(
        &["convert", missing.to_str().unwrap(), "--to", "gif"],
        dir.path(),
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing.png"), "{stderr}");

    let fake = dir.path().join("fake.png");
    std::fs::write(&fake, b"this is not a png").unwrap();
    let output = run(
        &["convert", fake.to_str().unwrap(), "--to", "gif"],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("fake.png") && stderr.contains("the file was rejected"),
        "{stderr}"
    );

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, b"hello").unwrap();
    let output = run(
        &["convert", text.to_str().unwrap(), "--to", "png"],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("not supported"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let output = run(
        &[
            "convert",
            text.to_str().unwrap(),
            "--to",
            "pdf",
            "--server",
            "http://127.0.0.1:9",
        ],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("cannot reach the server"), "{stderr}");
}

#[test]
fn convert_and_formats_through_a_running_server_share_one_session() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(data.path(), &["--store", "memory"], &[]);
    let input = work.path().join("table.csv");
    std::fs::write(&input, "a,b\n1,2\n").unwrap();
    for _ in 0..2 {
        let output = run(
            &[
                "convert",
                input.to_str().unwrap(),
                "--to",
                "json",
                "--server",
                &server.base,
            ],
            work.path(),
        );
        assert!(output.status.success(), "{output:?}");
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.path().join("table.json")).unwrap()).unwrap();
    assert_eq!(json, serde_json::json!([{"a": "1", "b": "2"}]));
    let metrics = metrics_text(&server.base);
    assert!(
        metrics.contains("trusty_sessions_created_total 1"),
        "both runs reuse the kept session:\n{metrics}"
    );

    let output = run(&["formats", "--server", &server.base], work.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(
        stdout.contains("webp") && stdout.contains("markdown"),
        "{stdout}"
    );
}

/// Reads `/metrics` with a throw-away runtime (the test itself is synchronous).
fn metrics_text(base: &str) -> String {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_crash_finished_jobs_survive_and_the_job_in_flight_is_marked_failed() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(data.path(), &["--workers", "1"], &[]);
    let transport = ReqwestTransport::new(&server.base).unwrap();
    let manager = SessionManager::new(Arc::new(transport.clone()), ManagerConfig::default());
    let api = manager.api();

    // A finished job before the crash.
    let done = uuid::Uuid::new_v4().to_string();
    api.upload(&done, "note.txt", b"kept across restarts")
        .await
        .unwrap();
    api.convert(&done, Format::Pdf).await.unwrap();
    // Waited for however slow the machine is: the crash must come after it finished.
    let give_up = std::time::Instant::now() + Duration::from_secs(900);
    loop {
        let status = api.job_status(&done).await.unwrap().status;
        if status == JobStatus::Completed {
            break;
        }
        assert!(status.is_active(), "the first job ended {status:?}");
        assert!(
            std::time::Instant::now() < give_up,
            "the first job never finished"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let input = work.path().join("big.png");
    write_png(&input, 3000, 3000);
    let job_id = uuid::Uuid::new_v4().to_string();
    api.upload(&job_id, "big.png", &std::fs::read(&input).unwrap())
        .await
        .unwrap();
    api.convert(&job_id, Format::Webp).await.unwrap();
    // Waits until the only worker has taken it, however long a loaded machine needs.
    let give_up = std::time::Instant::now() + Duration::from_secs(900);
    loop {
        let status = api.job_status(&job_id).await.unwrap();
        if status.status == JobStatus::Processing {
            break;
        }
        assert_ne!(
            status.status,
            JobStatus::Completed,
            "the conversion finished too fast to test a crash"
        );
        assert!(
            std::time::Instant::now() < give_up,
            "the conversion never started: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill_hard();

    let server = ServeProcess::start(data.path(), &[], &[]);
    // Cookies are scoped to the host, not the port: the same jar reaches the new process.
    let transport = ReqwestTransport::with_jar(&server.base, transport.jar().clone()).unwrap();
    let manager = SessionManager::new(Arc::new(transport), ManagerConfig::default());
    let api = manager.api();
    let status = api.job_status(&job_id).await.unwrap();
    assert_eq!(status.status, JobStatus::Failed, "{status:?}");
    assert!(status.error_message.unwrap().contains("restarted"));

    assert_eq!(
        api.job_status(&done).await.unwrap().status,
        JobStatus::Completed
    );
    let token = api.download_token(&done).await.unwrap();
    let pdf = api.download(&token.download_token).await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
}
