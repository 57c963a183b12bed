//! Conversion options: the `options` of `POST /api/convert`, and the one rule, shared
//! by the server, the page and the command line, of which options a conversion takes.
//!
//! Every option is optional; an absent one means the encoder's usual default (WebP and
//! JPEG at quality 75, as `cwebp` and `cjpeg` choose). An option a conversion has no
//! use for is refused rather than silently ignored, so that a request never means
//! something other than what it says.
//!
//! ```
//! use trustyconvert_protocol::{ConversionOptions, Format};
//! let options: ConversionOptions =
//!     serde_json::from_str(r#"{"quality": 80, "max_width": 1920}"#).unwrap();
//! assert!(options.check(Format::Png, Format::Webp).is_ok());
//! // PNG is lossless: it has no quality.
//! let refused = options.check(Format::Jpeg, Format::Png).unwrap_err();
//! assert_eq!(refused.option, "quality");
//! // Unknown keys are refused when the body is read.
//! assert!(serde_json::from_str::<ConversionOptions>(r#"{"qualty": 80}"#).is_err());
//! ```

use std::fmt;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::{Format, RASTER_FORMATS};

/// The accepted `quality` values.
pub const QUALITY_RANGE: RangeInclusive<u32> = 1..=100;
/// The largest `max_width` / `max_height`: no output is wider or taller than the
/// largest accepted input.
pub const MAX_DIMENSION: u32 = 20_000;
/// The longest `pages` text accepted.
const MAX_PAGES_TEXT: usize = 200;

/// How to convert, beyond the target format. All fields are optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversionOptions {
    /// 1–100, for lossy outputs: JPEG and WebP (default 75), AVIF (default 50, as
    /// `heif-enc`), the bitrate of MP3, Ogg,
    /// Opus and AAC sound (linear up to the codec's top rate), the constant quality of
    /// MP4, MKV and WebM video. Higher is better and larger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<u32>,
    /// WebP and AVIF: encode without loss (larger; `quality` is then not taken).
    /// Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lossless: Option<bool>,
    /// Largest output width in pixels (image and video outputs), 1–20000. The picture is scaled
    /// down to fit, keeping its aspect ratio; never up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_width: Option<u32>,
    /// Largest output height in pixels (image outputs), 1–20000; as `max_width`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_height: Option<u32>,
    /// PDF inputs: the pages to convert, 1-based, as `1-3,5`. Default: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<String>,
    /// Image to image: keep the picture's EXIF data (camera, time, GPS position) and
    /// colour profile. Default false: metadata is stripped; the orientation is applied
    /// to the pixels either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_metadata: Option<bool>,
}

/// Why an option was refused: which one, and why, in words for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError {
    /// The option's JSON name (`quality`, `max_width`, …).
    pub option: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OptionError {}

impl OptionError {
    fn new(option: &'static str, message: impl Into<String>) -> Self {
        Self {
            option,
            message: message.into(),
        }
    }
}

/// Formats a `quality` applies to: lossy pictures, sound and video.
pub fn takes_quality(target: Format) -> bool {
    matches!(
        target,
        Format::Jpeg
            | Format::Webp
            | Format::Avif
            | Format::Mp3
            | Format::Ogg
            | Format::Opus
            | Format::M4a
            | Format::Mp4
            | Format::Webm
            | Format::Mkv
    )
}

/// The `quality` a picture target gets when none is asked for, as its reference
/// encoder chooses (`cwebp`, `cjpeg`: 75; `heif-enc`: 50). Sound and video have no
/// single number: their default is the codec's usual bitrate or rate factor.
pub fn default_quality(target: Format) -> Option<u32> {
    match target {
        Format::Jpeg | Format::Webp => Some(75),
        Format::Avif => Some(50),
        _ => None,
    }
}

/// Formats that can be written without loss on request (`lossless`).
pub fn takes_lossless(target: Format) -> bool {
    matches!(target, Format::Webp | Format::Avif)
}

