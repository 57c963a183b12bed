//! The conversion options of `convert`: `--quality`, `--lossless`, `--max-size WxH`,
//! `--pages`, `--keep-metadata`, read into the protocol's [`ConversionOptions`] (the
//! same checks apply here, on a server, and in the page).

use clap::Args;
use trustyconvert_client::protocol::{ConversionOptions, MAX_DIMENSION};

/// How to convert, beyond the target format.
#[derive(Debug, Default, Args)]
pub struct OptionArgs {
    /// Quality of lossy outputs (jpeg, webp), 1–100 [default: 75, as cwebp and cjpeg].
    #[arg(long, value_name = "1-100", value_parser = clap::value_parser!(u32).range(1..=100))]
    quality: Option<u32>,
    /// WebP: encode without loss (larger files).
    #[arg(long, conflicts_with = "quality")]
    lossless: bool,
    /// Scale pictures down to fit WIDTHxHEIGHT pixels, keeping the aspect ratio
    /// (`1920x1080`; `1920x` or `x1080` bound one side).
    #[arg(long, value_name = "WxH", value_parser = parse_max_size)]
    max_size: Option<MaxSize>,
    /// PDF inputs: the pages to convert, such as `1-3,5`.
    #[arg(long, value_name = "PAGES")]
    pages: Option<String>,
    /// Pictures: keep EXIF data (camera, time, GPS position) and the colour profile,
    /// which are stripped by default.
    #[arg(long)]
    keep_metadata: bool,
}

/// A `--max-size` bound: width, height, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxSize {
    width: Option<u32>,
    height: Option<u32>,
}

fn parse_max_size(text: &str) -> Result<MaxSize, String> {
    let (width, height) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("expected WIDTHxHEIGHT, such as 1920x1080 (got {text:?})"))?;
    let side = |part: &str, name: &str| -> Result<Option<u32>, String> {
        if part.is_empty() {
            return Ok(None);
        }
        match part.parse::<u32>() {
            Ok(value) if (1..=MAX_DIMENSION).contains(&value) => Ok(Some(value)),
            _ => Err(format!(
                "the {name} must be 1 to {MAX_DIMENSION} pixels (got {part:?})"
            )),
        }
    };
    let size = MaxSize {
        width: side(width, "width")?,
        height: side(height, "height")?,
    };
    if size
        == (MaxSize {
            width: None,
            height: None,
        })
    {
        return Err("give a width, a height or both, such as 1920x1080".into());
    }
    Ok(size)
}

impl OptionArgs {
    /// The options as the API takes them; flags not given are left out.
    pub fn to_options(&self) -> ConversionOptions {
        ConversionOptions {
            quality: self.quality,
            lossless: self.lossless.then_some(true),
            max_width: self.max_size.and_then(|size| size.width),
            max_height: self.max_size.and_then(|size| size.height),
            pages: self.pages.clone(),
            keep_metadata: self.keep_metadata.then_some(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_size_reads_both_sides_or_one() {
        let size = |w, h| MaxSize {
            width: w,
            height: h,
        };
        assert_eq!(
            parse_max_size("1920x1080"),
            Ok(size(Some(1920), Some(1080)))
        );
        assert_eq!(parse_max_size("800x"), Ok(size(Some(800), None)));
        assert_eq!(parse_max_size("X600"), Ok(size(None, Some(600))));
        for bad in ["x", "1920", "0x10", "axb", "20001x5", "-5x5"] {
            assert!(parse_max_size(bad).is_err(), "{bad}");
        }
    }
}
