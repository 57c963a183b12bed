//! The conversion engines over real HTTP: LibreOffice (office documents), and the
//! built-in SVG, spreadsheet and Unicode-PDF conversions. Inputs are made here;
//! outputs are read back (pdftotext, zip parts, decoded pixels) and compared.
//!
//! LibreOffice is required: the test command installs it (`scripts/setup.sh`); a
//! machine without it fails these tests rather than skipping them.

mod common;

use std::time::{Duration, Instant};

use common::conversion::*;
use common::documents::*;
use common::*;
use reqwest::StatusCode;
use serde_json::json;
use trustyconvert_server::{LibreOfficeSetting, ServerConfig};

fn unlimited(config: &mut ServerConfig) {
    config.jobs.max_active_jobs = 100;
    config.rate_limits.upload_per_minute = 0;
    config.rate_limits.convert_per_minute = 0;
    config.rate_limits.download_per_minute = 0;
}

async fn server() -> TestServer {
    TestServer::start(unlimited).await
}

async fn group_ids(server: &TestServer) -> Vec<String> {
    let (status, _, body) = send(
        server,
        reqwest::Method::GET,
        "/api/convert/formats",
        None,
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|group| group["id"].as_str().unwrap().to_owned())
        .collect()
}

fn require_libreoffice(server_groups: &[String]) {
    assert!(
        server_groups.iter().any(|id| id == "office"),
        "LibreOffice was not found; these tests need it (scripts/setup.sh installs it)"
    );
}

const POLISH: &str = "Zażółć gęślą jaźń";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docx_doc_odt_rtf_and_html_become_pdfs_that_keep_their_text() {
    let server = server().await;
    require_libreoffice(&group_ids(&server).await);
    let creds = new_session(&server).await;
    let documents: [(&str, Vec<u8>, &str); 5] = [
        (
            "old.doc",
            doc_via_libreoffice("Word 97 says hello"),
            "Word 97 says hello",
        ),
        (
            "letter.docx",
            docx(&format!("Word says {POLISH}")),
            "Word says",
        ),
        (
            "notes.odt",
            odt("OpenDocument says Ωμέγα"),
            "OpenDocument says Ωμέγα",
        ),
        (
            "memo.rtf",
            br"{\rtf1\ansi{\fonttbl\f0\fswiss Helvetica;}\f0\pard Rich text from RTF\par}".to_vec(),
            "Rich text from RTF",
        ),
        (
            "page.html",
            b"<html><body><h1>Heading</h1><p>Paragraph from HTML</p></body></html>".to_vec(),
            "Paragraph from HTML",
        ),
    ];
    for (name, bytes, expected) in documents {
        let (headers, pdf) = round_trip(&server, &creds, name, bytes, "pdf").await;
        assert_eq!(headers["content-type"], "application/pdf");
        let text = pdf_text(&pdf);
        assert!(text.contains(expected), "{name}: {text:?}");
        if name.ends_with(".docx") {
            assert!(text.contains(POLISH), "Unicode lost: {text:?}");
        }
    }
}