/// Outputs a `max_width` / `max_height` applies to: pictures and video.
pub fn takes_max_size(target: Format) -> bool {
    RASTER_FORMATS.contains(&target)
        || matches!(
            target,
            Format::Avif | Format::Mp4 | Format::Webm | Format::Mkv
        )
}

/// Inputs a `pages` selection applies to.
pub fn takes_pages(source: Format) -> bool {
    source == Format::Pdf
}

/// Conversions that can keep a picture's metadata: picture to picture.
pub fn takes_keep_metadata(source: Format, target: Format) -> bool {
    RASTER_FORMATS.contains(&source) && RASTER_FORMATS.contains(&target)
}

impl ConversionOptions {
    /// Whether no option is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Checks every option's value and that the conversion from `source` to `target`
    /// takes it.
    pub fn check(&self, source: Format, target: Format) -> Result<(), OptionError> {
        let not_for = |option: &'static str, what: &str| {
            OptionError::new(option, format!("{option} {what}."))
        };
        if let Some(quality) = self.quality {
            if !QUALITY_RANGE.contains(&quality) {
                return Err(OptionError::new(
                    "quality",
                    format!("quality must be between 1 and 100 (got {quality})."),
                ));
            }
            if !takes_quality(target) {
                return Err(not_for(
                    "quality",
                    &format!("applies to lossy outputs (jpeg, webp, avif, lossy audio and video); {target} is not one"),
                ));
            }
        }
        if self.lossless == Some(true) {
            if !takes_lossless(target) {
                return Err(not_for(
                    "lossless",
                    &format!("applies to webp and avif outputs, not {target}"),
                ));
            }
            if self.quality.is_some() {
                return Err(not_for(
                    "quality",
                    "does not apply to a lossless output; leave out one of quality and lossless",
                ));
            }
        }
        for (option, value) in [
            ("max_width", self.max_width),
            ("max_height", self.max_height),
        ] {
            let Some(value) = value else { continue };
            if value == 0 || value > MAX_DIMENSION {
                return Err(OptionError::new(
                    option,
                    format!("{option} must be between 1 and {MAX_DIMENSION} pixels (got {value})."),
                ));
            }
            if !takes_max_size(target) {
                return Err(not_for(
                    option,
                    &format!("applies to image outputs, not {target}"),
                ));
            }
        }
        if let Some(pages) = &self.pages {
            PageRanges::parse(pages)?;
            if !takes_pages(source) {
                return Err(not_for(
                    "pages",
                    &format!("applies to pdf inputs, not {source}"),
                ));
            }
        }
        if self.keep_metadata == Some(true) && !takes_keep_metadata(source, target) {
            return Err(not_for(
                "keep_metadata",
                &format!(
                    "applies to conversions among png, jpeg, gif, bmp, tiff and webp, not {source} to {target}"
                ),
            ));
        }
        Ok(())
    }

    /// The `pages` selection, if given and well formed.
    pub fn page_ranges(&self) -> Option<PageRanges> {
        self.pages
            .as_deref()
            .and_then(|pages| PageRanges::parse(pages).ok())
    }
}

/// A selection of pages such as `1-3,5`: 1-based, inclusive ranges.
///
/// ```
/// use trustyconvert_protocol::PageRanges;
/// let ranges = PageRanges::parse("1-3, 5").unwrap();
/// assert_eq!(ranges.pages(10).collect::<Vec<_>>(), [1, 2, 3, 5]);
/// assert_eq!(ranges.pages(2).collect::<Vec<_>>(), [1, 2]);
/// assert!(PageRanges::parse("3-1").is_err());
/// assert!(PageRanges::parse("0").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRanges(Vec<RangeInclusive<u32>>);

