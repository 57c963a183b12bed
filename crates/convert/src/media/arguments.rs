//! FFmpeg's command line for a job: the input read only as the format it was checked
//! as, the streams kept, the encoders and their settings (from the options' quality
//! and size), metadata dropped.

use std::path::Path;

use super::probe::{MediaInfo, MAX_AUDIO_DURATION};
use crate::engine::EngineJob;
use crate::image::fitted_size;
use crate::{ConversionError, Format};

/// Widest GIF made.
pub const GIF_MAX_WIDTH: u32 = 480;
/// Frame rate of GIFs made.
pub const GIF_FRAME_RATE: u32 = 12;

/// Whether `target` holds a picture (and so needs a video stream).
pub fn is_video_output(target: Format) -> bool {
    matches!(
        target,
        Format::Mp4 | Format::Webm | Format::Mkv | Format::Gif
    )
}

/// FFmpeg's demuxer for a checked input format.
fn demuxer(source: Format) -> Option<&'static str> {
    Some(match source {
        Format::Mp3 => "mp3",
        Format::Wav => "wav",
        Format::Flac => "flac",
        Format::Ogg | Format::Opus => "ogg",
        Format::M4a | Format::Mp4 | Format::Mov => "mov",
        Format::Webm | Format::Mkv => "matroska",
        Format::Avi => "avi",
        _ => return None,
    })
}

/// Opening the input: by its checked demuxer, from a local file only.
pub fn input_args(source: Format, input: &str) -> Vec<&str> {
    let mut args = Vec::new();
    if let Some(demuxer) = demuxer(source) {
        args.extend(["-f", demuxer]);
    }
    args.extend(["-protocol_whitelist", "file", "-i", input]);
    args
}

/// The bitrate for `quality` (1–100, linear up to the codec's top rate), or the
/// codec's usual rate when none is asked.
fn audio_bitrate(quality: Option<u32>, usual_kbps: u32, top_kbps: u32) -> String {
    let kbps = quality.map_or(usual_kbps, |q| (q.clamp(1, 100) * top_kbps / 100).max(32));
    format!("{kbps}k")
}

/// x264's constant rate factor for `quality`: 100 → 18 (visually lossless) … 1 → 40;
/// x264's own 23 when none is asked.
fn h264_crf(quality: Option<u32>) -> String {
    quality
        .map_or(23, |q| 40 - (q.clamp(1, 100) - 1) * 22 / 99)
        .to_string()
}

/// VP9's constant quality for `quality`: 100 → 15 … 1 → 50; 33 when none is asked.
fn vp9_crf(quality: Option<u32>) -> String {
    quality
        .map_or(33, |q| 50 - (q.clamp(1, 100) - 1) * 35 / 99)
        .to_string()
}

/// The encoder settings of an audio stream in `target`.
fn audio_codec(target: Format, quality: Option<u32>) -> Vec<String> {
    let (codec, bitrate) = match target {
        Format::Mp3 => ("libmp3lame", Some(audio_bitrate(quality, 192, 320))),
        Format::M4a | Format::Mp4 | Format::Mkv => ("aac", Some(audio_bitrate(quality, 160, 320))),
        Format::Ogg => ("libvorbis", Some(audio_bitrate(quality, 160, 320))),
        Format::Opus | Format::Webm => ("libopus", Some(audio_bitrate(quality, 128, 256))),
        Format::Flac => ("flac", None),
        _ => ("pcm_s16le", None),
    };
    let mut args = vec!["-c:a".to_owned(), codec.to_owned()];
    if let Some(bitrate) = bitrate {
        args.extend(["-b:a".to_owned(), bitrate]);
    }
    args
}

/// The picture size of a video output: the input's, scaled down to fit the options'
/// bounds (and `cap_width`), rounded down to even numbers as 4:2:0 video needs.
fn video_size(job: &EngineJob<'_>, info: &MediaInfo, cap_width: u32) -> (u32, u32) {
    let (width, height) = info
        .video
        .map_or((2, 2), |v| (v.width.max(2), v.height.max(2)));
    let max_width = job.options.max_width.unwrap_or(u32::MAX).min(cap_width);
    let max_height = job.options.max_height.unwrap_or(u32::MAX);
    let (fitted_width, fitted_height) = fitted_size(width, height, max_width, max_height);
    let even = |side: u32| (side & !1).max(2);
    (even(fitted_width), even(fitted_height))
}

/// Whether FFmpeg's command line for `job` depends on what the input holds (its
/// picture size, for a GIF or a video fitted into `max_width`/`max_height`). Other
/// runs can start while the input is still being probed.
pub fn needs_probe(job: &EngineJob<'_>) -> bool {
    job.target == Format::Gif
        || (is_video_output(job.target)
            && (job.options.max_width.is_some() || job.options.max_height.is_some()))
}

