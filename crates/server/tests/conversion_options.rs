//! Conversion options over real HTTP: refused when unknown, out of range or of no use
//! to the conversion (a typed 400 that leaves the job as it was); kept with the job on
//! every store; and doing what they say — lossy WebP as small as `cwebp` makes it,
//! JPEG as small as `cjpeg`, pictures scaled to fit, phone photos upright and without
//! their GPS position unless the metadata is kept.

mod common;
#[path = "../../session/tests/support/redis_server.rs"]
mod redis_server;

use std::io::Cursor;
use std::path::Path;
use std::process::Command;

use common::conversion::*;
use common::*;
use image::{DynamicImage, GenericImageView as _, ImageDecoder as _, ImageFormat, Rgb, RgbImage};
use redis_server::RedisServer;
use reqwest::StatusCode;
use serde_json::{json, Value};
use trustyconvert_server::StoreKind;

async fn server() -> TestServer {
    TestServer::start(|_| {}).await
}

/// Uploads `bytes` as `filename`: the job id.
async fn uploaded(server: &TestServer, creds: &Creds, filename: &str, bytes: Vec<u8>) -> String {
    let job_id = new_job_id();
    let (status, _, body) = upload(server, creds, &job_id, filename, bytes).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    job_id
}

/// Converts an uploaded job with `options` and downloads the result.
async fn converted(
    server: &TestServer,
    creds: &Creds,
    job_id: &str,
    target: &str,
    options: Value,
) -> Vec<u8> {
    let request = json!({"job_id": job_id, "target_format": target, "options": options});
    let (status, _, body) = convert(server, creds, request).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let data = wait_finished(server, creds, job_id).await;
    assert_eq!(data["status"], "completed", "{data}");
    let (status, body) = download_token(server, creds, job_id).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _, bytes) =
        download(server, body["data"]["download_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    bytes
}

/// Upload and convert in one go.
async fn convert_with(
    server: &TestServer,
    creds: &Creds,
    filename: &str,
    bytes: Vec<u8>,
    target: &str,
    options: Value,
) -> Vec<u8> {
    let job_id = uploaded(server, creds, filename, bytes).await;
    converted(server, creds, &job_id, target, options).await
}

/// A picture with what makes photos hard to compress — smooth shading, edges and
/// sensor-like grain — generated the same every time.
fn photo_like(width: u32, height: u32) -> RgbImage {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    RgbImage::from_fn(width, height, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let grain = (seed % 17) as f32 - 8.0;
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let sky = 90.0 + 120.0 * fy + 30.0 * (fx * 9.0).sin() * (fy * 7.0).cos();
        let hill = if fy > 0.55 + 0.1 * (fx * 12.0).sin() {
            -60.0
        } else {
            0.0
        };
        let channel =
            |offset: f32, tint: f32| (sky * tint + hill + offset + grain).clamp(0.0, 255.0) as u8;
        Rgb([channel(10.0, 0.8), channel(0.0, 0.9), channel(-20.0, 1.1)])
    })
}

