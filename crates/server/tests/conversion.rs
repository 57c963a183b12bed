//! Every supported conversion over real HTTP, every output decoded and checked.

mod common;

use common::conversion::*;
use common::*;
use image::ImageFormat;
use reqwest::{Method, StatusCode};
use serde_json::Value;

const RASTER: [(&str, ImageFormat); 6] = [
    ("png", ImageFormat::Png),
    ("jpeg", ImageFormat::Jpeg),
    ("gif", ImageFormat::Gif),
    ("bmp", ImageFormat::Bmp),
    ("tiff", ImageFormat::Tiff),
    ("webp", ImageFormat::WebP),
];

async fn server() -> TestServer {
    TestServer::start(|c| {
        c.jobs.max_active_jobs = 100;
        c.rate_limits.upload_per_minute = 0;
        c.rate_limits.convert_per_minute = 0;
        c.rate_limits.download_per_minute = 0;
    })
    .await
}

fn assert_pdf_pages(bytes: &[u8], expected_media_box: Option<(i64, i64)>) -> lopdf::Document {
    let document = lopdf::Document::load_mem(bytes).expect("output is a parsable PDF");
    let pages = document.get_pages();
    assert!(!pages.is_empty());
    if let Some((w, h)) = expected_media_box {
        let page = document
            .get_object(*pages.values().next().unwrap())
            .unwrap()
            .as_dict()
            .unwrap();
        let media_box: Vec<i64> = page
            .get(b"MediaBox")
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                o.as_float()
                    .map(|f| f as i64)
                    .or_else(|_| o.as_i64())
                    .unwrap()
            })
            .collect();
        assert_eq!(media_box, vec![0, 0, w, h]);
    }
    document
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_raster_pair_and_raster_to_pdf_round_trips_with_dimensions_preserved() {
    let server = server().await;
    let creds = new_session(&server).await;
    let mut checked = 0;
    for (source, source_format) in RASTER {
        let input = sample_image(source_format);
        let targets = RASTER.iter().map(|(name, _)| *name).chain(["jpg", "pdf"]);
        for target in targets {
            let filename = format!("sample.{source}");
            let (headers, bytes) =
                round_trip(&server, &creds, &filename, input.clone(), target).await;
            if target == "pdf" {
                assert_eq!(headers["content-type"], "application/pdf");
                assert_pdf_pages(&bytes, Some((37, 23)));
            } else {
                let (_, format) = RASTER
                    .iter()
                    .find(|(n, _)| *n == target)
                    .copied()
                    .unwrap_or(("jpeg", ImageFormat::Jpeg));
                assert_eq!(
                    headers["content-type"],
                    format.to_mime_type(),
                    "{source} → {target}"
                );
                let decoded = image::load_from_memory_with_format(&bytes, format)
                    .unwrap_or_else(|e| panic!("{source} → {target} does not decode: {e}"));
                assert_eq!(
                    (decoded.width(), decoded.height()),
                    (WIDTH, HEIGHT),
                    "{source} → {target}"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 6 * 8);
}

#[tokio::test]
async fn converted_html_keeps_only_http_https_mailto_and_relative_urls() {
    let server = server().await;
    let creds = new_session(&server).await;
    let markdown = "\
[plain](javascript:alert(1)) [mixed](JaVaScRiPt:alert(2)) [spaced]( javascript:alert(3))\n\n\
![pixel](data:image/png;base64,iVBORw0KGgo=) [vb](vbscript:msgbox(1))\n\n\
<javascript:alert(4)> <https://ok.example/page> <a href=\"x\" onclick=\"alert(5)\">raw</a>\n\n\
[site](https://example.com/a) [mail](mailto:someone@example.com) [rel](/docs/page) \
![img](https://example.com/i.png)\n";
    let (_, bytes) = round_trip(
        &server,
        &creds,
        "links.md",
        markdown.as_bytes().to_vec(),
        "html",
    )
    .await;
    let html = String::from_utf8(bytes).unwrap();
    let lower = html.to_ascii_lowercase();
    for banned in [
        "href=\"javascript:",
        "href=\"vbscript:",
        "src=\"data:",
        "<a href=\"x\"",
    ] {
        assert!(!lower.contains(banned), "{banned} survived: {html}");
    }
    assert!(!lower.contains("href=\" javascript"), "{html}");
    for kept in [
        "href=\"https://example.com/a\"",
        "href=\"mailto:someone@example.com\"",
        "href=\"/docs/page\"",
        "href=\"https://ok.example/page\"",
        "src=\"https://example.com/i.png\"",
    ] {
        assert!(html.contains(kept), "{kept} was lost: {html}");
    }
    assert!(
        html.contains("&lt;a href="),
        "raw HTML stays escaped: {html}"
    );
}

#[tokio::test]
async fn markdown_to_html_escapes_raw_html_and_names_the_file() {
    let server = server().await;
    let creds = new_session(&server).await;
    let markdown = "# Résumé\n\nSome *text* and <script>alert(1)</script>.\n\n- one\n- two\n";
    let (headers, bytes) = round_trip(
        &server,
        &creds,
        "résumé.md",
        markdown.as_bytes().to_vec(),
        "html",
    )
    .await;
    let html = String::from_utf8(bytes).unwrap();
    assert!(html.contains("<h1>Résumé</h1>"), "{html}");
    assert!(html.contains("<em>text</em>"));
    assert!(html.contains("<li>one</li>"));
    assert!(
        !html.contains("<script>"),
        "raw HTML must be escaped: {html}"
    );
    assert!(html.contains("&lt;script&gt;"));
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''r%C3%A9sum%C3%A9%2Ehtml"),
        "{disposition}"
    );
}

#[tokio::test]
async fn markdown_and_text_to_pdf_produce_parsable_pages_with_the_text() {
    let server = server().await;
    let creds = new_session(&server).await;
    let long_text: String = (0..150)
        .map(|i| format!("Line number {i} of the plain text file.\n"))
        .collect();
    let (_, bytes) = round_trip(&server, &creds, "notes.txt", long_text.into_bytes(), "pdf").await;
    let document = assert_pdf_pages(&bytes, Some((595, 842)));
    assert!(
        document.get_pages().len() >= 2,
        "150 lines need more than one A4 page"
    );
    let first_page = document.extract_text(&[1]).unwrap();
    assert!(first_page.contains("Line number 0"), "{first_page}");

    let (_, bytes) = round_trip(
        &server,
        &creds,
        "readme.markdown",
        b"# Title\n\nHello **PDF**.\n".to_vec(),
        "pdf",
    )
    .await;
    let document = assert_pdf_pages(&bytes, None);
    let text = document.extract_text(&[1]).unwrap();
    assert!(
        text.contains("Title") && text.contains("Hello PDF"),
        "{text}"
    );
}

#[tokio::test]
async fn csv_to_json_and_json_to_csv() {
    let server = server().await;
    let creds = new_session(&server).await;
    let csv = "name,age,city\nAda,36,London\n\"Lovelace, A\",28,\"New York\"\n";
    let (headers, bytes) = round_trip(
        &server,
        &creds,
        "people.csv",
        csv.as_bytes().to_vec(),
        "json",
    )
    .await;
    assert_eq!(headers["content-type"], "application/json");
    let rows: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        rows,
        serde_json::json!([
            {"name": "Ada", "age": "36", "city": "London"},
            {"name": "Lovelace, A", "age": "28", "city": "New York"},
        ])
    );

    let json = r#"[{"id": 1, "name": "x, y", "ok": true}, {"id": 2, "extra": null, "name": "z"}]"#;
    let (headers, bytes) = round_trip(
        &server,
        &creds,
        "rows.json",
        json.as_bytes().to_vec(),
        "csv",
    )
    .await;
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        vec!["id", "name", "ok", "extra"]
    );
    let records: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(
        records,
        vec![vec!["1", "x, y", "true", ""], vec!["2", "z", "", ""]]
    );
}

