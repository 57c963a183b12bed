//! The real server under inputs that amplify: each conversion ends within its bounds,
//! the server stays up, and its peak memory is measured and bounded. A large image
//! converts with the server holding its pixels but not its output, which goes to disk
//! as it is encoded.

mod common;

use std::process::Command;

use common::{ServeProcess, BIN};

/// Runs `trustyconvert convert FILE --to TARGET --server BASE`; returns (success, stderr).
fn convert(
    server: &ServeProcess,
    state: &std::path::Path,
    file: &std::path::Path,
    target: &str,
) -> (bool, String) {
    let output_file = file.with_extension(format!("out.{target}"));
    let output = Command::new(BIN)
        .args(["convert"])
        .arg(file)
        .args(["--to", target, "-o"])
        .arg(&output_file)
        .args(["--server", &server.base])
        .env("TRUSTY_STATE_DIR", state)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Whether `GET /api/health` answers 200.
fn answers_health(server: &ServeProcess) -> bool {
    use std::io::{Read as _, Write as _};
    let address = server.base.trim_start_matches("http://");
    let Ok(mut stream) = std::net::TcpStream::connect(address) else {
        return false;
    };
    let request =
        format!("GET /api/health HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    let mut answer = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.1 200")
}

#[test]
fn amplifying_inputs_end_bounded_with_the_server_alive_and_its_memory_measured() {
    let data = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let inputs = tempfile::tempdir().unwrap();
    let start = |time_limit: &str| {
        ServeProcess::start(
            data.path(),
            &[
                "--store",
                "memory",
                "--max-output-size",
                "32MiB",
                "--conversion-timeout",
                time_limit,
                "--rate-limit-upload",
                "0",
            ],
            &[],
        )
    };
    // These must end at the output limit. Their time limit is far above what any
    // machine needs (wide.json takes some 15 s on an idle machine, past 30 s on a
    // loaded one), so the time limit cannot end them first.
    let server = start("15m");
    let write = |name: &str, bytes: Vec<u8>| {
        let path = inputs.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    // json → csv of 20 000 distinct keys: a 20 000 × 20 000 table.
    let items: Vec<String> = (0..20_000).map(|i| format!("{{\"k{i}\":0}}")).collect();
    let wide = write("wide.json", format!("[{}]", items.join(",")).into_bytes());
    // csv → json, 40 long header names repeated for each of 20 000 empty rows.
    let header: Vec<String> = (0..40)
        .map(|i| format!("column_{i}_{}", "x".repeat(80)))
        .collect();
    let rows = write(
        "rows.csv",
        format!(
            "{}\n{}",
            header.join(","),
            format!("{}\n", ",".repeat(39)).repeat(20_000)
        )
        .into_bytes(),
    );
    // A small solid PNG that decodes to 4000 × 4000 pixels (48 MB as BMP).
    let solid = inputs.path().join("solid.png");
    image::RgbImage::from_pixel(4000, 4000, image::Rgb([200, 30, 30]))
        .save(&solid)
        .unwrap();
    // 15 MB of short lines → PDF.
    let short = write("short.txt", "a\n".repeat(7_500_000).into_bytes());

    for (file, target) in [(&wide, "csv"), (&rows, "json"), (&solid, "bmp")] {
        let (ok, stderr) = convert(&server, state.path(), file, target);
        assert!(
            !ok,
            "{} → {target} must hit the output limit",
            file.display()
        );
        assert!(
            stderr.contains("larger than the limit of 32 MiB"),
            "{stderr}"
        );
    }
    assert!(answers_health(&server), "the server is alive");
    let peak = server.peak_memory_kib().expect("Linux reports VmHWM");
    drop(server);

    // This one ends at whichever bound comes first (the 30 s time limit, on the
    // machines measured): a server of its own, after the first (they share the data
    // folder), with the time limit the operator would set.
    let server = start("30s");
    let (ok, stderr) = convert(&server, state.path(), &short, "pdf");
    assert!(
        ok || stderr.contains("limit"),
        "short lines → pdf ends within its bounds: {stderr}"
    );
    assert!(answers_health(&server), "the server is alive");
    let peak = peak.max(server.peak_memory_kib().expect("Linux reports VmHWM"));
    println!("peak server memory: {} MiB", peak / 1024);
    // Before the bounds these inputs took the server past 3 GB.
    assert!(peak < 512 * 1024, "peak server memory {} MiB", peak / 1024);
}

/// Largest image accepted, in pixels (the server's `MAX_PIXELS`).
const MAX_PIXELS: u32 = 50_000_000;

#[test]
fn a_largest_image_converts_holding_its_pixels_but_not_its_output_in_memory() {
    let data = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let inputs = tempfile::tempdir().unwrap();
    // The time limit is far above what any machine needs, so only memory is judged.
    let server = ServeProcess::start(
        data.path(),
        &[
            "--store",
            "memory",
            "--conversion-timeout",
            "15m",
            "--rate-limit-upload",
            "0",
        ],
        &[],
    );
    // 10 000 × 5 000 = 50 megapixels of RGB: 143 MiB decoded, as TIFF or BMP about the
    // same again. A small PNG, as it is one colour.
    let (width, height) = (10_000, MAX_PIXELS / 10_000);
    let large = inputs.path().join("large.png");
    image::RgbImage::from_pixel(width, height, image::Rgb([20, 120, 200]))
        .save(&large)
        .unwrap();
    for target in ["tiff", "bmp"] {
        let (ok, stderr) = convert(&server, state.path(), &large, target);
        assert!(ok, "50 Mpx png → {target}: {stderr}");
        let converted = image::ImageReader::open(large.with_extension(format!("out.{target}")))
            .unwrap()
            .with_guessed_format()
            .unwrap()
            .into_dimensions()
            .unwrap();
        assert_eq!(converted, (width, height), "{target} keeps the dimensions");
    }
    assert!(answers_health(&server), "the server is alive");
    let peak = server.peak_memory_kib().expect("Linux reports VmHWM");
    println!(
        "peak server memory, 50 Mpx png → tiff, bmp: {} MiB",
        peak / 1024
    );
    // The decoded pixels plus a margin for the server itself, far less than a second
    // copy of the image: with the output held in memory the peak was about 600 MiB.
    let decoded_mib = u64::from(MAX_PIXELS) * 3 / (1024 * 1024);
    let bound_mib = decoded_mib + 150;
    assert!(
        peak < bound_mib * 1024,
        "peak server memory {} MiB ≥ {bound_mib} MiB (decoded image {decoded_mib} MiB + 150 MiB)",
        peak / 1024
    );
}
