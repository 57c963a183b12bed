//! Documents through the real server and Pandoc (and LibreOffice for PDF): inputs made
//! here by Pandoc from one markdown text, every output read back as text; pictures
//! inside a document kept; and Pandoc's sandbox holding — a reStructuredText or Org
//! include, a picture by path or an `<img>` pointing at a file the fence does show
//! (`/etc/fonts`) brings nothing of it into the result.

mod common;

use std::io::Read as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::conversion::*;
use common::documents::pdf_text;
use common::*;

/// The words every input holds and every output must give back.
const PHRASE: &str = "Quick brown foxes jump 42 times";
/// What a file the fence shows, but the sandbox must not, contains.
const FONTS_CONF_MARK: &str = "fontconfig";

const SOURCE: &str = "# A test document\n\nQuick brown foxes jump 42 times.\n\n- one\n- two\n";

async fn server() -> TestServer {
    TestServer::start(|config| {
        config.jobs.conversion_timeout = Duration::from_secs(300);
    })
    .await
}

/// Runs Pandoc (installed by scripts/setup-engines.sh) outside the service, to make
/// inputs and read outputs back.
fn pandoc(dir: &Path, args: &[&str]) -> Vec<u8> {
    let output = Command::new("pandoc")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("pandoc runs (scripts/setup-engines.sh installs it)");
    assert!(output.status.success(), "pandoc {args:?}: {output:?}");
    output.stdout
}

/// `SOURCE` written as `format` (Pandoc's writer name) into `name`.
fn make_input(dir: &Path, writer: &str, name: &str) -> Vec<u8> {
    std::fs::write(dir.join("source.md"), SOURCE).unwrap();
    pandoc(
        dir,
        &[
            "-s",
            "-M",
            "title=A test",
            "-f",
            "markdown",
            "-t",
            writer,
            "-o",
            name,
            "source.md",
        ],
    );
    std::fs::read(dir.join(name)).unwrap()
}

/// The text of a document in `format` (an extension), read by Pandoc.
fn text_of(bytes: &[u8], extension: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("result.{extension}");
    std::fs::write(dir.path().join(&name), bytes).unwrap();
    let reader = match extension {
        "md" => "markdown",
        "tex" => "latex",
        "txt" => return String::from_utf8(bytes.to_vec()).unwrap(),
        other => other,
    };
    String::from_utf8(pandoc(dir.path(), &["-f", reader, "-t", "plain", &name])).unwrap()
}

const INPUTS: [(&str, &str); 8] = [
    ("md", "markdown"),
    ("html", "html"),
    ("docx", "docx"),
    ("odt", "odt"),
    ("epub", "epub"),
    ("rst", "rst"),
    ("tex", "latex"),
    ("org", "org"),
];

const OUTPUTS: [(&str, &str); 8] = [
    ("markdown", "md"),
    ("html", "html"),
    ("docx", "docx"),
    ("odt", "odt"),
    ("epub", "epub"),
    ("rst", "rst"),
    ("org", "org"),
    ("txt", "txt"),
];

