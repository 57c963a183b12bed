//! What `ffprobe` says of an input, and the limits it is held to before FFmpeg
//! decodes a frame: its length, its picture size and its frame rate.

use std::time::Duration;

use serde::Deserialize;

use crate::ConversionError;

/// Longest audio converted.
pub const MAX_AUDIO_DURATION: Duration = Duration::from_secs(3 * 60 * 60);
/// Longest video converted.
pub const MAX_VIDEO_DURATION: Duration = Duration::from_secs(30 * 60);
/// Longest video made into a GIF.
pub const MAX_GIF_DURATION: Duration = Duration::from_secs(30);
/// Most pixels per video frame (4K UHD).
pub const MAX_FRAME_PIXELS: u64 = 3840 * 2160;
/// Highest video frame rate accepted.
pub const MAX_FRAME_RATE: f64 = 120.0;

/// The streams and length of a media file.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaInfo {
    /// Its length.
    pub duration: Duration,
    /// The first audio stream's codec, if any.
    pub audio: Option<String>,
    /// The first video stream (not a cover picture), if any.
    pub video: Option<VideoStream>,
}

/// A video stream's picture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoStream {
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Frames per second (0 when unknown).
    pub frame_rate: f64,
}

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    streams: Vec<ProbeStream>,
    format: Option<ProbeFormat>,
}

#[derive(Deserialize)]
struct ProbeStream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    #[serde(default)]
    disposition: Disposition,
}

#[derive(Deserialize, Default)]
struct Disposition {
    #[serde(default)]
    attached_pic: u8,
}

#[derive(Deserialize)]
struct ProbeFormat {
    duration: Option<String>,
}

/// `30000/1001` → 29.97; `0/0` → 0.
fn rate(text: &str) -> f64 {
    match text.split_once('/') {
        Some((num, den)) => match (num.parse::<f64>(), den.parse::<f64>()) {
            (Ok(num), Ok(den)) if den > 0.0 => num / den,
            _ => 0.0,
        },
        None => text.parse().unwrap_or(0.0),
    }
}

impl MediaInfo {
    /// Reads `ffprobe -of json -show_entries format=duration:stream=…` output.
    pub fn parse(json: &[u8]) -> Result<Self, ConversionError> {
        let unreadable =
            || ConversionError::Invalid("the file is not a readable media file".into());
        let probe: Probe = serde_json::from_slice(json).map_err(|_| unreadable())?;
        let seconds = probe
            .format
            .and_then(|format| format.duration)
            .and_then(|duration| duration.parse::<f64>().ok())
            .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
            .ok_or_else(unreadable)?;
        let of_type = |kind: &str| {
            probe.streams.iter().find(move |s| {
                s.codec_type.as_deref() == Some(kind) && s.disposition.attached_pic == 0
            })
        };
        let audio = of_type("audio").map(|s| s.codec_name.clone().unwrap_or_default());
        let video = of_type("video").map(|s| VideoStream {
            width: s.width.unwrap_or(0),
            height: s.height.unwrap_or(0),
            frame_rate: [&s.avg_frame_rate, &s.r_frame_rate]
                .into_iter()
                .flatten()
                .map(|r| rate(r))
                .find(|r| *r > 0.0)
                .unwrap_or(0.0),
        });
        Ok(Self {
            duration: Duration::from_secs_f64(seconds.min(1e9)),
            audio,
            video,
        })
    }

    /// The longest input converted: 3 hours of sound, 30 minutes of video, 30 seconds
    /// of video made into a GIF.
    pub fn length_limit(&self, to_gif: bool) -> Duration {
        match (&self.video, to_gif) {
            (None, _) => MAX_AUDIO_DURATION,
            (Some(_), true) => MAX_GIF_DURATION,
            (Some(_), false) => MAX_VIDEO_DURATION,
        }
    }