impl PageRanges {
    /// Reads `1-3,5` (spaces allowed around numbers); refuses page 0, a range that
    /// runs backwards, and text that is too long.
    pub fn parse(text: &str) -> Result<Self, OptionError> {
        let invalid = |why: &str| {
            OptionError::new(
                "pages",
                format!("pages must list page numbers and ranges such as 1-3,5 ({why})."),
            )
        };
        if text.len() > MAX_PAGES_TEXT {
            return Err(invalid(&format!("at most {MAX_PAGES_TEXT} characters")));
        }
        let number = |part: &str| -> Result<u32, OptionError> {
            match part.trim().parse::<u32>() {
                Ok(0) => Err(invalid("pages are numbered from 1")),
                Ok(page) => Ok(page),
                Err(_) => Err(invalid(&format!("{:?} is not a page number", part.trim()))),
            }
        };
        let ranges = text
            .split(',')
            .map(|part| match part.split_once('-') {
                Some((first, last)) => {
                    let (first, last) = (number(first)?, number(last)?);
                    if first > last {
                        return Err(invalid(&format!("{first}-{last} runs backwards")));
                    }
                    Ok(first..=last)
                }
                None => number(part).map(|page| page..=page),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(ranges))
    }

    /// The selected pages of a document of `count` pages, in ascending order, each
    /// once.
    pub fn pages(&self, count: u32) -> impl Iterator<Item = u32> + '_ {
        (1..=count).filter(|page| self.0.iter().any(|range| range.contains(page)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(json: &str) -> ConversionOptions {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn quality_must_be_within_one_to_a_hundred() {
        for bad in [0, 101, 1000] {
            let error = options(&format!(r#"{{"quality":{bad}}}"#))
                .check(Format::Png, Format::Jpeg)
                .unwrap_err();
            assert_eq!(error.option, "quality");
        }
        for good in [1, 75, 100] {
            assert!(options(&format!(r#"{{"quality":{good}}}"#))
                .check(Format::Png, Format::Webp)
                .is_ok());
        }
    }

    #[test]
    fn options_a_conversion_has_no_use_for_are_refused() {
        let refused =
            |json: &str, source, target| options(json).check(source, target).unwrap_err().option;
        assert_eq!(
            refused(r#"{"quality":80}"#, Format::Jpeg, Format::Png),
            "quality"
        );
        assert_eq!(
            refused(r#"{"lossless":true}"#, Format::Png, Format::Jpeg),
            "lossless"
        );
        assert_eq!(
            refused(r#"{"max_width":10}"#, Format::Csv, Format::Json),
            "max_width"
        );
        assert_eq!(
            refused(r#"{"pages":"1"}"#, Format::Png, Format::Jpeg),
            "pages"
        );
        assert_eq!(
            refused(r#"{"keep_metadata":true}"#, Format::Png, Format::Pdf),
            "keep_metadata"
        );
        assert_eq!(
            refused(
                r#"{"lossless":true,"quality":80}"#,
                Format::Png,
                Format::Webp
            ),
            "quality"
        );
    }

    #[test]
    fn false_flags_and_empty_options_are_always_accepted() {
        assert!(options(r#"{"lossless":false,"keep_metadata":false}"#)
            .check(Format::Csv, Format::Json)
            .is_ok());
        assert!(options("{}").is_empty());
    }

    #[test]
    fn sizes_must_be_positive_and_bounded() {
        for json in [r#"{"max_width":0}"#, r#"{"max_height":20001}"#] {
            assert!(options(json).check(Format::Png, Format::Png).is_err());
        }
        assert!(options(r#"{"max_width":1,"max_height":20000}"#)
            .check(Format::Svg, Format::Png)
            .is_ok());
    }

    #[test]
    fn unknown_and_mistyped_options_are_refused_when_read() {
        for json in [
            r#"{"colour":"red"}"#,
            r#"{"quality":"high"}"#,
            r#"{"quality":-1}"#,
        ] {
            assert!(
                serde_json::from_str::<ConversionOptions>(json).is_err(),
                "{json}"
            );
        }
    }

    #[test]
    fn page_ranges_read_lists_and_ranges() {
        let ranges = PageRanges::parse(" 2 , 4-5,4").unwrap();
        assert_eq!(ranges.pages(100).collect::<Vec<_>>(), [2, 4, 5]);
        for bad in ["", "a", "1-", "-2", "1--2", "5-2", "0-3", &"1,".repeat(101)] {
            assert!(PageRanges::parse(bad).is_err(), "{bad:?}");
        }
    }
}