fn normalized(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_document_format_converts_to_plain_text_and_markdown_to_every_output() {
    let server = server().await;
    let creds = new_session(&server).await;
    let dir = tempfile::tempdir().unwrap();
    for (extension, writer) in INPUTS {
        let name = format!("input.{extension}");
        let input = make_input(dir.path(), writer, &name);
        let (_, text) = round_trip(&server, &creds, &name, input, "txt").await;
        let text = String::from_utf8(text).unwrap();
        assert!(
            normalized(&text).contains(PHRASE),
            "{extension} → txt: {text}"
        );
    }
    for (target, extension) in OUTPUTS {
        let (_, bytes) = round_trip(
            &server,
            &creds,
            "input.md",
            SOURCE.as_bytes().to_vec(),
            target,
        )
        .await;
        let text = text_of(&bytes, extension);
        assert!(normalized(&text).contains(PHRASE), "md → {target}: {text}");
    }
    for (source, writer, target, extension) in [
        ("docx", "docx", "epub", "epub"),
        ("epub", "epub", "docx", "docx"),
        ("odt", "odt", "rst", "rst"),
        ("tex", "latex", "html", "html"),
        ("org", "org", "odt", "odt"),
    ] {
        let name = format!("input.{source}");
        let input = make_input(dir.path(), writer, &name);
        let (_, bytes) = round_trip(&server, &creds, &name, input, target).await;
        let text = text_of(&bytes, extension);
        assert!(
            normalized(&text).contains(PHRASE),
            "{source} → {target}: {text}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_libreoffice_cannot_read_become_pdf_through_pandoc_and_libreoffice() {
    let server = server().await;
    let creds = new_session(&server).await;
    let dir = tempfile::tempdir().unwrap();
    for (extension, writer) in [
        ("epub", "epub"),
        ("rst", "rst"),
        ("tex", "latex"),
        ("org", "org"),
    ] {
        let name = format!("input.{extension}");
        let input = make_input(dir.path(), writer, &name);
        let (_, pdf) = round_trip(&server, &creds, &name, input, "pdf").await;
        let text = pdf_text(&pdf);
        assert!(
            normalized(&text).contains(PHRASE),
            "{extension} → pdf: {text}"
        );
    }
    server.stop().await;
}

/// The file names inside a zip-based document.
fn zip_names(bytes: &[u8]) -> Vec<String> {
    let archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    archive
        .file_names()
        .map(|name| name.unwrap().into_owned())
        .collect()
}

/// Every part of a zip-based document, as text where it is text.
fn zip_text(bytes: &[u8]) -> String {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut all = String::new();
    for index in 0..archive.len() {
        let mut part = Vec::new();
        archive
            .by_index(index)
            .unwrap()
            .read_to_end(&mut part)
            .unwrap();
        all.push_str(&String::from_utf8_lossy(&part));
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pictures_inside_a_document_are_kept_and_embedded() {
    let server = server().await;
    let creds = new_session(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let picture = sample_image(image::ImageFormat::Png);
    std::fs::write(dir.path().join("picture.png"), &picture).unwrap();
    std::fs::write(
        dir.path().join("with.md"),
        "# Pictured\n\n![a picture](picture.png)\n",
    )
    .unwrap();
    pandoc(dir.path(), &["-o", "with.docx", "with.md"]);
    let docx = std::fs::read(dir.path().join("with.docx")).unwrap();
    for (target, holds_picture) in [
        ("epub", "EPUB/media/"),
        ("odt", "Pictures/"),
        ("docx", "word/media/"),
    ] {
        let (_, bytes) = round_trip(&server, &creds, "with.docx", docx.clone(), target).await;
        let names = zip_names(&bytes);
        assert!(
            names.iter().any(|n| n.starts_with(holds_picture)),
            "{target}: {names:?}"
        );
    }
    let (_, html) = round_trip(&server, &creds, "with.docx", docx, "html").await;
    let html = String::from_utf8(html).unwrap();
    assert!(
        html.contains("src=\"data:image/png;base64,"),
        "the picture embedded: {html}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_pull_in_no_other_file() {
    let server = server().await;
    let creds = new_session(&server).await;
    // /etc/fonts is inside the fence (LibreOffice needs it): only Pandoc's sandbox and
    // the tree's cleaning keep its files out of the results.
    let readme = "/etc/fonts/conf.d/README";
    assert!(std::fs::read_to_string(readme)
        .unwrap()
        .contains(FONTS_CONF_MARK));
    for (name, including) in [
        ("notes.rst", format!("{PHRASE}.\n\n.. include:: {readme}\n")),
        (
            "notes.org",
            format!("{PHRASE}.\n\n#+INCLUDE: \"{readme}\"\n"),
        ),
    ] {
        for target in ["txt", "docx"] {
            let (_, bytes) = round_trip(
                &server,
                &creds,
                name,
                including.clone().into_bytes(),
                target,
            )
            .await;
            let text = if target == "txt" {
                String::from_utf8(bytes).unwrap()
            } else {
                zip_text(&bytes)
            };
            assert!(text.contains("Quick brown"), "{name} → {target}: {text}");
            assert!(
                !text.contains(FONTS_CONF_MARK),
                "{name} → {target} included the file: {text}"
            );
        }
    }
    let conf = "/etc/fonts/fonts.conf";
    let markdown = format!(
        "{PHRASE}\n\n![by path]({conf})\n\n![by url](file://{conf})\n\n<img src=\"{conf}\">\n"
    );
    for target in ["docx", "odt", "epub"] {
        let (_, bytes) = round_trip(
            &server,
            &creds,
            "notes.md",
            markdown.clone().into_bytes(),
            target,
        )
        .await;
        let inside = zip_text(&bytes);
        assert!(inside.contains("Quick brown"), "{target}");
        assert!(!inside.contains(FONTS_CONF_MARK), "{target} holds the file");
    }
    let html = format!(
        "<html><body><p>{PHRASE}</p><img src=\"file://{conf}\"><img src=\"{conf}\"></body></html>"
    );
    let (_, epub) = round_trip(&server, &creds, "page.html", html.into_bytes(), "epub").await;
    assert!(!zip_text(&epub).contains(FONTS_CONF_MARK));
    server.stop().await;
}