fn encoded(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// Runs a reference encoder installed by `scripts/setup-engines.sh` (it is part of
/// what the tests need, like LibreOffice: not finding it fails the test).
fn reference_encoder(program: &str, args: &[&str], dir: &Path) -> Vec<u8> {
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap_or_else(|error| {
            panic!("{program} could not run ({error}); install it with scripts/setup-engines.sh")
        });
    assert!(status.success(), "{program} {args:?} failed");
    std::fs::read(dir.join("reference.out")).unwrap()
}

fn within_a_tenth(ours: usize, reference: usize) -> bool {
    (ours as f64 / reference as f64 - 1.0).abs() <= 0.10
}

#[tokio::test]
async fn unknown_out_of_range_and_inapplicable_options_are_refused_and_the_job_stays_uploaded() {
    let server = server().await;
    let creds = new_session(&server).await;
    let job_id = uploaded(&server, &creds, "a.png", sample_image(ImageFormat::Png)).await;
    let cases = [
        (json!({"colour": "red"}), None),
        (json!({"quality": "high"}), None),
        (json!({"quality": 0}), Some("quality")),
        (json!({"quality": 101}), Some("quality")),
        (json!({"max_width": 0}), Some("max_width")),
        (json!({"max_height": 20001}), Some("max_height")),
        (json!({"pages": "3-1"}), Some("pages")),
        // PNG is lossless; pages are for PDF inputs; quality and lossless contradict.
        (json!({"quality": 80}), Some("quality")),
        (json!({"pages": "1"}), Some("pages")),
        (json!({"lossless": true}), Some("lossless")),
    ];
    for (options, refused_option) in cases {
        let request = json!({"job_id": job_id, "target_format": "png", "options": options});
        let (status, _, body) = convert(&server, &creds, request).await;
        let details = assert_error(status, &body, StatusCode::BAD_REQUEST, "ValidationError");
        if let Some(option) = refused_option {
            assert_eq!(details["option"], option, "{options}: {body}");
        }
        let message = body["error"]["message"].as_str().unwrap();
        let named = refused_option.unwrap_or(if options.get("colour").is_some() {
            "colour"
        } else {
            "quality"
        });
        assert!(message.contains(named), "{options}: {message}");
    }
    let request = json!({"job_id": job_id, "target_format": "webp",
        "options": {"quality": 80, "lossless": true}});
    let (status, _, body) = convert(&server, &creds, request).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "ValidationError");
    // Nothing was lost: the job is still uploaded and converts once asked properly.
    let (_, status) = job_status(&server, &creds, &job_id).await;
    assert_eq!(status["data"]["status"], "uploaded");
    let bytes = converted(&server, &creds, &job_id, "jpeg", json!({"quality": 60})).await;
    image::load_from_memory_with_format(&bytes, ImageFormat::Jpeg).unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webp_is_lossy_by_default_and_as_small_as_cwebp_at_the_same_quality() {
    let server = server().await;
    let creds = new_session(&server).await;
    let photo = DynamicImage::ImageRgb8(photo_like(1600, 1200));
    let png = encoded(&photo, ImageFormat::Png);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("photo.png"), &png).unwrap();
    for (options, quality) in [(json!({}), "75"), (json!({"quality": 90}), "90")] {
        let ours = convert_with(&server, &creds, "photo.png", png.clone(), "webp", options).await;
        let cwebp = reference_encoder(
            "cwebp",
            &["-quiet", "-q", quality, "photo.png", "-o", "reference.out"],
            dir.path(),
        );
        assert!(
            within_a_tenth(ours.len(), cwebp.len()),
            "quality {quality}: ours {} bytes, cwebp {} bytes",
            ours.len(),
            cwebp.len()
        );
        let decoded = image::load_from_memory_with_format(&ours, ImageFormat::WebP).unwrap();
        assert_eq!(decoded.dimensions(), (1600, 1200));
        assert!(
            ours.len() * 4 < png.len(),
            "lossy output is far smaller than the PNG"
        );
    }
    let lossless = convert_with(
        &server,
        &creds,
        "photo.png",
        png.clone(),
        "webp",
        json!({"lossless": true}),
    )
    .await;
    let decoded = image::load_from_memory_with_format(&lossless, ImageFormat::WebP).unwrap();
    assert_eq!(
        decoded.to_rgb8(),
        photo.to_rgb8(),
        "lossless keeps every pixel"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jpeg_quality_is_applied_and_sizes_match_cjpeg() {
    let server = server().await;
    let creds = new_session(&server).await;
    let photo = DynamicImage::ImageRgb8(photo_like(1200, 900));
    let png = encoded(&photo, ImageFormat::Png);
    let dir = tempfile::tempdir().unwrap();
    // cjpeg reads PPM: a short header, then the RGB bytes.
    let mut ppm = b"P6\n1200 900\n255\n".to_vec();
    ppm.extend_from_slice(photo.as_bytes());
    std::fs::write(dir.path().join("photo.ppm"), &ppm).unwrap();
    let mut sizes = Vec::new();
    for quality in [40u32, 75, 95] {
        let options = json!({"quality": quality});
        let ours = convert_with(&server, &creds, "photo.png", png.clone(), "jpg", options).await;
        let quality_text = quality.to_string();
        let cjpeg = reference_encoder(
            "cjpeg",
            &[
                "-quality",
                &quality_text,
                "-outfile",
                "reference.out",
                "photo.ppm",
            ],
            dir.path(),
        );
        assert!(
            within_a_tenth(ours.len(), cjpeg.len()),
            "quality {quality}: ours {} bytes, cjpeg {} bytes",
            ours.len(),
            cjpeg.len()
        );
        sizes.push(ours.len());
    }
    assert!(sizes.windows(2).all(|pair| pair[0] < pair[1]), "{sizes:?}");
    server.stop().await;
}

#[tokio::test]
async fn pictures_are_scaled_down_to_fit_keeping_their_aspect_ratio_and_never_up() {
    let server = server().await;
    let creds = new_session(&server).await;
    let png = sample_image(ImageFormat::Png); // 37 × 23
    for (options, expected) in [
        (json!({"max_width": 10}), (10, 6)),
        (json!({"max_height": 10}), (16, 10)),
        (json!({"max_width": 20, "max_height": 20}), (20, 12)),
        (json!({"max_width": 500, "max_height": 500}), (37, 23)),
    ] {
        let bytes = convert_with(
            &server,
            &creds,
            "a.png",
            png.clone(),
            "png",
            options.clone(),
        )
        .await;
        let decoded = image::load_from_memory_with_format(&bytes, ImageFormat::Png).unwrap();
        assert_eq!(decoded.dimensions(), expected, "{options}");
    }
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="400" height="200"><rect width="400" height="200" fill="red"/></svg>"#;
    let bytes = convert_with(
        &server,
        &creds,
        "a.svg",
        svg.to_vec(),
        "png",
        json!({"max_width": 100}),
    )
    .await;
    let decoded = image::load_from_memory_with_format(&bytes, ImageFormat::Png).unwrap();
    assert_eq!(decoded.dimensions(), (100, 50));
    assert_eq!(
        decoded.get_pixel(50, 25).0,
        [255, 0, 0, 255],
        "drawn, not cropped"
    );
    server.stop().await;
}

/// An EXIF block (TIFF, little-endian) saying "rotate 90° clockwise to view" and
/// holding a GPS position.
fn exif_rotated_with_gps() -> Vec<u8> {
    let mut exif = b"II*\0".to_vec();
    exif.extend_from_slice(&8u32.to_le_bytes());
    let entry = |exif: &mut Vec<u8>, tag: u16, kind: u16, value: [u8; 4]| {
        exif.extend_from_slice(&tag.to_le_bytes());
        exif.extend_from_slice(&kind.to_le_bytes());
        exif.extend_from_slice(&1u32.to_le_bytes());
        exif.extend_from_slice(&value);
    };
    exif.extend_from_slice(&2u16.to_le_bytes());
    entry(&mut exif, 0x0112, 3, [6, 0, 0, 0]); // Orientation: 6
    let gps_ifd = 8 + 2 + 2 * 12 + 4;
    entry(&mut exif, 0x8825, 4, (gps_ifd as u32).to_le_bytes()); // GPS IFD pointer
    exif.extend_from_slice(&0u32.to_le_bytes());
    exif.extend_from_slice(&1u16.to_le_bytes());
    exif.extend_from_slice(&1u16.to_le_bytes()); // GPSLatitudeRef
    exif.extend_from_slice(&2u16.to_le_bytes()); // ASCII
    exif.extend_from_slice(&2u32.to_le_bytes());
    exif.extend_from_slice(b"N\0\0\0");
    exif.extend_from_slice(&0u32.to_le_bytes());
    exif
}

/// A 60 × 40 JPEG, red on the left and blue on the right, stored sideways the way
/// phones do: its EXIF says to turn it.
fn phone_photo() -> Vec<u8> {
    let pixels = RgbImage::from_fn(60, 40, |x, _| {
        if x < 30 {
            Rgb([230, 10, 10])
        } else {
            Rgb([10, 10, 230])
        }
    });
    let mut out = Vec::new();
    let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95);
    use image::ImageEncoder as _;
    encoder.set_exif_metadata(exif_rotated_with_gps()).unwrap();
    encoder
        .write_image(pixels.as_raw(), 60, 40, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

fn exif_of(bytes: &[u8], format: ImageFormat) -> Option<Vec<u8>> {
    let reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    reader.into_decoder().unwrap().exif_metadata().unwrap()
}

#[tokio::test]
async fn phone_photos_convert_upright_and_without_gps_unless_metadata_is_kept() {
    let server = server().await;
    let creds = new_session(&server).await;
    for (target, format) in [
        ("jpeg", ImageFormat::Jpeg),
        ("png", ImageFormat::Png),
        ("webp", ImageFormat::WebP),
    ] {
        let bytes = convert_with(
            &server,
            &creds,
            "phone.jpg",
            phone_photo(),
            target,
            json!({}),
        )
        .await;
        let upright = image::load_from_memory_with_format(&bytes, format)
            .unwrap()
            .to_rgb8();
        // Turned 90° clockwise: 40 × 60, the left (red) half now on top.
        assert_eq!(upright.dimensions(), (40, 60), "{target}");
        let (top, bottom) = (upright.get_pixel(20, 10).0, upright.get_pixel(20, 50).0);
        assert!(top[0] > 180 && top[2] < 80, "{target}: top {top:?}");
        assert!(
            bottom[2] > 180 && bottom[0] < 80,
            "{target}: bottom {bottom:?}"
        );
        assert_eq!(exif_of(&bytes, format), None, "{target}: metadata stripped");

        let kept = convert_with(
            &server,
            &creds,
            "phone.jpg",
            phone_photo(),
            target,
            json!({"keep_metadata": true}),
        )
        .await;
        let exif = exif_of(&kept, format).unwrap_or_else(|| panic!("{target}: EXIF kept"));
        assert!(exif.windows(2).any(|w| w == b"N\0"), "{target}: GPS kept");
        assert_eq!(
            image::metadata::Orientation::from_exif_chunk(&exif),
            Some(image::metadata::Orientation::NoTransforms),
            "{target}: the kept EXIF no longer asks to turn the already upright picture"
        );
        let decoded = image::load_from_memory_with_format(&kept, format).unwrap();
        assert_eq!(decoded.dimensions(), (40, 60));
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_options_are_kept_and_reported_on_every_store() {
    let redis = RedisServer::start();
    for (name, kind) in [
        ("memory", StoreKind::Memory),
        ("embedded", StoreKind::Embedded),
        ("redis", StoreKind::Redis(redis.url())),
    ] {
        let server = TestServer::start(|config| config.store = kind.clone()).await;
        let creds = new_session(&server).await;
        let job_id = uploaded(&server, &creds, "a.png", sample_image(ImageFormat::Png)).await;
        let (_, status) = job_status(&server, &creds, &job_id).await;
        assert!(status["data"].get("options").is_none(), "{status}");
        let options = json!({"quality": 55, "max_width": 12, "keep_metadata": true});
        let bytes = converted(&server, &creds, &job_id, "webp", options.clone()).await;
        let decoded = image::load_from_memory_with_format(&bytes, ImageFormat::WebP).unwrap();
        assert_eq!(decoded.width(), 12, "{name}");
        let (_, status) = job_status(&server, &creds, &job_id).await;
        assert_eq!(status["data"]["options"], options, "{name}");
        server.stop().await;
    }
}
