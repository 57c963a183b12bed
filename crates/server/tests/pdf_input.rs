//! PDF as input through the real server and poppler: one page as one picture, several
//! as one zip (named and typed as a zip, each page decodable), `pages` picking pages,
//! the page limit, and the text read back.

mod common;

use std::io::Read as _;

use common::conversion::*;
use common::*;
use image::ImageFormat;
use reqwest::StatusCode;
use serde_json::json;

/// A PDF of `pages` A4 pages, page N saying "This is page N." in Helvetica, written
/// here with lopdf.
fn pdf_of(pages: usize) -> Vec<u8> {
    use lopdf::content::{Content, Operation};
    use lopdf::{dictionary, Document, Object, Stream};
    let mut document = Document::with_version("1.5");
    let pages_id = document.new_object_id();
    let font = document.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let resources = document.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font },
    });
    let mut kids = Vec::new();
    for n in 1..=pages {
        let content = Content {
            operations: vec![
                Operation::new("BT", vec![]),
                Operation::new("Tf", vec!["F1".into(), 24.into()]),
                Operation::new("Td", vec![72.into(), 720.into()]),
                Operation::new(
                    "Tj",
                    vec![Object::string_literal(format!("This is page {n}."))],
                ),
                Operation::new("ET", vec![]),
            ],
        };
        let stream = document.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page = document.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => stream,
        });
        kids.push(Object::from(page));
    }
    let count = kids.len() as i64;
    document.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => count, "Resources" => resources,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog = document.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    document.trailer.set("Root", catalog);
    let mut pdf = Vec::new();
    document.save_to(&mut pdf).unwrap();
    pdf
}

/// Uploads `pdf`, converts it to `target` with `options`; the finished job's status
/// and, if it completed, the download's headers and bytes.
async fn convert_pdf(
    server: &TestServer,
    creds: &Creds,
    pdf: Vec<u8>,
    target: &str,
    options: serde_json::Value,
) -> (
    serde_json::Value,
    Option<(reqwest::header::HeaderMap, Vec<u8>)>,
) {
    let job_id = new_job_id();
    let (status, _, body) = upload(server, creds, &job_id, "report.pdf", pdf).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let request = json!({"job_id": job_id, "target_format": target, "options": options});
    let (status, _, body) = convert(server, creds, request).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let data = wait_finished(server, creds, &job_id).await;
    if data["status"] != "completed" {
        return (data, None);
    }
    let (_, body) = download_token(server, creds, &job_id).await;
    let (status, headers, bytes) =
        download(server, body["data"]["download_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    (data, Some((headers, bytes)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_page_becomes_one_picture_and_several_one_zip_of_pictures() {
    let server = TestServer::start(|_| {}).await;
    let creds = new_session(&server).await;
    let single = pdf_of(1);
    let (status, download) = convert_pdf(&server, &creds, single, "png", json!({})).await;
    assert_eq!(status["output_format"], "png", "{status}");
    let (headers, bytes) = download.unwrap();
    assert_eq!(headers["content-type"], "image/png");
    let page = image::load_from_memory_with_format(&bytes, ImageFormat::Png).unwrap();
    assert_eq!(page.height(), 2000, "2000 px on the longer side");

    let three = pdf_of(3);
    let (status, download) = convert_pdf(&server, &creds, three.clone(), "jpeg", json!({})).await;
    assert_eq!(status["output_format"], "zip", "{status}");
    let (headers, bytes) = download.unwrap();
    assert_eq!(headers["content-type"], "application/zip");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.contains("report.zip"), "{disposition}");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let names: Vec<String> = archive
        .file_names()
        .map(|n| n.unwrap().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "report-page-1.jpg",
            "report-page-2.jpg",
            "report-page-3.jpg"
        ]
    );
    for index in 0..archive.len() {
        let mut picture = Vec::new();
        archive
            .by_index(index)
            .unwrap()
            .read_to_end(&mut picture)
            .unwrap();
        let page = image::load_from_memory_with_format(&picture, ImageFormat::Jpeg).unwrap();
        assert_eq!(page.height(), 2000);
    }

    // Two pages picked, scaled to 300 px wide.
    let (status, download) = convert_pdf(
        &server,
        &creds,
        three,
        "png",
        json!({"pages": "1,3", "max_width": 300}),
    )
    .await;
    assert_eq!(status["output_format"], "zip");
    let (_, bytes) = download.unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let names: Vec<String> = archive
        .file_names()
        .map(|n| n.unwrap().into_owned())
        .collect();
    assert_eq!(names, ["report-page-1.png", "report-page-3.png"]);
    let mut picture = Vec::new();
    archive
        .by_index(1)
        .unwrap()
        .read_to_end(&mut picture)
        .unwrap();
    assert_eq!(image::load_from_memory(&picture).unwrap().width(), 300);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_text_of_the_chosen_pages_is_read_back() {
    let server = TestServer::start(|_| {}).await;
    let creds = new_session(&server).await;
    let pdf = pdf_of(4);
    let (_, download) = convert_pdf(&server, &creds, pdf.clone(), "txt", json!({})).await;
    let text = String::from_utf8(download.unwrap().1).unwrap();
    for n in 1..=4 {
        assert!(text.contains(&format!("This is page {n}.")), "{text}");
    }
    let (_, download) = convert_pdf(&server, &creds, pdf, "txt", json!({"pages": "2-3"})).await;
    let text = String::from_utf8(download.unwrap().1).unwrap();
    assert!(
        text.contains("This is page 2.") && text.contains("This is page 3."),
        "{text}"
    );
    assert!(
        !text.contains("page 1.") && !text.contains("page 4."),
        "{text}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pdf_over_the_page_limit_is_refused_unless_pages_picks_fewer() {
    let server = TestServer::start(|_| {}).await;
    let creds = new_session(&server).await;
    let pdf = pdf_of(101);
    let (status, download) = convert_pdf(&server, &creds, pdf.clone(), "png", json!({})).await;
    assert!(download.is_none());
    let reason = status["error"].as_str().unwrap();
    assert!(
        reason.contains("101 pages") && reason.contains("at most 100"),
        "{reason}"
    );
    let (status, download) =
        convert_pdf(&server, &creds, pdf.clone(), "png", json!({"pages": "101"})).await;
    assert_eq!(status["output_format"], "png", "{status}");
    assert!(download.is_some());
    let (status, _) = convert_pdf(&server, &creds, pdf, "png", json!({"pages": "150-160"})).await;
    assert!(
        status["error"].as_str().unwrap().contains("has 101"),
        "{status}"
    );
    server.stop().await;
}
