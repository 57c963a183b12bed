//! The conversion benchmark (`./scripts/bench-conversions.sh` builds everything in
//! release mode and runs this): for each conversion, the same engine called directly on
//! the command line against this service end to end (session, upload, convert, poll,
//! download, through the client crate's `Workflow`), one at a time and then eight at
//! once, side by side in one run; and docx → pdf with LibreOffice started cold, kept
//! warm by the service, and (when it can be installed) `unoserver` as a reference.
//!
//! Inputs are made here: a 12-megapixel picture (FFmpeg's Mandelbrot with grain), a
//! HEIC of it (heif-enc), 3 minutes of sound, 10 s of 720p video, a 10-page Word
//! document and a markdown text (Pandoc).
//!
//! Environment: `BENCH_RUNS` (runs per figure, default 5; figures are medians),
//! `BENCH_CASES` (comma-separated starts of case names, e.g. `png,wav`; default all),
//! `BENCH_CONCURRENT` (default 8), `BENCH_UNOSERVER` (the `unoserver` program, if any).

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use trustyconvert_bench::process::{env_or, free_port, start, Running};
use trustyconvert_client::protocol::Format;
use trustyconvert_client::workflow::Workflow;
use trustyconvert_client::{FileBody, ManagerConfig, SessionManager};

/// One conversion measured both ways.
struct Case {
    name: &'static str,
    input: PathBuf,
    target: Format,
    /// The direct command; `{in}` and `{out}` are replaced by paths.
    direct: Vec<String>,
}

/// Runs a command to completion; panics naming it when it fails.
fn run(program: &str, args: &[&str], dir: &Path) {
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("{program} runs (scripts/setup-engines.sh installs it): {e}"));
    assert!(status.success(), "{program} {args:?}");
}

/// The inputs, made once.
fn make_inputs(dir: &Path) {
    run(
        "ffmpeg",
        &[
            "-y",
            "-f",
            "lavfi",
            "-i",
            "mandelbrot=size=4000x3000:maxiter=200,noise=alls=12:allf=t",
            "-frames:v",
            "1",
            "photo.png",
        ],
        dir,
    );
    run(
        "heif-enc",
        &["-q", "50", "-o", "photo.heic", "photo.png"],
        dir,
    );
    run(
        "ffmpeg",
        &[
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=180",
            "tone.wav",
        ],
        dir,
    );
    run(
        "ffmpeg",
        &[
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=30:duration=10",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=330:duration=10",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            "clip.mp4",
        ],
        dir,
    );
    let paragraph =
        "The quick brown fox jumps over the lazy dog; a benchmark needs text that fills pages. ";
    let mut markdown = String::new();
    for section in 1..=10 {
        markdown.push_str(&format!("# Section {section}\n\n"));
        for _ in 0..8 {
            markdown.push_str(&paragraph.repeat(6));
            markdown.push_str("\n\n");
        }
    }
    std::fs::write(dir.join("notes.md"), &markdown).unwrap();
    run("pandoc", &["-o", "report.docx", "notes.md"], dir);
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// The direct command of `case`, run once into `out`; how long it took.
fn direct_once(case: &Case, out: &Path) -> Duration {
    let args: Vec<String> = case
        .direct
        .iter()
        .map(|arg| {
            arg.replace("{in}", &case.input.display().to_string())
                .replace("{out}", &out.display().to_string())
        })
        .collect();
    let started = Instant::now();
    let status = Command::new(&args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let took = started.elapsed();
    assert!(status.success(), "{args:?}");
    took
}

/// `count` direct runs at once; the wall time for all.
fn direct_concurrent(case: &Case, dir: &Path, count: usize) -> Duration {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for n in 0..count {
            let out = dir.join(format!("concurrent-{n}.{}", case.target.extension()));
            scope.spawn(move || direct_once(case, &out));
        }
    });
    started.elapsed()
}

