//! Raster conversions with the `image` crate (and libwebp for WebP), the
//! decompression-bomb guard, and what the options ask of a picture: its orientation
//! applied, its metadata stripped or kept, scaled down to fit, encoded at a quality.

mod jpeg;
mod webp;

pub use jpeg::strip_metadata as strip_jpeg_metadata;

use std::borrow::Cow;
use std::io::{BufRead, BufReader, BufWriter, Seek, Write as _};
use std::path::Path;

use image::codecs::png::PngEncoder;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{
    DynamicImage, ImageDecoder, ImageEncoder, ImageError, ImageFormat, ImageReader, Limits,
};
use trustyconvert_protocol::ConversionOptions;

use crate::{BudgetWriter, ConversionError, Format};

/// The quality lossy outputs get when none is asked for: `cwebp`'s, `cjpeg`'s and
/// libvips' default.
pub const DEFAULT_QUALITY: u8 = 75;

/// Largest accepted image, in pixels (a tiny file may declare enormous dimensions).
pub const MAX_PIXELS: u64 = 50_000_000;
/// Largest accepted side, in pixels.
pub const MAX_SIDE: u32 = 20_000;

fn image_format(format: Format) -> Option<ImageFormat> {
    Some(match format {
        Format::Png => ImageFormat::Png,
        Format::Jpeg => ImageFormat::Jpeg,
        Format::Gif => ImageFormat::Gif,
        Format::Bmp => ImageFormat::Bmp,
        Format::Tiff => ImageFormat::Tiff,
        Format::Webp => ImageFormat::WebP,
        _ => return None,
    })
}

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_PIXELS * 4 + (64 << 20));
    limits
}

/// `reader` for `format` under the limits.
fn limited<R: BufRead + Seek>(
    mut reader: ImageReader<R>,
    format: Format,
) -> Result<ImageReader<R>, ConversionError> {
    reader.set_format(image_format(format).ok_or(ConversionError::Unsupported)?);
    reader.limits(limits());
    Ok(reader)
}

/// Reads only the header of the image in `source` and refuses images whose declared
/// size is too large or that cannot be parsed at all. Returns the dimensions.
pub fn check_dimensions<R: BufRead + Seek>(
    source: R,
    format: Format,
) -> Result<(u32, u32), ConversionError> {
    let (width, height) = limited(ImageReader::new(source), format)?
        .into_dimensions()
        .map_err(|error| {
            ConversionError::Invalid(format!("not a readable {} image ({error})", format.name()))
        })?;
    check_pixels(width, height)?;
    Ok((width, height))
}

/// Refuses an image (or a drawing about to be rendered) with no pixels or too many.
pub fn check_pixels(width: u32, height: u32) -> Result<(), ConversionError> {
    if width == 0 || height == 0 {
        return Err(ConversionError::Invalid("the image has no pixels".into()));
    }
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ConversionError::Invalid(format!(
            "the image is too large ({width}×{height} pixels; at most {MAX_SIDE} per side and {MAX_PIXELS} in total)"
        )));
    }
    Ok(())
}

/// A decoded picture and the metadata it came with.
pub struct Picture {
    /// The pixels, upright (the EXIF orientation applied).
    pub pixels: DynamicImage,
    /// The metadata to write out again (empty unless it is to be kept).
    pub metadata: Metadata,
}

/// Metadata carried from the input to the output when `keep_metadata` asks for it.
#[derive(Debug, Default)]
pub struct Metadata {
    /// The colour profile.
    pub icc: Option<Vec<u8>>,
    /// The EXIF block (a TIFF structure), its orientation reset to "upright" since the
    /// pixels already are.
    pub exif: Option<Vec<u8>>,
}

/// Decodes an image within the limits, turned upright by its EXIF orientation. Its
/// colour profile and EXIF block are read only if `keep_metadata`.
pub fn decode(
    path: &Path,
    format: Format,
    keep_metadata: bool,
) -> Result<Picture, ConversionError> {
    let open = || {
        std::fs::File::open(path)
            .map(BufReader::new)
            .map_err(ConversionError::Io)
    };
    let unreadable = |error: ImageError| {
        ConversionError::Invalid(format!(
            "the {} image cannot be decoded ({error})",
            format.name()
        ))
    };
    check_dimensions(open()?, format)?;
    let mut decoder = limited(ImageReader::new(open()?), format)?
        .into_decoder()
        .map_err(unreadable)?;
    let mut exif = decoder.exif_metadata().ok().flatten();
    let orientation = match exif.as_deref_mut() {
        Some(exif) => Orientation::remove_from_exif_chunk(exif),
        None => decoder.orientation().ok(),
    };
    let metadata = match keep_metadata {
        true => Metadata {
            icc: decoder.icc_profile().ok().flatten(),
            exif,
        },
        false => Metadata::default(),
    };
    let mut pixels = DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    if let Some(orientation) = orientation {
        pixels.apply_orientation(orientation);
    }
    Ok(Picture { pixels, metadata })
}

/// Decodes an image within the limits as its pixels are stored, ignoring any EXIF
/// orientation (for pictures another decoder has already turned upright).
pub fn decode_as_stored(path: &Path, format: Format) -> Result<DynamicImage, ConversionError> {
    let open = || {
        std::fs::File::open(path)
            .map(BufReader::new)
            .map_err(ConversionError::Io)
    };
    check_dimensions(open()?, format)?;
    limited(ImageReader::new(open()?), format)?
        .decode()
        .map_err(|error| {
            ConversionError::Invalid(format!(
                "the {} image cannot be decoded ({error})",
                format.name()
            ))
        })
}