/// Whether a PDF embeds any image.
fn has_image(pdf: &[u8]) -> bool {
    let document = lopdf::Document::load_mem(pdf).unwrap();
    document.objects.values().any(|object| {
        object.as_stream().is_ok_and(|stream| {
            stream
                .dict
                .get(b"Subtype")
                .is_ok_and(|s| s.as_name().is_ok_and(|n| n == b"Image"))
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_cannot_make_libreoffice_read_other_files_of_the_server() {
    let server = server().await;
    require_libreoffice(&group_ids(&server).await);
    let creds = new_session(&server).await;
    // A picture in the server's data directory, where other jobs' files live.
    let secret = server.config.data_dir.join("secret.png");
    std::fs::write(&secret, red_png()).unwrap();
    let field = format!(
        r#"{{\rtf1\ansi Before {{\field{{\*\fldinst INCLUDEPICTURE "{path}" \\d}}{{\fldrslt}}}} {{\field{{\*\fldinst INCLUDEPICTURE "file://{path}"}}{{\fldrslt}}}} after\par}}"#,
        path = secret.display()
    );
    let (_, pdf) = round_trip(&server, &creds, "fields.rtf", field.into_bytes(), "pdf").await;
    assert!(
        pdf_text(&pdf).contains("Before"),
        "the document itself converts"
    );
    assert!(
        !has_image(&pdf),
        "LibreOffice embedded a file of the server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docx_and_odt_convert_into_each_other() {
    let server = server().await;
    require_libreoffice(&group_ids(&server).await);
    let creds = new_session(&server).await;
    let (_, odt_bytes) =
        round_trip(&server, &creds, "a.docx", docx("From Word to ODF"), "odt").await;
    assert_eq!(
        zip_part(&odt_bytes, "mimetype"),
        "application/vnd.oasis.opendocument.text"
    );
    assert!(zip_part(&odt_bytes, "content.xml").contains("From Word to ODF"));
    let (_, docx_bytes) =
        round_trip(&server, &creds, "b.odt", odt("From ODF to Word"), "docx").await;
    assert!(zip_part(&docx_bytes, "word/document.xml").contains("From ODF to Word"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_office_jobs_each_get_their_own_profile_and_all_complete() {
    let server = TestServer::start(|c| {
        unlimited(c);
        c.jobs.workers = 3;
    })
    .await;
    require_libreoffice(&group_ids(&server).await);
    let creds = new_session(&server).await;
    let jobs = (0..3).map(|i| {
        let (server, creds) = (&server, &creds);
        async move {
            let (_, pdf) = round_trip(
                server,
                creds,
                &format!("c{i}.docx"),
                docx(&format!("Concurrent document {i}")),
                "pdf",
            )
            .await;
            assert!(pdf_text(&pdf).contains(&format!("Concurrent document {i}")));
        }
    });
    futures::future::join_all(jobs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_libreoffice_job_over_the_time_limit_is_killed_and_its_worker_freed() {
    let server = TestServer::start(|c| {
        unlimited(c);
        c.jobs.workers = 1;
        // LibreOffice needs more than a second to start with a fresh profile.
        c.jobs.conversion_timeout = Duration::from_millis(300);
    })
    .await;
    require_libreoffice(&group_ids(&server).await);
    let creds = new_session(&server).await;
    let job_id = new_job_id();
    let (status, _, body) = upload(&server, &creds, &job_id, "slow.docx", docx("too slow")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let started = Instant::now();
    let (status, _, body) = convert(
        &server,
        &creds,
        json!({"job_id": job_id, "target_format": "pdf"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let data = wait_finished(&server, &creds, &job_id).await;
    assert_eq!(data["status"], "failed", "{data}");
    assert!(
        data["error"]
            .as_str()
            .unwrap()
            .contains("took longer than the limit"),
        "{data}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let data_dir = server.config.data_dir.to_string_lossy().into_owned();
    // The group was killed before the job was marked failed; only the moment a killed
    // process takes to exit is allowed (an orphaned soffice.bin lives for seconds).
    let deadline = Instant::now() + Duration::from_millis(250);
    while !processes_mentioning(&data_dir).is_empty() {
        assert!(
            Instant::now() < deadline,
            "LibreOffice left running: {:?}",
            processes_mentioning(&data_dir)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The only worker is free again.
    let (_, pdf) = round_trip(
        &server,
        &creds,
        "after.txt",
        b"worker is free".to_vec(),
        "pdf",
    )
    .await;
    assert!(pdf_text(&pdf).contains("worker is free"));
}

/// Live (non-zombie) processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|entry| {
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let state = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .next()?
                .to_owned();
            (cmdline.contains(needle) && state != "Z").then_some(cmdline)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_libreoffice_office_formats_are_not_offered_and_are_refused_as_unsupported() {
    for setting in [
        LibreOfficeSetting::Off,
        LibreOfficeSetting::Program("/nonexistent/soffice".into()),
    ] {
        let server = TestServer::start(|c| {
            unlimited(c);
            c.libreoffice = setting.clone();
        })
        .await;
        let ids = group_ids(&server).await;
        assert!(
            !ids.iter().any(|id| id == "office" || id.contains("odt")),
            "{setting}: {ids:?}"
        );
        assert!(ids.iter().any(|id| id == "svg") && ids.iter().any(|id| id == "spreadsheet"));
        let creds = new_session(&server).await;
        // Only LibreOffice reads these.
        for (name, bytes) in [
            ("b.rtf", br"{\rtf1 x}".to_vec()),
            ("d.doc", word97_header()),
        ] {
            let (status, _, body) = upload(&server, &creds, &new_job_id(), name, bytes).await;
            assert_error(
                status,
                &body,
                StatusCode::BAD_REQUEST,
                "UnsupportedFormatError",
            );
        }
        // Pandoc reads Word documents, but only LibreOffice lays them out as PDF.
        let job_id = new_job_id();
        let (status, _, body) = upload(&server, &creds, &job_id, "a.docx", docx("x")).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let request = json!({"job_id": job_id, "target_format": "pdf"});
        let (status, _, body) = convert(&server, &creds, request).await;
        assert_error(
            status,
            &body,
            StatusCode::BAD_REQUEST,
            "UnsupportedFormatError",
        );
    }
}

/// The first bytes of a Word 97 file (an OLE compound document), enough for the
/// upload's checks to see a `.doc`.
fn word97_header() -> Vec<u8> {
    let mut bytes = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    bytes.resize(512, 0);
    bytes
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn red_png() -> Vec<u8> {
    let image = image::RgbaImage::from_pixel(4, 4, image::Rgba([255, 0, 0, 255]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn svg_references_to_local_files_and_urls_are_never_read_or_fetched() {
    let server = server().await;
    let creds = new_session(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.png");
    std::fs::write(&secret, red_png()).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="120" height="80">
<rect x="0" y="0" width="40" height="80" fill="#0000ff"/>
<image x="40" y="0" width="40" height="80" href="file://{path}"/>
<image x="80" y="0" width="40" height="40" xlink:href="{path}"/>
<image x="80" y="40" width="40" height="40" href="http://127.0.0.1:{port}/secret.png"/>
<image x="0" y="60" width="40" height="20" href="data:image/svg+xml;base64,{nested}"/>
</svg>"##,
        path = secret.display(),
        nested = base64_encode(br##"<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4" fill="#ff0000"/></svg>"##),
    );
    let (headers, png) = round_trip(&server, &creds, "refs.svg", svg.into_bytes(), "png").await;
    assert_eq!(headers["content-type"], "image/png");
    let image = image::load_from_memory(&png).unwrap().to_rgba8();
    assert_eq!(image.dimensions(), (120, 80));
    assert_eq!(
        image.get_pixel(20, 40).0,
        [0, 0, 255, 255],
        "the drawing itself renders"
    );
    for (x, y) in [(60, 40), (100, 20), (100, 60)] {
        assert_eq!(
            image.get_pixel(x, y).0[3],
            0,
            "pixel ({x},{y}) came from an outside file"
        );
    }
    // A nested SVG (parsed again for every use of it) is not drawn; the blue rectangle
    // under it shows.
    assert_eq!(
        image.get_pixel(20, 70).0,
        [0, 0, 255, 255],
        "a nested SVG was drawn"
    );
    match listener.accept() {
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the URL was fetched: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn svg_becomes_a_png_of_its_size_and_a_pdf_whose_text_stays_text() {
    let server = server().await;
    let creds = new_session(&server).await;
    let svg = r##"<svg xmlns="http://www.w3.org/2000/svg" width="300" height="100" viewBox="0 0 300 100">
<rect width="300" height="100" fill="#ffffff"/><circle cx="50" cy="50" r="40" fill="#00aa00"/>
<text x="100" y="60" font-size="24" font-family="sans-serif">Ωμέγα Съешь</text></svg>"##;
    let (_, png) = round_trip(&server, &creds, "logo.svg", svg.as_bytes().to_vec(), "png").await;
    let image = image::load_from_memory(&png).unwrap().to_rgba8();
    assert_eq!(image.dimensions(), (300, 100));
    assert_eq!(image.get_pixel(50, 50).0, [0, 170, 0, 255]);
    let (headers, pdf) =
        round_trip(&server, &creds, "logo.svg", svg.as_bytes().to_vec(), "pdf").await;
    assert_eq!(headers["content-type"], "application/pdf");
    let text = pdf_text(&pdf);
    assert!(text.contains("Ωμέγα Съешь"), "{text:?}");
    let document = lopdf::Document::load_mem(&pdf).unwrap();
    assert_eq!(document.get_pages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_outside_latin1_survives_into_the_pdf() {
    let server = server().await;
    let creds = new_session(&server).await;
    let source = "Zażółć gęślą jaźń — Съешь же ещё — Ωμέγα";
    let (_, pdf) = round_trip(
        &server,
        &creds,
        "pangram.txt",
        source.as_bytes().to_vec(),
        "pdf",
    )
    .await;
    assert_eq!(pdf_text(&pdf).trim(), source);
    let markdown = format!("# Nagłówek\n\n{source}\n");
    let (_, pdf) = round_trip(&server, &creds, "pangram.md", markdown.into_bytes(), "pdf").await;
    let text = pdf_text(&pdf);
    assert!(
        text.contains("Nagłówek") && text.contains(source),
        "{text:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spreadsheet_values_come_out_as_csv_and_json() {
    let server = server().await;
    let creds = new_session(&server).await;
    let rows = vec![
        vec![Cell::Text("name"), Cell::Text("qty")],
        vec![Cell::Text("Zażółć"), Cell::Number(42.0)],
        vec![Cell::Text("half"), Cell::Number(3.5)],
    ];
    let workbook = xlsx(&rows);
    let (headers, csv) = round_trip(&server, &creds, "stock.xlsx", workbook.clone(), "csv").await;
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        String::from_utf8(csv).unwrap(),
        "name,qty\nZażółć,42\nhalf,3.5\n"
    );
    let (_, json) = round_trip(&server, &creds, "stock.xlsx", workbook, "json").await;
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(
        json,
        json!([{"name": "Zażółć", "qty": 42}, {"name": "half", "qty": 3.5}])
    );

    // An ods file with the trailing run of empty rows spreadsheet programs write.
    let table = ods_row(&[Cell::Text("name"), Cell::Text("qty")])
        + &ods_row(&[Cell::Text("Ωμέγα"), Cell::Number(7.0)])
        + r#"<table:table-row table:number-rows-repeated="1048570"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>"#;
    let (_, csv) = round_trip(&server, &creds, "greek.ods", ods(&table), "csv").await;
    assert_eq!(String::from_utf8(csv).unwrap(), "name,qty\nΩμέγα,7\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zip_bombs_macro_documents_and_mislabelled_packages_are_refused_at_upload() {
    let server = server().await;
    let creds = new_session(&server).await;
    let refused = |message: &'static str| {
        move |status: StatusCode, body: &serde_json::Value| {
            assert_error(status, body, StatusCode::BAD_REQUEST, "FileValidationError");
            let text = body["error"]["message"].as_str().unwrap();
            assert!(text.contains(message), "{text}");
        }
    };

    // A part that inflates 1000-fold: 4 MiB of zeros in a few kilobytes.
    let mut bomb = docx_parts("bomb");
    bomb.push(("word/media/zeros.bin".into(), vec![0; 4 << 20]));
    let bytes = zip_parts(&bomb);
    assert!(bytes.len() < 64 * 1024);
    let (status, _, body) = upload(&server, &creds, &new_job_id(), "bomb.docx", bytes).await;
    refused("zip bomb")(status, &body);

    let mut macros = docx_parts("macros");
    macros.push(("word/vbaProject.bin".into(), b"Attribute VB_Name".to_vec()));
    let (status, _, body) = upload(
        &server,
        &creds,
        &new_job_id(),
        "macro.docx",
        zip_parts(&macros),
    )
    .await;
    refused("macros")(status, &body);

    // An odt renamed to .docx is not a Word document.
    let (status, _, body) = upload(&server, &creds, &new_job_id(), "fake.docx", odt("x")).await;
    refused("is missing")(status, &body);

    // A spreadsheet that expands to a hundred million cells.
    let table = r#"<table:table-row table:number-rows-repeated="1000000"><table:table-cell office:value-type="float" office:value="1" table:number-columns-repeated="100"/></table:table-row>"#;
    let (status, _, body) = upload(&server, &creds, &new_job_id(), "cells.ods", ods(table)).await;
    refused("cells")(status, &body);

    // The same with values written without a value type, in a self-closing row.
    let table = r#"<table:table-row table:number-rows-repeated="1000000"><table:table-cell office:value="1" table:number-columns-repeated="100"/></table:table-row>"#;
    let (status, _, body) = upload(&server, &creds, &new_job_id(), "bare.ods", ods(table)).await;
    refused("cells")(status, &body);

    // A run of four billion spaces in one cell.
    let table = r#"<table:table-row><table:table-cell office:value-type="string"><text:p>a<text:s text:c="4000000000"/>b</text:p></table:table-cell></table:table-row>"#;
    let (status, _, body) = upload(&server, &creds, &new_job_id(), "spaces.ods", ods(table)).await;
    refused("spaces")(status, &body);

    // A Word file whose content types say it carries macros.
    let mut declared = docx_parts("declared");
    declared[0].1 = String::from_utf8(declared[0].1.clone())
        .unwrap()
        .replace("document.main+xml", "document.macroEnabled.main+xml")
        .into_bytes();
    let (status, _, body) = upload(
        &server,
        &creds,
        &new_job_id(),
        "declared.docx",
        zip_parts(&declared),
    )
    .await;
    refused("macros")(status, &body);

    // The same files with reasonable contents are accepted.
    let (status, _, body) = upload(&server, &creds, &new_job_id(), "fine.docx", docx("fine")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// How many images poppler's `pdfimages -list` finds in a PDF.
fn pdfimages_count(pdf: &[u8]) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.pdf");
    std::fs::write(&path, pdf).unwrap();
    let output = std::process::Command::new("pdfimages")
        .arg("-list")
        .arg(&path)
        .output()
        .expect("pdfimages runs (scripts/setup.sh installs poppler-utils)");
    assert!(output.status.success(), "{output:?}");
    // Two header lines, then one line per image.
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .skip(2)
        .filter(|line| !line.trim().is_empty())
        .count()
}

/// A PNG every LibreOffice run can see, even inside bubblewrap (its own installation).
fn png_visible_to_libreoffice() -> std::path::PathBuf {
    let dir = std::path::Path::new("/usr/lib/libreoffice/share/toolbarmode");
    std::fs::read_dir(dir)
        .expect("LibreOffice's share folder")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| path.extension().is_some_and(|ext| ext == "png"))
        .expect("a PNG in LibreOffice's installation")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_data_urls_are_judged_by_their_bytes_so_svg_never_reaches_libreoffice() {
    let server = server().await;
    require_libreoffice(&group_ids(&server).await);
    let creds = new_session(&server).await;
    let local = png_visible_to_libreoffice();
    let svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="64" height="64"><image width="64" height="64" xlink:href="file://{}"/></svg>"#,
        local.display()
    );
    let svg64 = base64_encode(svg.as_bytes());
    for (name, src) in [
        ("upper.html", format!("DATA:image/svg+xml;base64,{svg64}")),
        ("mislabelled.html", format!("data:image/png;base64,{svg64}")),
        ("spaced.html", format!(" Data:image/svg+xml;base64,{svg64}")),
    ] {
        let html = format!(r#"<p>Picture below</p><img src="{src}">"#);
        let (_, pdf) = round_trip(&server, &creds, name, html.into_bytes(), "pdf").await;
        assert!(pdf_text(&pdf).contains("Picture below"), "{name} converts");
        assert_eq!(pdfimages_count(&pdf), 0, "{name}: an image reached the PDF");
    }
    // The control: a real PNG in a data URL is kept, so the check above can fail.
    let html = format!(
        r#"<p>Picture below</p><img src="data:image/png;base64,{}">"#,
        base64_encode(&red_png())
    );
    let (_, pdf) = round_trip(&server, &creds, "real.html", html.into_bytes(), "pdf").await;
    assert!(pdfimages_count(&pdf) >= 1, "a genuine PNG is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn office_pictures_linked_to_files_of_the_server_are_never_loaded() {
    let server = server().await;
    require_libreoffice(&group_ids(&server).await);
    let creds = new_session(&server).await;
    // Visible inside the fence too; plain `soffice` with a default profile embeds it.
    // The run's profile keeps it out (`BlockUntrustedRefererLinks`: without it this
    // fails; the link-update setting alone does not stop it).
    let local = png_visible_to_libreoffice();
    let types = r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;
    let package_rels = r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#;
    let document_rels = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId5" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image" Target="file://{}" TargetMode="External"/></Relationships>"#,
        local.display()
    );
    let document = r#"<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture"><w:body><w:p><w:r><w:t>Linked picture:</w:t></w:r><w:r><w:drawing><wp:inline><wp:extent cx="914400" cy="914400"/><wp:docPr id="1" name="P"/><a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/picture"><pic:pic><pic:nvPicPr><pic:cNvPr id="1" name="P"/><pic:cNvPicPr/></pic:nvPicPr><pic:blipFill><a:blip r:link="rId5"/><a:stretch><a:fillRect/></a:stretch></pic:blipFill><pic:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="914400" cy="914400"/></a:xfrm><a:prstGeom prst="rect"/></pic:spPr></pic:pic></a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p></w:body></w:document>"#;
    let docx = zip_of(&[
        ("[Content_Types].xml", types.as_bytes()),
        ("_rels/.rels", package_rels.as_bytes()),
        ("word/_rels/document.xml.rels", document_rels.as_bytes()),
        ("word/document.xml", document.as_bytes()),
    ]);
    let manifest = r#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#;
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" office:version="1.2"><office:body><office:text><text:p>Linked picture:<draw:frame draw:name="P" text:anchor-type="as-char" svg:width="2cm" svg:height="2cm"><draw:image xlink:href="file://{}" xlink:type="simple" xlink:show="embed" xlink:actuate="onLoad"/></draw:frame></text:p></office:text></office:body></office:document-content>"#,
        local.display()
    );
    let odt = zip_of(&[
        (
            "mimetype",
            b"application/vnd.oasis.opendocument.text".as_slice(),
        ),
        ("META-INF/manifest.xml", manifest.as_bytes()),
        ("content.xml", content.as_bytes()),
    ]);
    for (name, package) in [("linked.docx", docx), ("linked.odt", odt)] {
        let (_, pdf) = round_trip(&server, &creds, name, package, "pdf").await;
        assert!(pdf_text(&pdf).contains("Linked picture"), "{name} converts");
        assert_eq!(
            pdfimages_count(&pdf),
            0,
            "{name}: LibreOffice loaded a linked file"
        );
    }
}
