//! Audio and video through the real server and FFmpeg: inputs made here with FFmpeg's
//! own test sources, every output read back with ffprobe (codec, length within 5 %),
//! the limits refused with the limit named, a playlist posing as a video given nothing,
//! and the job's progress following FFmpeg's.

mod common;

use std::io::Read as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::conversion::*;
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn server() -> TestServer {
    TestServer::start(|config| {
        config.jobs.conversion_timeout = Duration::from_secs(600);
    })
    .await
}

/// Runs FFmpeg (installed by scripts/setup-engines.sh) to make a test input.
fn make_media(dir: &Path, name: &str, args: &[&str]) -> Vec<u8> {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .arg(name)
        .current_dir(dir)
        .status()
        .expect("ffmpeg runs (scripts/setup-engines.sh installs it)");
    assert!(status.success(), "making {name}");
    std::fs::read(dir.join(name)).unwrap()
}

/// `seconds` of a 440 Hz tone.
fn tone(dir: &Path, name: &str, seconds: u32) -> Vec<u8> {
    let source = format!("sine=frequency=440:duration={seconds}");
    make_media(dir, name, &["-f", "lavfi", "-i", &source])
}

/// `seconds` of a moving test picture with a tone, `width`×`height`.
fn clip(dir: &Path, name: &str, seconds: u32, width: u32, height: u32) -> Vec<u8> {
    let picture = format!("testsrc2=size={width}x{height}:rate=25:duration={seconds}");
    let sound = format!("sine=frequency=330:duration={seconds}");
    let mut args = vec!["-f", "lavfi", "-i", &picture, "-f", "lavfi", "-i", &sound];
    if name.ends_with(".mp4") || name.ends_with(".mov") || name.ends_with(".mkv") {
        args.extend([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
        ]);
    }
    make_media(dir, name, &args)
}

/// What ffprobe reads in `bytes`: the codecs of its streams and its length.
fn probe(bytes: &[u8]) -> (Vec<String>, f64, Value) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("output");
    std::fs::write(&path, bytes).unwrap();
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name,width,height",
            "-of",
            "json",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(output.status.success(), "ffprobe reads the output");
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let codecs = json["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap_or("").to_owned())
        .collect();
    let duration = json["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    (codecs, duration, json)
}

fn assert_length(duration: f64, expected: f64, what: &str) {
    assert!(
        (duration - expected).abs() <= expected * 0.05,
        "{what}: {duration} s, expected {expected} s within 5 %"
    );
}

/// The codecs each output format is written with.
fn codecs_of(target: &str) -> &'static [&'static str] {
    match target {
        "mp3" => &["mp3"],
        "wav" => &["pcm_s16le"],
        "flac" => &["flac"],
        "ogg" => &["vorbis"],
        "opus" => &["opus"],
        "m4a" => &["aac"],
        "mp4" | "mkv" => &["h264", "aac"],
        "webm" => &["vp9", "opus"],
        "gif" => &["gif"],
        other => panic!("no codecs listed for {other}"),
    }
}