#[tokio::test]
async fn nested_json_fails_the_job_with_a_readable_reason() {
    let server = server().await;
    let creds = new_session(&server).await;
    let job_id = new_job_id();
    let (status, _, _) = upload(
        &server,
        &creds,
        &job_id,
        "nested.json",
        br#"[{"a": {"b": 1}}]"#.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, _) = convert(
        &server,
        &creds,
        serde_json::json!({"job_id": job_id, "target_format": "csv"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let data = wait_finished(&server, &creds, &job_id).await;
    assert_eq!(data["status"], "failed");
    let reason = data["error"].as_str().unwrap();
    assert!(reason.contains("nested"), "{reason}");
    assert_eq!(data["error_message"], data["error"]);
    let (status, body) = download_token(&server, &creds, &job_id).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "ValidationError");
}

#[tokio::test]
async fn the_supported_conversions_path_answers_the_formats_list() {
    let server = server().await;
    let mut answers = Vec::new();
    for path in ["/api/convert/formats", "/api/supported-conversions"] {
        let (status, _, body) = send(&server, Method::GET, path, None, None, &[]).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(
            !body["data"].as_array().unwrap().is_empty(),
            "{path} lists groups"
        );
        answers.push(body["data"].clone());
    }
    assert_eq!(answers[0], answers[1]);
}

#[tokio::test]
async fn the_formats_endpoint_lists_exactly_the_supported_conversions() {
    let server = server().await;
    let (status, _, body) = send(
        &server,
        Method::GET,
        "/api/convert/formats",
        None,
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let groups = body["data"].as_array().unwrap();
    let pairs: std::collections::BTreeSet<(String, String)> = groups
        .iter()
        .flat_map(|g| {
            let outputs: Vec<String> = g["outputFormats"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect();
            g["inputFormats"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(move |i| {
                    let input = i.as_str().unwrap().to_owned();
                    outputs.clone().into_iter().map(move |o| (input.clone(), o))
                })
        })
        .collect();
    for group in groups {
        for key in [
            "id",
            "name",
            "description",
            "inputFormats",
            "outputFormats",
            "maxSize",
            "features",
        ] {
            assert!(!group[key].is_null(), "group lacks {key}: {group}");
        }
    }
    // The test command installs every engine: the server offers every pair some
    // engine can perform, with `jpg` beside `jpeg`.
    let name = |format: trustyconvert_convert::Format| format.name().to_owned();
    let mut expected = std::collections::BTreeSet::new();
    for (input, output) in trustyconvert_convert::known_pairs() {
        let inputs = [name(input)]
            .into_iter()
            .chain((input.name() == "jpeg").then(|| "jpg".to_owned()));
        for input in inputs {
            expected.insert((input.clone(), name(output)));
            if output.name() == "jpeg" {
                expected.insert((input, "jpg".to_owned()));
            }
        }
    }
    // And, listed here by hand, one of each engine's.
    for (input, output) in [
        ("png", "webp"),
        ("svg", "png"),
        ("docx", "pdf"),
        ("xlsx", "pdf"),
        ("pptx", "png"),
        ("mp4", "webm"),
        ("wav", "mp3"),
        ("epub", "pdf"),
        ("rst", "docx"),
        ("pdf", "png"),
        ("heic", "jpeg"),
        ("jpg", "avif"),
    ] {
        assert!(
            pairs.contains(&(input.to_owned(), output.to_owned())),
            "{input} → {output}"
        );
    }
    assert!(!pairs.contains(&("pdf".to_owned(), "docx".to_owned())));
    assert_eq!(pairs, expected);
}
