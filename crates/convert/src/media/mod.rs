//! The media engine: audio and video through FFmpeg, fenced like every external
//! engine (only system files and the job's folder, no network, killed whole at the
//! deadline).
//!
//! Before a frame is decoded, `ffprobe` reads the input (`probe`) and a file longer,
//! larger or faster than the limits is refused with the limit named. FFmpeg is told the
//! demuxer of the format the upload was checked as and may open nothing but local
//! files, so a playlist or a concat script posing as a video cannot make it read other
//! files or the network (the fence would stop it too). It writes its progress to a
//! file that is followed while it runs (`progress`), so the job's progress moves.

mod arguments;
mod probe;
mod progress;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use self::probe::MediaInfo;
use self::progress::ProgressFile;
use crate::engine::{Engine, EngineJob, EngineReport, Offer, Probed};
use crate::external::{
    deliver, fenced_command, find_program, hit_file_size_limit, place_input, run_for_job,
    run_within, Fence,
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
        let missing = |detail: String| Probed {
            engine: None,
            report: EngineReport {
                name: "ffmpeg",
                version: None,
                detail,
                offers: Vec::new(),
            },
            offers: OFFERS,
        };
        let (Some(ffmpeg), Some(ffprobe)) = (find_program("ffmpeg"), find_program("ffprobe"))
        else {
            return missing(format!(
                "ffmpeg or ffprobe not found on the PATH; {INSTALL_HINT}"
            ));
        };
        let real = |path: PathBuf| std::fs::canonicalize(&path).unwrap_or(path);
        let (ffmpeg, ffprobe) = (real(ffmpeg), real(ffprobe));
        let (fence, weaker) = Fence::probe(&ffmpeg);
        if let Some(why) = &weaker {
            tracing::warn!(reason = %why, "FFmpeg runs without a file-system fence; install bubblewrap");
        }
        let engine = Self {
            ffmpeg,
            ffprobe,
            fence,
        };
        let version = match engine.version() {
            Ok(version) => version,
            Err(why) => {
                return missing(format!(
                    "{} did not run ({why}); {INSTALL_HINT}",
                    engine.ffmpeg.display()
                ))
            }
        };
        let detail = format!("{}, {}", engine.ffmpeg.display(), engine.fence.describe());
        Probed {
            engine: Some(Arc::new(engine)),
            report: EngineReport {
                name: "ffmpeg",
                version: Some(version),
                detail,
                offers: OFFERS.iter().map(|offer| offer.id).collect(),
            },
            offers: OFFERS,
        }
    }

    /// `ffmpeg -version`'s number (`5.1.9-0+deb12u1`), asked inside the fence.
    fn version(&self) -> Result<String, String> {
        let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
        let printed = self
            .capture(
                &self.ffmpeg,
                scratch.path(),
                &["-version"],
                Instant::now() + PROBE_TIMEOUT,
            )
            .map_err(|error| error.to_string())?;
        printed
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("ffmpeg version "))
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
            .ok_or_else(|| "it printed no version".into())
    }

    /// Runs `program args` fenced in `scratch` until `deadline`; its standard output.
    fn capture(
        &self,
        program: &Path,
        scratch: &Path,
        args: &[&str],
        deadline: Instant,
    ) -> Result<String, ConversionError> {
        let printed = scratch.join("stdout.txt");
        let mut command =
            fenced_command(&self.fence, program, scratch).map_err(ConversionError::Io)?;
        command
            .args(args)
            .stdout(std::fs::File::create(&printed).map_err(ConversionError::Io)?)
            .stderr(Stdio::null());
        match run_within(&mut command, deadline).map_err(ConversionError::Io)? {
            Some(status) if status.success() => {
                std::fs::read_to_string(&printed).map_err(ConversionError::Io)
            }
            Some(_) => Err(ConversionError::Invalid(
                "the file is not a readable media file".into(),
            )),
            None => Err(ConversionError::Limit(
                "reading the media file took too long".into(),
            )),
        }
    }

    /// What ffprobe finds in the placed input.
    fn media_info(&self, job: &EngineJob<'_>, input: &str) -> Result<MediaInfo, ConversionError> {
        let deadline = (Instant::now() + PROBE_TIMEOUT).min(job.budget.deadline());
        let mut args = vec!["-v", "error"];
        args.extend(arguments::input_args(job.source, input));
        args.extend([
            "-show_entries",
            "format=duration:stream=codec_type,codec_name,width,height,avg_frame_rate,r_frame_rate:stream_disposition=attached_pic",
            "-of",
            "json",
        ]);
        let json = self.capture(&self.ffprobe, job.scratch, &args, deadline)?;
        MediaInfo::parse(json.as_bytes())
    }
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
        place_input(job, &input)?;
        let info = self.media_info(job, &input)?;
        let wants_video = arguments::is_video_output(job.target);
        info.check(wants_video, job.target == Format::Gif)?;
        job.budget.check_time()?;
        let output = format!("output.{}", job.target.extension());
        let progress_file = ProgressFile::new(job.scratch.join("progress.txt"), info.duration);
        let args = arguments::ffmpeg_args(job, &info, &input, &output, progress_file.path())?;
        let mut command =
            fenced_command(&self.fence, &self.ffmpeg, job.scratch).map_err(ConversionError::Io)?;
        let log =
            std::fs::File::create(job.scratch.join("ffmpeg.log")).map_err(ConversionError::Io)?;
        command.args(&args).stdout(Stdio::null()).stderr(log);
        let mut last_look = Instant::now();
        let status = run_for_job(&mut command, job, || {
            if last_look.elapsed() >= progress::LOOK_EVERY {
                last_look = Instant::now();
                if let Some(percent) = progress_file.percent() {
                    (job.progress)(percent);
                }
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
