//! HEIC and AVIF through the real server and libheif: a HEIC photo (made here with
//! heif-enc) read into every picture format with its pixels in place, pictures written
//! as AVIF (read back with heif-convert) at the quality asked, and AVIF read back in.

mod common;

use std::path::Path;
use std::process::Command;

use common::conversion::*;
use common::*;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use reqwest::StatusCode;
use serde_json::json;

/// 64 × 48: red on the left, blue on the right.
fn halves() -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(64, 48, |x, _| {
        if x < 32 {
            Rgb([220, 20, 20])
        } else {
            Rgb([20, 20, 220])
        }
    }))
}

fn png_of(picture: &DynamicImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Runs a libheif tool (installed by scripts/setup-engines.sh) in `dir`.
fn libheif(dir: &Path, program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap_or_else(|e| panic!("{program} runs (scripts/setup-engines.sh installs it): {e}"));
    assert!(status.success(), "{program} {args:?}");
}

/// Decodes an AVIF with heif-convert.
fn decode_avif(bytes: &[u8]) -> DynamicImage {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.avif"), bytes).unwrap();
    libheif(dir.path(), "heif-convert", &["in.avif", "out.png"]);
    image::open(dir.path().join("out.png")).unwrap()
}

fn assert_halves(picture: &DynamicImage, what: &str) {
    let rgb = picture.to_rgb8();
    let (width, height) = rgb.dimensions();
    let left = rgb.get_pixel(width / 4, height / 2).0;
    let right = rgb.get_pixel(width * 3 / 4, height / 2).0;
    assert!(left[0] > 150 && left[2] < 90, "{what}: left {left:?}");
    assert!(right[2] > 150 && right[0] < 90, "{what}: right {right:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heic_photo_converts_to_every_picture_format_and_pdf() {
    let server = TestServer::start(|_| {}).await;
    let creds = new_session(&server).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("halves.png"), png_of(&halves())).unwrap();
    libheif(
        dir.path(),
        "heif-enc",
        &["-q", "90", "-o", "photo.heic", "halves.png"],
    );
    let heic = std::fs::read(dir.path().join("photo.heic")).unwrap();
    for (target, format) in [
        ("png", ImageFormat::Png),
        ("jpeg", ImageFormat::Jpeg),
        ("webp", ImageFormat::WebP),
        ("gif", ImageFormat::Gif),
        ("bmp", ImageFormat::Bmp),
        ("tiff", ImageFormat::Tiff),
    ] {
        let (_, bytes) = round_trip(&server, &creds, "photo.heic", heic.clone(), target).await;
        let picture = image::load_from_memory_with_format(&bytes, format).unwrap();
        assert_eq!(
            (picture.width(), picture.height()),
            (64, 48),
            "heic → {target}"
        );
        assert_halves(&picture, &format!("heic → {target}"));
    }
    // A phone photo's EXIF (made from a JPEG that has one) does not survive.
    let mut with_gps = Vec::new();
    {
        use image::ImageEncoder as _;
        let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut with_gps, 95);
        encoder
            .set_exif_metadata(b"II*\0\x08\0\0\0\0\0GPS 51.5N".to_vec())
            .unwrap();
        let rgb = halves().to_rgb8();
        encoder
            .write_image(rgb.as_raw(), 64, 48, image::ExtendedColorType::Rgb8)
            .unwrap();
    }
    std::fs::write(dir.path().join("gps.jpg"), &with_gps).unwrap();
    libheif(
        dir.path(),
        "heif-enc",
        &["-q", "90", "-o", "gps.heic", "gps.jpg"],
    );
    let gps_heic = std::fs::read(dir.path().join("gps.heic")).unwrap();
    assert!(
        gps_heic.windows(9).any(|w| w == b"GPS 51.5N"),
        "heif-enc kept the EXIF"
    );
    let (_, jpeg) = round_trip(&server, &creds, "gps.heic", gps_heic, "jpeg").await;
    assert!(
        !jpeg.windows(9).any(|w| w == b"GPS 51.5N"),
        "the EXIF is stripped"
    );
    assert_halves(
        &image::load_from_memory_with_format(&jpeg, ImageFormat::Jpeg).unwrap(),
        "gps.heic → jpeg",
    );

    let (_, avif) = round_trip(&server, &creds, "photo.heic", heic.clone(), "avif").await;
    assert_halves(&decode_avif(&avif), "heic → avif");
    let (_, pdf) = round_trip(&server, &creds, "photo.heic", heic, "pdf").await;
    assert!(pdf.starts_with(b"%PDF-"));
    server.stop().await;
}

async fn to_avif(
    server: &TestServer,
    creds: &Creds,
    png: Vec<u8>,
    options: serde_json::Value,
) -> Vec<u8> {
    let job_id = new_job_id();
    let (status, _, body) = upload(server, creds, &job_id, "picture.png", png).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let request = json!({"job_id": job_id, "target_format": "avif", "options": options});
    let (status, _, body) = convert(server, creds, request).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let data = wait_finished(server, creds, &job_id).await;
    assert_eq!(data["status"], "completed", "{data}");
    let (_, body) = download_token(server, creds, &job_id).await;
    download(server, body["data"]["download_token"].as_str().unwrap())
        .await
        .2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pictures_become_avif_at_the_quality_asked_and_avif_reads_back() {
    let server = TestServer::start(|_| {}).await;
    let creds = new_session(&server).await;
    // Detail that costs bytes: a fine pattern.
    let detailed = DynamicImage::ImageRgb8(RgbImage::from_fn(256, 192, |x, y| {
        Rgb([((x * 7) ^ (y * 13)) as u8, (x * y) as u8, (x + y * 3) as u8])
    }));
    let png = png_of(&detailed);
    let low = to_avif(&server, &creds, png.clone(), json!({"quality": 10})).await;
    let high = to_avif(&server, &creds, png.clone(), json!({"quality": 95})).await;
    let lossless = to_avif(&server, &creds, png.clone(), json!({"lossless": true})).await;
    assert!(
        low.len() < high.len() && high.len() < lossless.len(),
        "{} < {} < {}",
        low.len(),
        high.len(),
        lossless.len()
    );
    let small = to_avif(&server, &creds, png, json!({"max_width": 128})).await;
    let decoded = decode_avif(&small);
    assert_eq!((decoded.width(), decoded.height()), (128, 96));

    let avif = to_avif(&server, &creds, png_of(&halves()), json!({})).await;
    let (_, back) = round_trip(&server, &creds, "halves.avif", avif, "png").await;
    assert_halves(
        &image::load_from_memory_with_format(&back, ImageFormat::Png).unwrap(),
        "avif → png",
    );
    server.stop().await;
}