/// `image` scaled down (never up) to fit within `max_width` × `max_height`, keeping
/// its aspect ratio; borrowed as it is when it fits or no bound is given.
pub fn fit_within(
    image: &DynamicImage,
    max_width: Option<u32>,
    max_height: Option<u32>,
) -> Cow<'_, DynamicImage> {
    let (width, height) = (image.width(), image.height());
    let (max_width, max_height) = (max_width.unwrap_or(width), max_height.unwrap_or(height));
    if width <= max_width && height <= max_height {
        return Cow::Borrowed(image);
    }
    let (fitted_width, fitted_height) = fitted_size(width, height, max_width, max_height);
    // Catmull-Rom: as sharp as Lanczos for downscaling photos, at a fraction of the cost.
    Cow::Owned(image.resize_exact(fitted_width, fitted_height, FilterType::CatmullRom))
}

/// The largest size with the aspect ratio of `width` × `height` that fits the bounds
/// (at least one pixel per side).
pub fn fitted_size(width: u32, height: u32, max_width: u32, max_height: u32) -> (u32, u32) {
    let scale = f64::min(
        f64::from(max_width) / f64::from(width),
        f64::from(max_height) / f64::from(height),
    )
    .min(1.0);
    let side = |length: u32| ((f64::from(length) * scale).round() as u32).max(1);
    (side(width), side(height))
}

/// How to encode: the quality for lossy outputs, lossless WebP, and the metadata to
/// write.
#[derive(Debug, Default)]
pub struct Encoding<'a> {
    /// 1–100; [`DEFAULT_QUALITY`] when `None`.
    pub quality: Option<u8>,
    /// WebP without loss.
    pub lossless: bool,
    /// Written where the target can carry it (JPEG, PNG, WebP).
    pub metadata: Option<&'a Metadata>,
}

impl<'a> Encoding<'a> {
    /// The encoding `options` ask for, with `metadata` if they keep it.
    pub fn from_options(options: &ConversionOptions, metadata: &'a Metadata) -> Self {
        Self {
            quality: options.quality.map(|quality| quality.clamp(1, 100) as u8),
            lossless: options.lossless.unwrap_or(false),
            metadata: options.keep_metadata.unwrap_or(false).then_some(metadata),
        }
    }
}

/// Encodes `image` as `target` into `out`, dropping alpha where the format has none.
pub fn encode(
    image: &DynamicImage,
    target: Format,
    encoding: &Encoding<'_>,
    out: &mut BudgetWriter<'_>,
) -> Result<(), ConversionError> {
    let format = image_format(target).ok_or(ConversionError::Unsupported)?;
    let failed = |error: ImageError| {
        ConversionError::Failed(format!("encoding {} failed ({error})", target.name()))
    };
    // A copy of the pixels only where the target needs other ones.
    let prepared = match target {
        Format::Jpeg | Format::Bmp if image.color().has_alpha() => {
            Cow::Owned(DynamicImage::ImageRgb8(image.to_rgb8()))
        }
        Format::Jpeg | Format::Bmp | Format::Tiff | Format::Webp | Format::Gif => match image {
            DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => Cow::Borrowed(image),
            other if other.color().has_alpha() => {
                Cow::Owned(DynamicImage::ImageRgba8(other.to_rgba8()))
            }
            other => Cow::Owned(DynamicImage::ImageRgb8(other.to_rgb8())),
        },
        _ => Cow::Borrowed(image),
    };
    match target {
        Format::Webp => return webp::encode(&prepared, encoding, out),
        Format::Jpeg => {
            let mut buffered = BufWriter::with_capacity(64 * 1024, out);
            jpeg::encode(&prepared, encoding, &mut buffered)?;
            return buffered.flush().map_err(|error| {
                ConversionError::Failed(format!("encoding jpeg failed ({error})"))
            });
        }
        _ => {}
    }
    // Encoders write a few bytes at a time; the buffer spares the budget a check each.
    let mut buffered = BufWriter::with_capacity(64 * 1024, out);
    match target {
        Format::Png => prepared.write_with_encoder(with_metadata(
            PngEncoder::new(&mut buffered),
            encoding.metadata,
        )),
        _ => prepared.write_to(&mut buffered, format),
    }
    .and_then(|()| buffered.flush().map_err(ImageError::IoError))
    .map_err(failed)
}

/// `encoder` with `metadata` set on it (each part the encoder can carry).
fn with_metadata<E: ImageEncoder>(mut encoder: E, metadata: Option<&Metadata>) -> E {
    if let Some(metadata) = metadata {
        // PNG carries both; an encoder that cannot simply writes without.
        if let Some(icc) = &metadata.icc {
            let _ = encoder.set_icc_profile(icc.clone());
        }
        if let Some(exif) = &metadata.exif {
            let _ = encoder.set_exif_metadata(exif.clone());
        }
    }
    encoder
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting_keeps_the_aspect_ratio_and_never_enlarges() {
        assert_eq!(fitted_size(4000, 3000, 1000, 1000), (1000, 750));
        assert_eq!(fitted_size(3000, 4000, 20_000, 1000), (750, 1000));
        assert_eq!(fitted_size(400, 300, 1000, 1000), (400, 300));
        assert_eq!(fitted_size(10_000, 1, 100, 100), (100, 1));
    }
}