/// One conversion through the service from a fresh session: how long it took end to
/// end, and how long the job itself ran (its `conversion_time`).
async fn service_once(base: &str, case: &Case) -> (Duration, Duration) {
    let bytes = std::fs::read(&case.input).unwrap();
    let name = case
        .input
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let manager = SessionManager::connect(base, ManagerConfig::default()).unwrap();
    let workflow = Workflow::new(manager.api()).poll_every(Duration::from_millis(10));
    let started = Instant::now();
    let converted = workflow
        .convert_file(
            FileBody::Bytes(bytes.into()),
            &name,
            case.target,
            Arc::new(()),
        )
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let output = workflow.download(&converted, Arc::new(())).await.unwrap();
    let took = started.elapsed();
    assert!(!output.is_empty());
    let job = Duration::from_secs_f64(converted.status.conversion_time.unwrap_or(0.0));
    (took, job)
}

/// `count` conversions through the service at once, each from its own session.
async fn service_concurrent(base: &str, case: &Case, count: usize) -> Duration {
    let started = Instant::now();
    let runs = (0..count).map(|_| service_once(base, case));
    // The wall time of all of them is what counts here.
    futures::future::join_all(runs).await;
    started.elapsed()
}

fn serve(binary: &Path, data: &Path, office_pool: usize) -> Running {
    let mut command = Command::new(binary);
    command
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{}", free_port()),
            "--store",
            "memory",
        ])
        .arg("--data-dir")
        .arg(data)
        .args([
            "--insecure-cookies",
            "--office-pool",
            &office_pool.to_string(),
        ])
        .args(["--rate-limit-init", "0", "--rate-limit-upload", "0"])
        .args(["--rate-limit-convert", "0", "--rate-limit-download", "0"])
        .args([
            "--max-session-storage",
            "100GiB",
            "--conversion-timeout",
            "10m",
        ]);
    start(command)
}

fn seconds(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64())
}

