//! Audio headers read in-process: the length and codec of a WAV, FLAC, MP3 or Ogg
//! (Vorbis, Opus, FLAC) file from its container, without decoding it.
//!
//! Why not always `ffprobe`: FFmpeg's tools load some 200 shared libraries at start,
//! about 70 ms, which a conversion then pays twice (probe, convert); for a
//! three-minute song that was most of the service's overhead over calling FFmpeg by
//! hand. Symphonia reads these containers' headers in well under a millisecond. Its
//! readers for these formats parse fixed headers and pages (no sample tables sized by
//! the file, as MP4's are), so an input cannot make it allocate much; anything it
//! cannot read — or a panic in it — falls back to `ffprobe`, which decides as before.
//! FFmpeg is also told to stop at the limit (`-t`), so a header that understates the
//! length gains nothing.

use std::fs::File;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Duration;

use symphonia::core::codecs::{
    CodecType, CODEC_TYPE_FLAC, CODEC_TYPE_MP3, CODEC_TYPE_NULL, CODEC_TYPE_OPUS,
    CODEC_TYPE_PCM_ALAW, CODEC_TYPE_PCM_F32LE, CODEC_TYPE_PCM_F64LE, CODEC_TYPE_PCM_MULAW,
    CODEC_TYPE_PCM_S16LE, CODEC_TYPE_PCM_S24LE, CODEC_TYPE_PCM_S32LE, CODEC_TYPE_PCM_U8,
    CODEC_TYPE_VORBIS,
};
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::probe::MediaInfo;
use crate::Format;

/// The length and codec of an audio `file` uploaded as `source`, from its header;
/// `None` for other formats, or when the header does not say (then `ffprobe` is asked).
pub fn read_audio_header(file: &Path, source: Format) -> Option<MediaInfo> {
    let extension = match source {
        Format::Wav => "wav",
        Format::Flac => "flac",
        Format::Mp3 => "mp3",
        Format::Ogg | Format::Opus => "ogg",
        _ => return None,
    };
    let file = File::open(file).ok()?;
    let info = catch_unwind(AssertUnwindSafe(|| read(file, extension))).ok()??;
    // Symphonia picks its reader by the bytes; FFmpeg is told the uploaded format's
    // demuxer. A file read as another container is left to ffprobe.
    let codec = info.audio.as_deref();
    let expected = match source {
        Format::Flac => codec == Some("flac"),
        Format::Mp3 => codec == Some("mp3"),
        Format::Ogg | Format::Opus => matches!(codec, Some("vorbis" | "opus" | "flac")),
        _ => codec == Some("pcm"),
    };
    expected.then_some(info)
}

fn read(file: File, extension: &str) -> Option<MediaInfo> {
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(extension);
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            stream,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .ok()?;
    let track = probed
        .format
        .tracks()
        .iter()
        .find(|track| track.codec_params.codec != CODEC_TYPE_NULL)?;
    let params = &track.codec_params;
    let frames = params.n_frames?;
    let time = match params.time_base {
        Some(base) => base.calc_time(frames),
        None => {
            let rate = u64::from(params.sample_rate.filter(|rate| *rate > 0)?);
            symphonia::core::units::Time::new(frames / rate, (frames % rate) as f64 / rate as f64)
        }
    };
    let seconds = time.seconds as f64 + time.frac;
    if !seconds.is_finite() || seconds <= 0.0 {
        return None;
    }
    Some(MediaInfo {
        duration: Duration::from_secs_f64(seconds.min(1e9)),
        audio: Some(codec_name(params.codec).to_owned()),
        video: None,
    })
}

/// FFmpeg's name for `codec` where it is one of these containers' usual codecs; "pcm"
/// for WAV's many PCM variants.
fn codec_name(codec: CodecType) -> &'static str {
    match codec {
        CODEC_TYPE_FLAC => "flac",
        CODEC_TYPE_MP3 => "mp3",
        CODEC_TYPE_VORBIS => "vorbis",
        CODEC_TYPE_OPUS => "opus",
        CODEC_TYPE_PCM_S16LE | CODEC_TYPE_PCM_S24LE | CODEC_TYPE_PCM_S32LE | CODEC_TYPE_PCM_U8
        | CODEC_TYPE_PCM_F32LE | CODEC_TYPE_PCM_F64LE | CODEC_TYPE_PCM_ALAW
        | CODEC_TYPE_PCM_MULAW => "pcm",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    /// Seven seconds of a tone as `name`, made by FFmpeg with `codec`.
    fn tone(dir: &Path, name: &str, codec: &[&str]) -> std::path::PathBuf {
        let path = dir.join(name);
        let made = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg("sine=frequency=440:sample_rate=48000:duration=7")
            .args(codec)
            .arg(&path)
            .status()
            .expect("ffmpeg (scripts/setup-engines.sh)");
        assert!(made.success());
        path
    }

    #[test]
    fn the_length_and_codec_of_wav_flac_mp3_ogg_and_opus_come_from_their_headers() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("a.wav", Format::Wav, &[][..], "pcm"),
            ("a.flac", Format::Flac, &[][..], "flac"),
            ("a.mp3", Format::Mp3, &["-c:a", "libmp3lame"][..], "mp3"),
            ("a.ogg", Format::Ogg, &["-c:a", "libvorbis"][..], "vorbis"),
            ("a.opus", Format::Opus, &["-c:a", "libopus"][..], "opus"),
        ];
        for (name, format, codec, codec_name) in cases {
            let path = tone(dir.path(), name, codec);
            let info = read_audio_header(&path, format)
                .unwrap_or_else(|| panic!("{name}: header not read"));
            let seconds = info.duration.as_secs_f64();
            assert!((seconds - 7.0).abs() < 0.1, "{name}: {seconds} s");
            assert_eq!(info.audio.as_deref(), Some(codec_name), "{name}");
            assert!(info.video.is_none());
        }
    }

    #[test]
    fn other_formats_and_unreadable_files_are_left_to_ffprobe() {
        let dir = tempfile::tempdir().unwrap();
        let m4a = tone(dir.path(), "a.m4a", &["-c:a", "aac"]);
        assert!(read_audio_header(&m4a, Format::M4a).is_none());
        let garbage = dir.path().join("garbage.wav");
        std::fs::write(&garbage, b"RIFF\xff\xff\xff\xffWAVEnot really a wave file").unwrap();
        assert!(read_audio_header(&garbage, Format::Wav).is_none());
        let mp3_named_flac = tone(dir.path(), "b.mp3", &["-c:a", "libmp3lame"]);
        assert!(read_audio_header(&mp3_named_flac, Format::Flac).is_none());
    }
}