const AUDIO: [&str; 6] = ["mp3", "wav", "flac", "ogg", "opus", "m4a"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_audio_format_converts_to_every_other_with_its_length_kept() {
    let server = server().await;
    let creds = new_session(&server).await;
    let dir = tempfile::tempdir().unwrap();
    for source in AUDIO {
        let input = tone(dir.path(), &format!("tone.{source}"), 2);
        for target in AUDIO.iter().filter(|target| **target != source) {
            let name = format!("tone.{source}");
            let (_, bytes) = round_trip(&server, &creds, &name, input.clone(), target).await;
            let (codecs, duration, _) = probe(&bytes);
            assert_eq!(codecs, codecs_of(target), "{source} → {target}");
            assert_length(duration, 2.0, &format!("{source} → {target}"));
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn videos_convert_to_video_gif_and_sound() {
    let server = server().await;
    let creds = new_session(&server).await;
    let dir = tempfile::tempdir().unwrap();
    for source in ["mp4", "webm", "mkv", "mov", "avi"] {
        let name = format!("clip.{source}");
        let input = clip(dir.path(), &name, 2, 320, 240);
        let (_, bytes) = round_trip(&server, &creds, &name, input, "mp4").await;
        let (codecs, duration, json) = probe(&bytes);
        assert_eq!(codecs, codecs_of("mp4"), "{source} → mp4");
        assert_length(duration, 2.0, &format!("{source} → mp4"));
        assert_eq!(
            (
                json["streams"][0]["width"].as_u64(),
                json["streams"][0]["height"].as_u64()
            ),
            (Some(320), Some(240))
        );
    }
    let input = clip(dir.path(), "clip.mp4", 2, 640, 360);
    for target in ["webm", "mkv", "gif", "mp3", "m4a", "wav"] {
        let (_, bytes) = round_trip(&server, &creds, "clip.mp4", input.clone(), target).await;
        let (codecs, duration, json) = probe(&bytes);
        assert_eq!(codecs, codecs_of(target), "mp4 → {target}");
        assert_length(duration, 2.0, &format!("mp4 → {target}"));
        if target == "gif" {
            assert_eq!(
                json["streams"][0]["width"], 480,
                "GIFs are at most 480 px wide"
            );
            assert_eq!(json["streams"][0]["height"], 270);
        }
    }
    server.stop().await;
}

/// Uploads, converts with `options` and downloads.
async fn convert_media(
    server: &TestServer,
    creds: &Creds,
    name: &str,
    bytes: Vec<u8>,
    target: &str,
    options: Value,
) -> Vec<u8> {
    let job_id = new_job_id();
    let (status, _, body) = upload(server, creds, &job_id, name, bytes).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let request = json!({"job_id": job_id, "target_format": target, "options": options});
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
async fn quality_sets_the_bitrate_and_size_options_scale_the_video() {
    let server = server().await;
    let creds = new_session(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let wav = tone(dir.path(), "tone.wav", 3);
    let low = convert_media(
        &server,
        &creds,
        "tone.wav",
        wav.clone(),
        "mp3",
        json!({"quality": 20}),
    )
    .await;
    let high = convert_media(
        &server,
        &creds,
        "tone.wav",
        wav,
        "mp3",
        json!({"quality": 100}),
    )
    .await;
    assert!(
        high.len() > low.len() * 3,
        "320 kb/s against 64 kb/s: {} vs {}",
        high.len(),
        low.len()
    );
    let input = clip(dir.path(), "clip.mp4", 1, 640, 360);
    let small = convert_media(
        &server,
        &creds,
        "clip.mp4",
        input,
        "webm",
        json!({"max_width": 320}),
    )
    .await;
    let (_, _, json) = probe(&small);
    assert_eq!(
        (
            json["streams"][0]["width"].as_u64(),
            json["streams"][0]["height"].as_u64()
        ),
        (Some(320), Some(180))
    );
    server.stop().await;
}

/// Uploads and converts; the failed job's reason.
async fn failure_of(
    server: &TestServer,
    creds: &Creds,
    name: &str,
    bytes: Vec<u8>,
    target: &str,
) -> String {
    let job_id = new_job_id();
    let (status, _, body) = upload(server, creds, &job_id, name, bytes).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _, body) = convert(
        server,
        creds,
        json!({"job_id": job_id, "target_format": target}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let data = wait_finished(server, creds, &job_id).await;
    assert_eq!(data["status"], "failed", "{data}");
    let (status, body) = download_token(server, creds, &job_id).await;
    assert_ne!(
        status,
        StatusCode::CREATED,
        "a failed job has nothing to download: {body}"
    );
    data["error"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_over_a_limit_is_refused_with_the_limit_named() {
    let server = server().await;
    let creds = new_session(&server).await;
    let dir = tempfile::tempdir().unwrap();
    // 31 minutes of a tiny picture at one frame a second: long, but quick to make.
    let long = make_media(
        dir.path(),
        "long.mkv",
        &[
            "-f",
            "lavfi",
            "-i",
            "color=size=16x16:rate=1:duration=1860",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ],
    );
    let reason = failure_of(&server, &creds, "long.mkv", long, "mp4").await;
    assert!(
        reason.contains("31 min") && reason.contains("at most 30 min"),
        "{reason}"
    );
    let wide = make_media(
        dir.path(),
        "wide.mkv",
        &[
            "-f",
            "lavfi",
            "-i",
            "color=size=7680x4320:rate=1:duration=1",
            "-c:v",
            "mjpeg",
        ],
    );
    let reason = failure_of(&server, &creds, "wide.mkv", wide, "mp4").await;
    assert!(
        reason.contains("7680×4320") && reason.contains("4K"),
        "{reason}"
    );
    // Three hours and a minute of silence: FLAC keeps it small, and its length is
    // read from the header in-process rather than by ffprobe.
    let long_sound = make_media(
        dir.path(),
        "long.flac",
        &[
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=8000:cl=mono",
            "-t",
            "10860",
        ],
    );
    let reason = failure_of(&server, &creds, "long.flac", long_sound, "mp3").await;
    assert!(
        reason.contains("3 h 01 min") && reason.contains("at most 3 h 00 min"),
        "{reason}"
    );
    let for_gif = clip(dir.path(), "forty.mp4", 40, 64, 48);
    let reason = failure_of(&server, &creds, "forty.mp4", for_gif, "gif").await;
    assert!(
        reason.contains("GIF") && reason.contains("30 s"),
        "{reason}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playlist_posing_as_a_video_reads_no_file_and_reaches_no_server() {
    let server = server().await;
    let creds = new_session(&server).await;
    let secrets = tempfile::tempdir().unwrap();
    let secret = secrets.path().join("secret.ts");
    std::fs::write(&secret, b"not for you").unwrap();
    // A listener that counts who connects to it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (counted, stopped) = (Arc::clone(&connections), Arc::clone(&stop));
    let watcher = std::thread::spawn(move || {
        while !stopped.load(Ordering::SeqCst) {
            if let Ok((mut stream, _)) = listener.accept() {
                counted.fetch_add(1, Ordering::SeqCst);
                let _ = stream.read(&mut [0; 64]);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let playlist = format!(
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile://{}\n#EXTINF:1,\nhttp://{address}/x.ts\n#EXT-X-ENDLIST\n",
        secret.display()
    );
    // Named and signed as MP4 (an `ftyp` box first), so it passes the upload's checks.
    let mut posing = b"\0\0\0\x14ftypisom\0\0\x02\0isom".to_vec();
    posing.extend_from_slice(playlist.as_bytes());
    let reason = failure_of(&server, &creds, "playlist.mp4", posing, "mp3").await;
    assert!(!reason.contains("not for you"), "{reason}");
    // The same playlist as a plain .m3u8 is not even accepted.
    let job_id = new_job_id();
    let (status, _, body) =
        upload(&server, &creds, &job_id, "list.m3u8", playlist.into_bytes()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "FFmpeg connected to the listener"
    );
    stop.store(true, Ordering::SeqCst);
    watcher.join().unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jobs_progress_follows_ffmpegs_while_it_converts() {
    let server = server().await;
    let creds = new_session(&server).await;
    let dir = tempfile::tempdir().unwrap();
    // Long enough for several progress reports, doubled until one is seen between the
    // start and the end: on however fast a machine, some conversion is slow enough.
    let mut seconds = 20;
    loop {
        let input = clip(dir.path(), "long.mp4", seconds, 640, 360);
        let job_id = new_job_id();
        let (status, _, body) = upload(&server, &creds, &job_id, "long.mp4", input).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, _, body) = convert(
            &server,
            &creds,
            json!({"job_id": job_id, "target_format": "webm"}),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let mut seen = Vec::new();
        let finished = loop {
            let (_, status) = job_status(&server, &creds, &job_id).await;
            let data = status["data"].clone();
            let progress = data["progress"].as_u64().unwrap();
            if seen.last() != Some(&progress) {
                seen.push(progress);
            }
            if matches!(data["status"].as_str(), Some("completed" | "failed")) {
                break data;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(finished["status"], "completed", "{finished}");
        eprintln!("{seconds} s to webm, progress seen: {seen:?}");
        assert!(
            seen.windows(2).all(|pair| pair[0] <= pair[1]),
            "never backwards: {seen:?}"
        );
        if seen.iter().any(|p| *p > 10 && *p < 100) {
            break;
        }
        seconds *= 2;
        assert!(
            seconds <= 320,
            "no progress between start and end was ever seen: {seen:?}"
        );
    }
    server.stop().await;
}
