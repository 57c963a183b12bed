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

/// `jpeg` without its metadata segments — EXIF and XMP (APP1, where a camera puts
/// the GPS position), IPTC (APP13) and comments — keeping everything else (JFIF, the
/// colour profile, the picture). `None` if it is not a well-formed JPEG.
pub fn strip_metadata(jpeg: &[u8]) -> Option<Vec<u8>> {
    const APP1: u8 = 0xE1;
    const APP13: u8 = 0xED;
    const COMMENT: u8 = 0xFE;
    const START_OF_SCAN: u8 = 0xDA;
    let mut kept = jpeg.get(..2).filter(|soi| *soi == [0xFF, 0xD8])?.to_vec();
    let mut rest = &jpeg[2..];
    loop {
        let marker = *rest.get(1).filter(|_| rest.first() == Some(&0xFF))?;
        // From the start of the scan on: the picture, kept whole.
        if marker == START_OF_SCAN {
            kept.extend_from_slice(rest);
            return Some(kept);
        }
        let length = usize::from(u16::from_be_bytes([*rest.get(2)?, *rest.get(3)?]));
        let segment = rest.get(..2 + length)?;
        if !matches!(marker, APP1 | APP13 | COMMENT) {
            kept.extend_from_slice(segment);
        }
        rest = &rest[2 + length..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_segments_go_and_the_picture_stays() {
        let picture = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            16,
            8,
            image::Rgb([200, 30, 30]),
        ));
        let mut with_exif = Vec::new();
        let mut encoder = image::codecs::jpeg::JpegEncoder::new(&mut with_exif);
        use image::ImageEncoder as _;
        encoder
            .set_exif_metadata(b"II*\0GPS here".to_vec())
            .unwrap();
        encoder.set_icc_profile(b"a profile".to_vec()).unwrap();
        encoder
            .write_image(picture.as_bytes(), 16, 8, image::ExtendedColorType::Rgb8)
            .unwrap();
        let stripped = strip_metadata(&with_exif).unwrap();
        assert!(with_exif.windows(8).any(|w| w == b"GPS here"));
        assert!(
            !stripped.windows(8).any(|w| w == b"GPS here"),
            "EXIF removed"
        );
        assert!(
            stripped.windows(9).any(|w| w == b"a profile"),
            "colour profile kept"
        );
        let decoded =
            image::load_from_memory_with_format(&stripped, image::ImageFormat::Jpeg).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (16, 8));
        assert_eq!(strip_metadata(b"not a jpeg"), None);
        assert_eq!(strip_metadata(&with_exif[..40]), None, "cut short");
    }
}
