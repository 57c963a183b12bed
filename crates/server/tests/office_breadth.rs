//! Spreadsheets and presentations through the real server and LibreOffice (Calc,
//! Impress): workbooks and CSV tables to PDF with their values, presentations to PDF
//! (a page per slide) and to pictures (a zip of one per slide, through poppler).

mod common;

use std::io::Read as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::conversion::*;
use common::documents::*;
use common::*;

async fn server() -> TestServer {
    TestServer::start(|config| {
        config.jobs.conversion_timeout = Duration::from_secs(300);
    })
    .await
}

fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workbooks_and_csv_tables_become_pdfs_holding_their_values() {
    let server = server().await;
    let creds = new_session(&server).await;
    let rows = vec![
        vec![Cell::Text("fruit"), Cell::Text("price")],
        vec![Cell::Text("quince"), Cell::Number(4.25)],
    ];
    let inputs = [
        ("prices.xlsx", xlsx(&rows)),
        (
            "prices.ods",
            ods(&rows.iter().map(|row| ods_row(row)).collect::<String>()),
        ),
        ("prices.csv", b"fruit,price\nquince,4.25\n".to_vec()),
    ];
    for (name, bytes) in inputs {
        let (_, pdf) = round_trip(&server, &creds, name, bytes, "pdf").await;
        let text = words(&pdf_text(&pdf));
        assert!(
            text.contains("quince") && text.contains("4.25"),
            "{name}: {text}"
        );
    }
    server.stop().await;
}

/// A presentation of three slides titled "Slide 1" … "Slide 3", written by Pandoc
/// (installed by scripts/setup-engines.sh) as pptx, and by LibreOffice as odp.
fn presentations(dir: &Path) -> [(String, Vec<u8>); 2] {
    let source = (1..=3)
        .map(|n| format!("# Slide {n}\n\nPoint number {n}\n"))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.join("deck.md"), source).unwrap();
    let run = |program: &str, args: &[&str]| {
        let status = Command::new(program)
            .args(args)
            .current_dir(dir)
            .status()
            .unwrap();
        assert!(status.success(), "{program} {args:?}");
    };
    run("pandoc", &["-o", "deck.pptx", "deck.md"]);
    let profile = format!("-env:UserInstallation=file://{}/profile", dir.display());
    run(
        "soffice",
        &[&profile, "--headless", "--convert-to", "odp", "deck.pptx"],
    );
    ["deck.pptx", "deck.odp"].map(|name| (name.to_owned(), std::fs::read(dir.join(name)).unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presentations_become_a_pdf_page_per_slide_and_a_picture_per_slide() {
    let server = server().await;
    let creds = new_session(&server).await;
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in presentations(dir.path()) {
        let (_, pdf) = round_trip(&server, &creds, &name, bytes.clone(), "pdf").await;
        let document = lopdf::Document::load_mem(&pdf).unwrap();
        assert_eq!(document.get_pages().len(), 3, "{name}: a page per slide");
        let text = words(&pdf_text(&pdf));
        assert!(text.contains("Point number 2"), "{name}: {text}");

        let (headers, zip) = round_trip(&server, &creds, &name, bytes, "png").await;
        assert_eq!(headers["content-type"], "application/zip", "{name}");
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        assert_eq!(archive.len(), 3, "{name}: a picture per slide");
        for index in 0..3 {
            let mut png = Vec::new();
            archive
                .by_index(index)
                .unwrap()
                .read_to_end(&mut png)
                .unwrap();
            let slide = image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap();
            assert_eq!(slide.width().max(slide.height()), 2000, "{name}");
            assert!(
                slide.width() > slide.height(),
                "{name}: slides are landscape"
            );
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_spreadsheets_and_presentations_convert_on_warm_instances() {
    let server = TestServer::start(|config| {
        config.jobs.conversion_timeout = Duration::from_secs(300);
        config.office_pool = 1;
        // Replaced after two: the third conversion runs on a new instance.
        config.office_recycle_after = 2;
    })
    .await;
    let creds = new_session(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let [(pptx_name, pptx), _] = presentations(dir.path());
    let rows = vec![vec![Cell::Text("warm"), Cell::Number(7.5)]];
    for (name, bytes, expected) in [
        ("letter.docx", docx("Warm greetings"), "Warm greetings"),
        ("sheet.xlsx", xlsx(&rows), "7.5"),
        (pptx_name.as_str(), pptx, "Point number 3"),
        ("again.docx", docx("Warm again"), "Warm again"),
    ] {
        let (_, pdf) = round_trip(&server, &creds, name, bytes, "pdf").await;
        let text = words(&pdf_text(&pdf));
        assert!(text.contains(expected), "{name}: {text}");
    }
    // The instances live in this process's pool folder, not in a job's.
    let pool_folder = format!("trustyconvert-office-{}-", std::process::id());
    let instances = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with(&pool_folder)
        })
        .flat_map(|pool| std::fs::read_dir(pool.path()).unwrap().flatten())
        .count();
    assert_eq!(instances, 1, "one warm instance running");
    server.stop().await;
}
