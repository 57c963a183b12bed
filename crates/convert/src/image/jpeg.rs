//! JPEG output with `jpeg-encoder`, set up as libjpeg's `cjpeg` encodes by default:
//! the standard (Annex K) tables scaled by quality, 4:2:0 chroma averaged over each
//! block. The `image` crate's own encoder keeps full-resolution chroma, which makes a
//! photo about half again as large at the same quality.

use std::io::Write;

use image::DynamicImage;
use jpeg_encoder::{ChromaSubsamplingMethod, ColorType, Encoder, SamplingFactor};

use super::{Encoding, DEFAULT_QUALITY};
use crate::ConversionError;

/// Encodes `image` (RGB8; pictures with alpha or other layouts are converted by the
/// caller) as JPEG into `out`.
pub fn encode(
    image: &DynamicImage,
    encoding: &Encoding<'_>,
    out: impl Write,
) -> Result<(), ConversionError> {
    let failed = |why: String| ConversionError::Failed(format!("encoding jpeg failed ({why})"));
    let DynamicImage::ImageRgb8(rgb) = image else {
        return Err(failed("unexpected pixel layout".into()));
    };
    let side = |length: u32| u16::try_from(length).map_err(|_| failed("too large for JPEG".into()));
    let (width, height) = (side(rgb.width())?, side(rgb.height())?);
    let mut encoder = Encoder::new(out, encoding.quality.unwrap_or(DEFAULT_QUALITY));
    encoder.set_sampling_factor(SamplingFactor::F_2_2);
    encoder.set_chroma_subsampling_method(ChromaSubsamplingMethod::Average);
    if let Some(metadata) = encoding.metadata {
        // A block too large for its JPEG segment (64 KiB) is left out, not an error.
        if let Some(icc) = &metadata.icc {
            let _ = encoder.add_icc_profile(icc);
        }
        if let Some(exif) = &metadata.exif {
            let _ = encoder.add_exif_metadata(exif);
        }
    }
    encoder
        .encode(rgb.as_raw(), width, height, ColorType::Rgb)
        .map_err(|error| failed(error.to_string()))
}
