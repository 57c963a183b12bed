//! Engines as an operator meets them: `trustyconvert doctor`, and what `serve` and
//! `formats` offer with and without LibreOffice on the `PATH`.

mod common;

use std::process::{Command, Output};

use common::{ServeProcess, BIN};

fn run(args: &[&str], path: Option<&std::path::Path>, state_dir: &std::path::Path) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env("TRUSTY_STATE_DIR", state_dir)
        .env_remove("TRUSTY_SERVER")
        .env_remove("TRUSTY_LIBREOFFICE");
    if let Some(path) = path {
        command.env("PATH", path);
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn doctor_reports_each_engine_found_or_missing_or_unfenced_with_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    let report = stdout(&run(&["doctor"], None, dir.path()));
    assert!(report.contains("built-in: found, version"), "{report}");
    assert!(
        report.contains("libreoffice: found, version "),
        "the test command installs LibreOffice: {report}"
    );
    assert!(
        report.contains("office") && report.contains("docx, doc, odt, rtf, html → pdf"),
        "{report}"
    );

    // An empty PATH: no LibreOffice to find.
    let empty = tempfile::tempdir().unwrap();
    let report = stdout(&run(&["doctor"], Some(empty.path()), dir.path()));
    assert!(report.contains("libreoffice: missing"), "{report}");
    assert!(
        report.contains("apt-get install libreoffice-writer-nogui"),
        "{report}"
    );
    assert!(!report.contains("docx, doc"), "{report}");
    assert!(report.contains("svg → png, pdf"), "{report}");

    // LibreOffice without bubblewrap: still used, but reported as not fenced in.
    let partial = tempfile::tempdir().unwrap();
    for program in ["soffice", "unshare"] {
        let found =
            String::from_utf8(Command::new("which").arg(program).output().unwrap().stdout).unwrap();
        std::os::unix::fs::symlink(found.trim(), partial.path().join(program)).unwrap();
    }
    let report = stdout(&run(&["doctor"], Some(partial.path()), dir.path()));
    assert!(report.contains("libreoffice: found, version "), "{report}");
    assert!(
        report.contains("NOT fenced") && report.contains("install bubblewrap"),
        "{report}"
    );
    let input = dir.path().join("unfenced.rtf");
    std::fs::write(&input, br"{\rtf1\ansi Converted without bubblewrap\par}").unwrap();
    let output = run(
        &["convert", input.to_str().unwrap(), "--to", "pdf"],
        Some(partial.path()),
        dir.path(),
    );
    assert!(output.status.success(), "{output:?}");
    assert!(std::fs::read(dir.path().join("unfenced.pdf"))
        .unwrap()
        .starts_with(b"%PDF-"));

    // LibreOffice and bubblewrap but no FFmpeg: its formats are simply not offered.
    let no_ffmpeg = tempfile::tempdir().unwrap();
    for program in ["soffice", "bwrap"] {
        let found =
            String::from_utf8(Command::new("which").arg(program).output().unwrap().stdout).unwrap();
        std::os::unix::fs::symlink(found.trim(), no_ffmpeg.path().join(program)).unwrap();
    }
    let report = stdout(&run(&["doctor"], Some(no_ffmpeg.path()), dir.path()));
    assert!(
        report.contains("ffmpeg: missing") && report.contains("apt-get install ffmpeg"),
        "{report}"
    );
    assert!(report.contains("libreoffice: found"), "{report}");
    let listed = stdout(&run(&["formats"], Some(no_ffmpeg.path()), dir.path()));
    assert!(
        listed.contains("Office documents") && !listed.contains("mp4") && !listed.contains("flac"),
        "{listed}"
    );
    let listed = stdout(&run(&["formats"], None, dir.path()));
    assert!(
        listed.contains("mp4") && listed.contains("flac"),
        "{listed}"
    );
    let report = stdout(&run(&["doctor"], None, dir.path()));
    assert!(
        report.contains("ffmpeg: found, version ") && report.contains("fenced by bubblewrap"),
        "{report}"
    );

    let report = stdout(&run(&["doctor", "--libreoffice", "off"], None, dir.path()));
    assert!(
        report.contains("libreoffice: missing") && report.contains("turned off"),
        "{report}"
    );
}

#[tokio::test]
async fn serve_and_formats_offer_office_documents_only_with_libreoffice_on_the_path() {
    let empty = tempfile::tempdir().unwrap();
    for (path, offered) in [(None, true), (Some(empty.path()), false)] {
        let data = tempfile::tempdir().unwrap();
        let mut env = vec![];
        let path_text;
        if let Some(path) = path {
            path_text = path.to_string_lossy().into_owned();
            env.push(("PATH", path_text.as_str()));
        }
        let server = ServeProcess::start(
            data.path(),
            &["--store", "memory", "--insecure-cookies"],
            &env,
        );
        let body: serde_json::Value = reqwest::get(server.url("/api/convert/formats"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let inputs: Vec<&str> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|group| group["inputFormats"].as_array().unwrap())
            .map(|name| name.as_str().unwrap())
            .collect();
        assert_eq!(inputs.contains(&"docx"), offered, "{body}");
        assert_eq!(inputs.contains(&"mp4"), offered, "{body}");
        assert_eq!(inputs.contains(&"flac"), offered, "{body}");
        assert!(
            inputs.contains(&"svg") && inputs.contains(&"xlsx"),
            "{body}"
        );
        let listed = stdout(&run(
            &["formats", "--server", &server.base],
            path,
            data.path(),
        ));
        assert_eq!(listed.contains("Office documents"), offered, "{listed}");
        let log = server.log_text();
        assert!(log.contains("conversion engine"), "{log}");
    }
}

#[test]
fn convert_turns_an_rtf_file_into_a_pdf_through_libreoffice() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("memo.rtf");
    std::fs::write(
        &input,
        br"{\rtf1\ansi{\fonttbl\f0\fswiss Helvetica;}\f0\pard Minutes of the meeting\par}",
    )
    .unwrap();
    let output = run(
        &["convert", input.to_str().unwrap(), "--to", "pdf"],
        None,
        dir.path(),
    );
    assert!(output.status.success(), "{output:?}");
    let pdf = std::fs::read(dir.path().join("memo.pdf")).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let text = Command::new("pdftotext")
        .arg(dir.path().join("memo.pdf"))
        .arg("-")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("Minutes of the meeting"));
}