/// The whole command line after `ffmpeg`; `info` is `None` while the input is still
/// being probed, which only jobs that do not [`needs_probe`] may do.
pub fn ffmpeg_args(
    job: &EngineJob<'_>,
    info: Option<&MediaInfo>,
    input: &str,
    output: &str,
    progress: &Path,
) -> Result<Vec<String>, ConversionError> {
    let owned = |args: &[&str]| args.iter().map(|arg| (*arg).to_owned()).collect::<Vec<_>>();
    let quality = job.options.quality;
    let mut args = owned(&[
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-stats_period",
        "0.25",
    ]);
    args.extend(owned(&input_args(job.source, input)));
    args.extend(owned(&[
        "-map_metadata",
        "-1",
        "-map_chapters",
        "-1",
        "-sn",
        "-dn",
        "-nostats",
        "-progress",
    ]));
    args.push(progress.display().to_string());
    match job.target {
        Format::Gif => {
            let info = info.ok_or(ConversionError::Unsupported)?;
            let (width, height) = video_size(job, info, GIF_MAX_WIDTH);
            args.extend(owned(&[
                "-map",
                "0:v:0",
                "-an",
                "-loop",
                "0",
                "-filter_complex",
            ]));
            args.push(format!(
                "[0:v:0]fps={GIF_FRAME_RATE},scale={width}:{height}:flags=lanczos,split[a][b];\
                 [a]palettegen=stats_mode=diff[p];[b][p]paletteuse=dither=bayer"
            ));
        }
        Format::Mp4 | Format::Mkv | Format::Webm => {
            args.extend(owned(&["-map", "0:v:0", "-map", "0:a:0?"]));
            args.push("-vf".to_owned());
            args.push(match info.filter(|_| needs_probe(job)) {
                Some(info) => {
                    let (width, height) = video_size(job, info, u32::MAX);
                    format!("scale={width}:{height}")
                }
                // Even sides, as 4:2:0 video needs; FFmpeg passes frames of the same
                // size through untouched.
                None => "scale=trunc(iw/2)*2:trunc(ih/2)*2".to_owned(),
            });
            args.extend(owned(&["-pix_fmt", "yuv420p"]));
            if job.target == Format::Webm {
                args.extend(owned(&[
                    "-c:v",
                    "libvpx-vp9",
                    "-b:v",
                    "0",
                    "-deadline",
                    "realtime",
                ]));
                args.extend(owned(&["-cpu-used", "8", "-row-mt", "1", "-crf"]));
                args.push(vp9_crf(quality));
            } else {
                args.extend(owned(&["-c:v", "libx264", "-preset", "veryfast", "-crf"]));
                args.push(h264_crf(quality));
            }
            args.extend(audio_codec(job.target, quality));
        }
        audio if super::AUDIO.contains(&audio) => {
            args.extend(owned(&["-map", "0:a:0", "-vn"]));
            args.extend(audio_codec(audio, quality));
        }
        _ => return Err(ConversionError::Unsupported),
    }
    // Whatever the header said, no output runs past the length limit (the longest
    // there is, until the probe has said what the input holds).
    let limit = info.map_or(MAX_AUDIO_DURATION, |info| {
        info.length_limit(job.target == Format::Gif)
    });
    args.push("-t".to_owned());
    args.push(limit.as_secs().to_string());
    if matches!(job.target, Format::Mp4 | Format::M4a) {
        // The index first, so a browser plays it while it downloads.
        args.extend(owned(&["-movflags", "+faststart"]));
    }
    args.push(output.to_owned());
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_maps_onto_each_codecs_scale() {
        assert_eq!(audio_bitrate(None, 192, 320), "192k");
        assert_eq!(audio_bitrate(Some(100), 192, 320), "320k");
        assert_eq!(audio_bitrate(Some(50), 192, 320), "160k");
        assert_eq!(audio_bitrate(Some(1), 192, 320), "32k");
        assert_eq!(h264_crf(None), "23");
        assert_eq!(h264_crf(Some(100)), "18");
        assert_eq!(h264_crf(Some(1)), "40");
        assert_eq!(vp9_crf(Some(100)), "15");
        assert_eq!(vp9_crf(Some(1)), "50");
    }

    #[test]
    fn inputs_are_opened_by_their_checked_demuxer_from_local_files_only() {
        let args = input_args(Format::Mov, "input.mov");
        assert_eq!(
            args,
            [
                "-f",
                "mov",
                "-protocol_whitelist",
                "file",
                "-i",
                "input.mov"
            ]
        );
        assert!(VIDEO_AND_AUDIO
            .iter()
            .all(|format| demuxer(*format).is_some()));
    }

    const VIDEO_AND_AUDIO: [Format; 11] = [
        Format::Mp3,
        Format::Wav,
        Format::Flac,
        Format::Ogg,
        Format::Opus,
        Format::M4a,
        Format::Mp4,
        Format::Webm,
        Format::Mkv,
        Format::Mov,
        Format::Avi,
    ];
}
