//! Several files at once from the command line: `convert` with many files and glob
//! patterns (through a real server and without one), and `jobs list|download|delete`
//! on the session `convert` used.

mod common;

use std::io::Read as _;
use std::path::Path;
use std::process::Output;

use common::ServeProcess;

fn run(args: &[&str], state_dir: &Path) -> Output {
    common::run_client(args, state_dir)
}

/// A server (memory store) on its own data folder, a work folder and the CLI's state
/// folder.
struct Served {
    server: ServeProcess,
    work: tempfile::TempDir,
    state: tempfile::TempDir,
    _data: tempfile::TempDir,
}

impl Served {
    /// A client command against this server.
    fn cli(&self, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.extend(["--server", &self.server.base]);
        run(&all, self.state.path())
    }
}

fn served() -> Served {
    let data = tempfile::tempdir().unwrap();
    Served {
        server: ServeProcess::start(data.path(), &["--store", "memory"], &[]),
        work: tempfile::tempdir().unwrap(),
        state: tempfile::tempdir().unwrap(),
        _data: data,
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write_png(path: &Path, width: u32, height: u32) {
    image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 7]))
        .save(path)
        .unwrap();
}

/// Three inputs of different types in `dir`: two pictures and a table.
fn three_inputs(dir: &Path) {
    write_png(&dir.join("one.png"), 30, 20);
    write_png(&dir.join("two.png"), 12, 40);
    std::fs::write(dir.join("table.csv"), "a,b\n1,2\n").unwrap();
}

/// The job ids `jobs list` printed, newest first.
fn listed_ids(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .filter(|id| id.len() == 36)
        .map(str::to_owned)
        .collect()
}

#[test]
fn several_files_and_patterns_convert_through_a_server_each_to_its_own_result() {
    let served = served();
    let work = served.work.path();
    three_inputs(work);
    let pattern = work.join("*.png").display().to_string();
    let table = work.join("table.csv").display().to_string();
    let out = work.join("out");
    let folder = out.display().to_string();
    let output = served.cli(&[
        "convert",
        &pattern,
        &table,
        "--to",
        "pdf",
        "-o",
        &folder,
        "--parallel",
        "2",
    ]);
    assert!(output.status.success(), "{output:?}");
    let stdout = text(&output.stdout);
    for name in ["one.pdf", "two.pdf", "table.pdf"] {
        let pdf = std::fs::read(out.join(name)).unwrap_or_else(|_| panic!("{name}: {stdout}"));
        assert!(pdf.starts_with(b"%PDF-"), "{name}");
        assert!(stdout.contains(name), "{stdout}");
    }

    // Each became a job of the CLI's session, listed newest first.
    let output = served.cli(&["jobs", "list"]);
    assert!(output.status.success(), "{output:?}");
    let listing = text(&output.stdout);
    assert_eq!(listed_ids(&listing).len(), 3, "{listing}");
    for name in ["one.png", "two.png", "table.csv"] {
        assert!(listing.contains(name), "{listing}");
    }
    assert!(listing.contains("completed"), "{listing}");
}

#[test]
fn one_failing_file_does_not_stop_the_others_and_the_exit_code_says_so() {
    let served = served();
    let work = served.work.path();
    write_png(&work.join("good.png"), 10, 10);
    std::fs::write(work.join("bad.png"), b"not a picture").unwrap();
    let files = ["good.png", "bad.png"].map(|name| work.join(name).display().to_string());
    let output = served.cli(&["convert", &files[0], &files[1], "--to", "gif"]);
    assert!(!output.status.success(), "{output:?}");
    let stderr = text(&output.stderr);
    assert!(stderr.contains("bad.png"), "{stderr}");
    assert!(stderr.contains("1 of 2"), "{stderr}");
    assert!(
        work.join("good.gif").is_file(),
        "the good file was converted"
    );
    assert!(!work.join("bad.gif").exists());
    // Nothing runs when two results would land in one place.
    write_png(&work.join("good.bmp"), 10, 10);
    let clash = ["good.png", "good.bmp"].map(|name| work.join(name).display().to_string());
    let output = served.cli(&["convert", &clash[0], &clash[1], "--to", "jpeg"]);
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("good.jpg"), "{output:?}");
    assert!(!work.join("good.jpg").exists());
}

#[test]
fn several_files_convert_without_a_server_too() {
    let (work, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    three_inputs(work.path());
    let pattern = work.path().join("*.png").display().to_string();
    let output = run(&["convert", &pattern, "--to", "webp"], state.path());
    assert!(output.status.success(), "{output:?}");
    for name in ["one.webp", "two.webp"] {
        image::open(work.path().join(name)).unwrap();
    }
}

#[test]
fn jobs_download_one_file_or_all_as_a_zip_and_delete_them() {
    let served = served();
    let work = served.work.path();
    three_inputs(work);
    let inputs = ["one.png", "two.png"].map(|name| work.join(name).display().to_string());
    let out = work.join("out").display().to_string();
    let output = served.cli(&[
        "convert", &inputs[0], &inputs[1], "--to", "jpeg", "-o", &out,
    ]);
    assert!(output.status.success(), "{output:?}");
    let listing = text(&served.cli(&["jobs", "list"]).stdout);
    let ids = listed_ids(&listing);
    assert_eq!(ids.len(), 2, "{listing}");

    // One job: its file.
    let one = work.join("first.jpg").display().to_string();
    let output = served.cli(&["jobs", "download", &ids[0], "-o", &one]);
    assert!(output.status.success(), "{output:?}");
    image::load_from_memory_with_format(&std::fs::read(&one).unwrap(), image::ImageFormat::Jpeg)
        .unwrap();

    // All of them: one zip holding each output.
    let zip_path = work.join("all.zip").display().to_string();
    let output = served.cli(&["jobs", "download", "--all", "-o", &zip_path]);
    assert!(output.status.success(), "{output:?}");
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let mut names = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).unwrap();
        names.push(entry.name().unwrap().to_string());
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).unwrap();
    }
    names.sort();
    assert_eq!(names, ["one.jpg", "two.jpg"]);

    // Deleting one, then the rest.
    let output = served.cli(&["jobs", "delete", &ids[0]]);
    assert!(output.status.success(), "{output:?}");
    let listing = text(&served.cli(&["jobs", "list"]).stdout);
    assert_eq!(listed_ids(&listing), [ids[1].clone()], "{listing}");
    let output = served.cli(&["jobs", "download", &ids[0]]);
    assert!(
        !output.status.success(),
        "a deleted job has nothing to download"
    );
    let output = served.cli(&["jobs", "delete", "--all"]);
    assert!(output.status.success(), "{output:?}");
    let listing = text(&served.cli(&["jobs", "list"]).stdout);
    assert!(listing.contains("No jobs"), "{listing}");
}
