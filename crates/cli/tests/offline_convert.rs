//! `trustyconvert convert` without `--server`: converted here by the convert crate,
//! with the server's input checks; a refusal is a clear error that leaves no file;
//! `--to`'s help lists what the engines can write.

use std::path::Path;
use std::process::{Command, Output};

use trustyconvert_convert::{probe_engines, EngineSettings};

const BIN: &str = env!("CARGO_BIN_EXE_trustyconvert");

fn convert(dir: &Path, args: &[&str], path: Option<&Path>) -> Output {
    let mut command = Command::new(BIN);
    command
        .arg("convert")
        .args(args)
        .current_dir(dir)
        .env("TRUSTY_STATE_DIR", dir)
        .env_remove("TRUSTY_SERVER");
    if let Some(path) = path {
        command.env("PATH", path);
    }
    command.output().unwrap()
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 11) as u8, ((x + y) * 3) as u8])
    });
    let mut bytes = Vec::new();
    image
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    bytes
}

/// The file names in `dir`.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs a conversion that must be refused: non-zero exit, a message on stderr with
/// all of `expected`, and no file added to the folder (no output, no partial file).
fn assert_refused(dir: &Path, args: &[&str], path: Option<&Path>, expected: &[&str]) {
    let before = listing(dir);
    let output = convert(dir, args, path);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{output:?}");
    for part in expected {
        assert!(stderr.contains(part), "{part:?} missing from {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(listing(dir), before, "a refused conversion wrote a file");
}

#[test]
fn an_offline_conversion_writes_the_converted_image() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("photo.png"), png(64, 48)).unwrap();
    let output = convert(dir.path(), &["photo.png", "--to", "jpeg"], None);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("photo.png → photo.jpg"), "{stdout}");
    let bytes = std::fs::read(dir.path().join("photo.jpg")).unwrap();
    let decoded = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (64, 48));
    assert_eq!(listing(dir.path()), ["photo.jpg", "photo.png"]);
}

#[test]
fn offline_refusals_are_clear_errors_that_leave_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let empty_path = tempfile::tempdir().unwrap();
    // Named PNG, but its bytes are a GIF's.
    std::fs::write(dir.path().join("fake.png"), b"GIF89a\x01\x00\x01\x00").unwrap();
    assert_refused(
        dir.path(),
        &["fake.png", "--to", "jpeg"],
        None,
        &["fake.png", "rejected", "content is not png"],
    );
    std::fs::write(dir.path().join("notes.txt"), b"hello").unwrap();
    assert_refused(
        dir.path(),
        &["notes.txt", "--to", "png"],
        None,
        &[
            "notes.txt",
            "txt to png is not supported",
            "converts to pdf",
        ],
    );
    std::fs::write(dir.path().join("setup.exe"), b"MZ").unwrap();
    assert_refused(
        dir.path(),
        &["setup.exe", "--to", "pdf"],
        None,
        &["setup.exe", "cannot be converted"],
    );
    std::fs::write(dir.path().join("empty.csv"), b"").unwrap();
    assert_refused(
        dir.path(),
        &["empty.csv", "--to", "json"],
        None,
        &["empty.csv", "The file is empty"],
    );
    // Without LibreOffice on the PATH, an office document names what is missing.
    std::fs::write(dir.path().join("memo.rtf"), br"{\rtf1\ansi hello\par}").unwrap();
    assert_refused(
        dir.path(),
        &["memo.rtf", "--to", "pdf"],
        Some(empty_path.path()),
        &["memo.rtf", "needs libreoffice", "apt-get install"],
    );
    // A header that passes the checks and pixels that do not decode: the engine
    // fails, and its partial output goes with it.
    let mut truncated = png(300, 300);
    truncated.truncate(200);
    std::fs::write(dir.path().join("cut.png"), truncated).unwrap();
    assert_refused(
        dir.path(),
        &["cut.png", "--to", "bmp"],
        None,
        &["cut.png", "the conversion failed"],
    );
    // The output would replace the input.
    std::fs::write(dir.path().join("photo.png"), png(4, 4)).unwrap();
    assert_refused(
        dir.path(),
        &["photo.png", "--to", "jpeg", "-o", "photo.png"],
        None,
        &["would overwrite the input"],
    );
    assert_eq!(
        std::fs::read(dir.path().join("photo.png")).unwrap(),
        png(4, 4)
    );
}

#[test]
fn convert_help_names_every_format_the_engines_write() {
    let output = Command::new(BIN)
        .args(["convert", "--help"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let help = String::from_utf8(output.stdout).unwrap();
    let listed = help
        .split("[possible values: ")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .unwrap_or_else(|| panic!("no list of values in {help}"));
    let listed: Vec<&str> = listed.split(", ").collect();
    // What the engines on this machine (LibreOffice included) actually write.
    let engines = probe_engines(&EngineSettings::default());
    for offer in engines.offers() {
        for target in offer.outputs {
            assert!(
                listed.contains(&target.name()),
                "{target} not in {listed:?}"
            );
        }
    }
    for office in ["docx", "odt", "pdf", "png", "json"] {
        assert!(listed.contains(&office), "{office} not in {listed:?}");
    }
}
