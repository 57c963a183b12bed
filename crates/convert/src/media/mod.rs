//! The media engine: audio and video through FFmpeg, fenced like every external
//! engine (only system files and the job's folder, no network, killed whole at the
//! deadline).
//!
//! Every input is read before anything is delivered — for WAV, FLAC, MP3 and Ogg
//! their headers in-process (`header`) before FFmpeg starts; other inputs by `ffprobe`
//! (`probe`), first when FFmpeg's command line depends on the picture size (GIFs,
//! resizing), else while FFmpeg starts (each costs ~70 ms of library loading) — and a
//! file longer, larger or faster than the limits is refused with the limit named,
//! FFmpeg stopped at once and its output dropped. FFmpeg also stops at the length
//! limit, whatever a header said. FFmpeg is told the
//! demuxer of the format the upload was checked as and may open nothing but local
//! files, so a playlist or a concat script posing as a video cannot make it read other
//! files or the network (the fence would stop it too). It writes its progress to a
//! file that is followed while it runs (`progress`), so the job's progress moves.

mod arguments;
mod header;
mod probe;
mod progress;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use self::probe::MediaInfo;
use self::progress::ProgressFile;
use crate::engine::{Engine, EngineJob, Found, Offer, Probed};
use crate::external::{
    self, deliver, fenced_command, hit_file_size_limit, place_input, run_for_job, Captured, Fence,
    Printed,
};
use crate::{BudgetWriter, ConversionError, Format};

/// Audio formats, each readable and writable.
const AUDIO: [Format; 6] = [
    Format::Mp3,
    Format::Wav,
    Format::Flac,
    Format::Ogg,
    Format::Opus,
    Format::M4a,
];

/// Video formats read.
const VIDEO_INPUTS: [Format; 5] = [
    Format::Mp4,
    Format::Webm,
    Format::Mkv,
    Format::Mov,
    Format::Avi,
];

const OFFERS: &[Offer] = &[
    Offer {
        id: "audio",
        name: "Audio",
        description: "Audio between MP3, WAV, FLAC, Ogg Vorbis, Opus and AAC (m4a), by FFmpeg.",
        inputs: &AUDIO,
        outputs: &AUDIO,
        features: &[
            "quality sets the bitrate of lossy outputs",
            "up to 3 hours",
            "tags stripped",
        ],
    },
    Offer {
        id: "video",
        name: "Video",
        description: "Video as MP4 (H.264/AAC), WebM (VP9/Opus), MKV or an animated GIF, or its sound as MP3, AAC or WAV, by FFmpeg.",
        inputs: &VIDEO_INPUTS,
        outputs: &[
            Format::Mp4,
            Format::Webm,
            Format::Mkv,
            Format::Gif,
            Format::Mp3,
            Format::M4a,
            Format::Wav,
        ],
        features: &[
            "up to 30 minutes and 4K, 120 frames per second",
            "GIF: at most 30 s, 480 px wide, 12 frames per second",
            "quality sets the video quality (CRF) and the audio bitrate",
            "max_width / max_height scale the picture down",
        ],
    },
];

/// How to install FFmpeg, for the doctor's report.
pub const INSTALL_HINT: &str =
    "install FFmpeg and bubblewrap (Debian/Ubuntu: apt-get install ffmpeg bubblewrap; Fedora: dnf install ffmpeg-free bubblewrap)";

/// How long `ffprobe` may take on one input.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// FFmpeg and ffprobe, found and fenced.
#[derive(Debug)]
pub struct Ffmpeg {
    ffmpeg: PathBuf,
    ffprobe: PathBuf,
    fence: Fence,
}

impl Ffmpeg {
    /// What it converts when found.
    pub(crate) const OFFERS: &'static [Offer] = OFFERS;

    /// Looks for `ffmpeg` and `ffprobe` on the `PATH`, fences them and asks the
    /// version from inside the fence.
    pub fn probe() -> Probed {
        Probed::from_found(&Self::find(), OFFERS)
    }

    /// [`probe`](Self::probe), keeping the engine itself.
    pub fn find() -> Found<Self> {
        let [ffmpeg, ffprobe] = external::locate(["ffmpeg", "ffprobe"]).ok_or_else(|| {
            external::missing(
                "ffmpeg",
                format!("ffmpeg or ffprobe not found on the PATH; {INSTALL_HINT}"),
            )
        })?;
        let fence = external::fence_for(&ffmpeg, "FFmpeg");
        // `ffmpeg version 5.1.9-0+deb12u1 Copyright …`
        let version =
            external::probe_version(&fence, &ffmpeg, &["-version"], Printed::Out, |text| {
                let line = text.lines().next()?;
                Some(
                    line.strip_prefix("ffmpeg version ")?
                        .split_whitespace()
                        .next()?
                        .to_owned(),
                )
            })
            .map_err(|why| {
                external::missing(
                    "ffmpeg",
                    format!("{} did not run ({why}); {INSTALL_HINT}", ffmpeg.display()),
                )
            })?;
        let detail = format!("{}, {}", ffmpeg.display(), fence.describe());
        let engine = Self {
            ffmpeg,
            ffprobe,
            fence,
        };
        Ok((
            Arc::new(engine),
            external::found("ffmpeg", version, detail, OFFERS),
        ))
    }