fn main() {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release");
    let ours = target.join("trustyconvert");
    let work = std::env::temp_dir().join(format!(
        "trustyconvert-bench-conversions-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("out")).unwrap();
    let runs: usize = env_or("BENCH_RUNS", 5);
    let concurrent: usize = env_or("BENCH_CONCURRENT", 8);
    eprintln!("making the inputs in {}", work.display());
    make_inputs(&work);

    let input = |name: &str| work.join(name);
    let args = |line: &str| {
        line.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let cases = [
        Case { name: "png → webp (12 Mpx)", input: input("photo.png"), target: Format::Webp, direct: args("cwebp -quiet -q 75 {in} -o {out}") },
        Case { name: "heic → jpeg (12 Mpx)", input: input("photo.heic"), target: Format::Jpeg, direct: args("heif-convert -q 75 {in} {out}") },
        Case { name: "wav → mp3 (3 min)", input: input("tone.wav"), target: Format::Mp3, direct: args("ffmpeg -nostdin -y -i {in} -c:a libmp3lame -b:a 192k {out}") },
        Case {
            name: "mp4 → webm (10 s 720p)",
            input: input("clip.mp4"),
            target: Format::Webm,
            direct: args("ffmpeg -nostdin -y -i {in} -c:v libvpx-vp9 -b:v 0 -crf 33 -deadline realtime -cpu-used 8 -row-mt 1 -pix_fmt yuv420p -c:a libopus -b:a 128k {out}"),
        },
        Case { name: "md → docx", input: input("notes.md"), target: Format::Docx, direct: args("pandoc -f markdown -t docx -o {out} {in}") },
        Case {
            name: "docx → pdf (10 pages)",
            input: input("report.docx"),
            target: Format::Pdf,
            // Cold, as the service without a pool: a fresh profile each time.
            direct: vec![
                "sh".into(),
                "-c".into(),
                // Its own fresh profile per run (concurrent runs must not share one).
                "rm -rf {out}-profile {out}-dir && soffice -env:UserInstallation=file://{out}-profile --headless --convert-to pdf --outdir {out}-dir {in} && mv {out}-dir/report.pdf {out}".to_owned(),
            ],
        },
    ];

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let warm = serve(&ours, &work.join("data-warm"), 2);
    let cold = serve(&ours, &work.join("data-cold"), 0);
    // Let the warm instances start before anything is measured.
    std::thread::sleep(Duration::from_secs(10));

    println!("| conversion | direct (s) | service (s) | of which the job (s) | overhead | {concurrent}× direct (s) | {concurrent}× service (s) | ratio |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let only: Option<String> = std::env::var("BENCH_CASES").ok();
    for case in cases.iter().filter(|case| {
        only.as_ref().is_none_or(|only| {
            only.split(',')
                .any(|word| case.name.starts_with(word.trim()))
        })
    }) {
        let out = work
            .join("out")
            .join(format!("direct.{}", case.target.extension()));
        // A first run of each, unmeasured: caches and page cache as for the others.
        direct_once(case, &out);
        runtime.block_on(service_once(&warm.base, case));
        let mut direct = Vec::new();
        let mut service = Vec::new();
        let mut job = Vec::new();
        for _ in 0..runs {
            direct.push(direct_once(case, &out));
            let (took, ran) = runtime.block_on(service_once(&warm.base, case));
            service.push(took);
            job.push(ran);
        }
        let (direct, service, job) = (median(direct), median(service), median(job));
        let difference = service.as_secs_f64() - direct.as_secs_f64();
        let percent = difference / direct.as_secs_f64() * 100.0;
        let many_direct = direct_concurrent(case, &work.join("out"), concurrent);
        let many_service = runtime.block_on(service_concurrent(&warm.base, case, concurrent));
        println!(
            "| {} | {} | {} | {} | {:+.0} ms ({percent:+.0} %) | {} | {} | {:.2} |",
            case.name,
            seconds(direct),
            seconds(service),
            seconds(job),
            difference * 1000.0,
            seconds(many_direct),
            seconds(many_service),
            many_service.as_secs_f64() / many_direct.as_secs_f64()
        );
    }

    // docx → pdf: LibreOffice cold, warm, and unoserver.
    let docx = cases.last().unwrap();
    let mut cold_service = Vec::new();
    let mut warm_service = Vec::new();
    let mut direct = Vec::new();
    for _ in 0..runs {
        direct.push(direct_once(docx, &work.join("out/report.pdf")));
        cold_service.push(runtime.block_on(service_once(&cold.base, docx)).0);
        warm_service.push(runtime.block_on(service_once(&warm.base, docx)).0);
    }
    let (direct, cold_service, warm_service) =
        (median(direct), median(cold_service), median(warm_service));
    println!();
    println!("| docx → pdf (10 pages) | s | cold ÷ this |");
    println!("|---|---:|---:|");
    let faster = |this: Duration| cold_service.as_secs_f64() / this.as_secs_f64();
    println!(
        "| soffice --convert-to (cold, direct) | {} | {:.2} |",
        seconds(direct),
        faster(direct)
    );
    println!(
        "| service, LibreOffice started per conversion (--office-pool 0) | {} | 1.00 |",
        seconds(cold_service)
    );
    println!(
        "| service, warm pool (--office-pool 2) | {} | {:.2} |",
        seconds(warm_service),
        faster(warm_service)
    );
    match std::env::var("BENCH_UNOSERVER")
        .ok()
        .filter(|program| Path::new(program).exists())
    {
        Some(unoserver) => {
            let unoconvert = Path::new(&unoserver).with_file_name("unoconvert");
            let port = free_port();
            let uno_port = free_port();
            // In its own process group: unoserver starts LibreOffice, which must end
            // with it.
            let mut server = Command::new(&unoserver)
                .process_group(0)
                .args([
                    "--port",
                    &port.to_string(),
                    "--uno-port",
                    &uno_port.to_string(),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("unoserver starts");
            std::thread::sleep(Duration::from_secs(10));
            let mut times = Vec::new();
            for _ in 0..runs {
                let started = Instant::now();
                let status = Command::new(&unoconvert)
                    .args(["--port", &port.to_string()])
                    .arg(&docx.input)
                    .arg(work.join("out/uno.pdf"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .unwrap();
                assert!(status.success(), "unoconvert");
                times.push(started.elapsed());
            }
            let group = format!("-{}", server.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = server.wait();
            let uno = median(times);
            println!(
                "| unoserver (reference, warm, direct) | {} | {:.2} |",
                seconds(uno),
                faster(uno)
            );
        }
        None => println!("| unoserver (reference) | not run: set BENCH_UNOSERVER | |"),
    }
    drop((warm, cold));
    let _ = std::fs::remove_dir_all(&work);
}