    /// Refuses a file that is longer, larger or faster than converted here, or that
    /// lacks what the output needs.
    pub fn check(&self, wants_video: bool, to_gif: bool) -> Result<(), ConversionError> {
        let refuse = |why: String| Err(ConversionError::Invalid(why));
        let length = minutes(self.duration);
        match &self.video {
            None if wants_video => return refuse("the file has no video stream".into()),
            None if self.audio.is_none() => return refuse("the file has no audio stream".into()),
            None if self.duration > MAX_AUDIO_DURATION => {
                return refuse(format!(
                    "the audio is {length} long; at most {} is converted",
                    minutes(MAX_AUDIO_DURATION)
                ))
            }
            None => {}
            Some(video) => {
                let limit = self.length_limit(to_gif);
                if self.duration > limit {
                    let what = if to_gif {
                        "made into a GIF"
                    } else {
                        "converted"
                    };
                    return refuse(format!(
                        "the video is {length} long; at most {} is {what}",
                        minutes(limit)
                    ));
                }
                let pixels = u64::from(video.width) * u64::from(video.height);
                if pixels == 0 || pixels > MAX_FRAME_PIXELS {
                    return refuse(format!(
                        "the video frames are {}×{} pixels; at most 3840×2160 (4K) are converted",
                        video.width, video.height
                    ));
                }
                if video.frame_rate > MAX_FRAME_RATE {
                    return refuse(format!(
                        "the video runs at {:.0} frames per second; at most {MAX_FRAME_RATE:.0} are converted",
                        video.frame_rate
                    ));
                }
                if !wants_video && self.audio.is_none() {
                    return refuse("the video has no sound to extract".into());
                }
            }
        }
        Ok(())
    }
}

/// `1 h 05 min`, `3 min 20 s`, `12 s`.
fn minutes(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match (seconds / 3600, seconds / 60 % 60, seconds % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s:02} s"),
        (h, m, _) => format!("{h} h {m:02} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(json: &str) -> MediaInfo {
        MediaInfo::parse(json.as_bytes()).unwrap()
    }

    const VIDEO: &str = r#"{"streams":[
        {"codec_type":"video","codec_name":"mjpeg","width":300,"height":300,"r_frame_rate":"90000/1","disposition":{"attached_pic":1}},
        {"codec_type":"video","codec_name":"h264","width":1280,"height":720,"avg_frame_rate":"30000/1001"},
        {"codec_type":"audio","codec_name":"aac"}],
        "format":{"duration":"10.010000"}}"#;

    #[test]
    fn ffprobe_output_is_read_skipping_cover_pictures() {
        let info = info(VIDEO);
        let video = info.video.unwrap();
        assert_eq!((video.width, video.height), (1280, 720));
        assert!((video.frame_rate - 29.97).abs() < 0.01);
        assert_eq!(info.audio.as_deref(), Some("aac"));
        assert_eq!(info.duration.as_millis(), 10_010);
        assert!(info.check(true, false).is_ok());
    }

    #[test]
    fn media_over_a_limit_is_refused_with_the_limit_named() {
        let long = info(&VIDEO.replace("10.010000", "1900"));
        let refused = long.check(true, false).unwrap_err().to_string();
        assert!(
            refused.contains("31 min 40 s") && refused.contains("30 min"),
            "{refused}"
        );
        let gif = info(VIDEO).check(true, true);
        assert!(gif.is_ok());
        let long_gif = info(&VIDEO.replace("10.010000", "31")).check(true, true);
        assert!(long_gif.unwrap_err().to_string().contains("GIF"));
        let huge = info(&VIDEO.replace("1280", "7680").replace("720", "4320"));
        assert!(huge
            .check(true, false)
            .unwrap_err()
            .to_string()
            .contains("7680×4320"));
        let fast = info(&VIDEO.replace("30000/1001", "240/1"));
        assert!(fast
            .check(true, false)
            .unwrap_err()
            .to_string()
            .contains("240 frames"));
        let silent = r#"{"streams":[{"codec_type":"video","width":8,"height":8,"avg_frame_rate":"25/1"}],"format":{"duration":"1"}}"#;
        assert!(
            info(silent).check(false, false).is_err(),
            "no sound to extract"
        );
        assert!(info(silent).check(true, false).is_ok());
    }

    #[test]
    fn audio_needs_an_audio_stream_and_a_readable_length() {
        let audio = r#"{"streams":[{"codec_type":"audio","codec_name":"mp3"}],"format":{"duration":"11000"}}"#;
        assert!(info(audio)
            .check(false, false)
            .unwrap_err()
            .to_string()
            .contains("3 h 03 min"));
        assert!(MediaInfo::parse(br#"{"streams":[],"format":{}}"#).is_err());
        assert!(MediaInfo::parse(b"not json").is_err());
        let nothing = r#"{"streams":[],"format":{"duration":"1"}}"#;
        assert!(info(nothing).check(false, false).is_err());
    }
}