    /// What ffprobe finds in `input`, a `source` file placed in `scratch`, by
    /// `deadline` (the job's).
    fn media_info(
        &self,
        source: Format,
        scratch: &Path,
        input: &str,
        deadline: Instant,
    ) -> Result<MediaInfo, ConversionError> {
        let deadline = (Instant::now() + PROBE_TIMEOUT).min(deadline);
        let mut args = vec!["-v", "error"];
        args.extend(arguments::input_args(source, input));
        args.extend([
            "-show_entries",
            "format=duration:stream=codec_type,codec_name,width,height,avg_frame_rate,r_frame_rate:stream_disposition=attached_pic",
            "-of",
            "json",
        ]);
        let captured = external::capture(
            &self.fence,
            &self.ffprobe,
            scratch,
            &args,
            deadline,
            Printed::Out,
        )
        .map_err(ConversionError::Io)?;
        match captured {
            Captured::Text(json) => MediaInfo::parse(json.as_bytes()),
            Captured::Failed(_) => Err(ConversionError::Invalid(
                "the file is not a readable media file".into(),
            )),
            Captured::TimedOut => Err(ConversionError::Limit(
                "reading the media file took too long".into(),
            )),
        }
    }
}

/// What a probe running beside FFmpeg found (a panic in it is a failure).
fn verdict(
    probe: std::thread::ScopedJoinHandle<'_, Result<MediaInfo, ConversionError>>,
) -> Result<MediaInfo, ConversionError> {
    probe.join().unwrap_or_else(|_| {
        Err(ConversionError::Failed(
            "reading the media file failed".into(),
        ))
    })
}

impl Engine for Ffmpeg {
    fn name(&self) -> &'static str {
        "ffmpeg"
    }

    fn offers(&self) -> &'static [Offer] {
        OFFERS
    }

    fn convert(
        &self,
        job: &EngineJob<'_>,
        out: &mut BudgetWriter<'_>,
    ) -> Result<Format, ConversionError> {
        let input = format!("input.{}", job.source.extension());
        let placed = place_input(job, &input)?;
        let target = job.target;
        let judge = move |info: MediaInfo| {
            let wants_video = arguments::is_video_output(target);
            info.check(wants_video, target == Format::Gif)
                .map(|()| info)
        };
        let (source, scratch, deadline) = (job.source, job.scratch, job.budget.deadline());
        let probe = || self.media_info(source, scratch, &input, deadline);
        let known = match header::read_audio_header(&placed, job.source) {
            Some(info) => Some(judge(info)?),
            None if arguments::needs_probe(job) => Some(judge(probe()?)?),
            None => None,
        };
        job.budget.check_time()?;
        let output = format!("output.{}", job.target.extension());
        let progress_file = ProgressFile::new(job.scratch.join("progress.txt"));
        let args =
            arguments::ffmpeg_args(job, known.as_ref(), &input, &output, progress_file.path())?;
        let mut command =
            fenced_command(&self.fence, &self.ffmpeg, job.scratch).map_err(ConversionError::Io)?;
        let log =
            std::fs::File::create(job.scratch.join("ffmpeg.log")).map_err(ConversionError::Io)?;
        command.args(&args).stdout(Stdio::null()).stderr(log);
        let status = std::thread::scope(|scope| {
            // Not known from a header: ffprobe reads the input while FFmpeg starts
            // (both load the same ~200 libraries, 70 ms). Its verdict is awaited before
            // anything is delivered, and a refusal stops FFmpeg at once.
            let mut probing = known
                .is_none()
                .then(|| scope.spawn(|| probe().and_then(judge)));
            let mut known = known;
            let mut refusal = None;
            let mut last_look = Instant::now();
            let status = run_for_job(&mut command, job, || {
                if let Some(probe) = probing.take_if(|probe| probe.is_finished()) {
                    match verdict(probe) {
                        Ok(info) => known = Some(info),
                        Err(refused) => {
                            refusal = Some(refused);
                            return ControlFlow::Break(());
                        }
                    }
                }
                if let Some(info) = known.as_ref() {
                    if last_look.elapsed() >= progress::LOOK_EVERY {
                        last_look = Instant::now();
                        if let Some(percent) = progress_file.percent(info.duration) {
                            (job.progress)(percent);
                        }
                    }
                }
                ControlFlow::Continue(())
            });
            match (refusal, probing.map(verdict)) {
                (Some(refused), _) | (None, Some(Err(refused))) => Err(refused),
                (None, _) => status,
            }
        })?;
        let result = job.scratch.join(&output);
        if status.success() && result.is_file() {
            return deliver(&result, job, out).map(|()| job.target);
        }
        if hit_file_size_limit(status) {
            // Killed for writing past the output limit (and the room beside it).
            job.budget.check_output(u64::MAX)?;
        }
        let log = std::fs::read_to_string(job.scratch.join("ffmpeg.log")).unwrap_or_default();
        let last_lines: Vec<&str> = log.lines().rev().take(3).collect();
        tracing::info!(%status, log = %last_lines.join(" | "), "FFmpeg produced no output");
        Err(ConversionError::Failed(
            "FFmpeg could not convert this file (is it damaged?)".into(),
        ))
    }
}
