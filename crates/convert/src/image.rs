//! Raster conversions with the `image` crate, and the decompression-bomb guard.

use std::borrow::Cow;
use std::io::{BufRead, BufReader, BufWriter, Seek, Write as _};
use std::path::Path;

use image::{DynamicImage, ImageError, ImageFormat, ImageReader, Limits};

use crate::{BudgetWriter, ConversionError, Format};

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

/// Decodes an image within the limits.
pub fn decode(path: &Path, format: Format) -> Result<DynamicImage, ConversionError> {
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

/// Encodes `image` as `target` into `out`, dropping alpha where the format has none.
pub fn encode(
    image: &DynamicImage,
    target: Format,
    out: &mut BudgetWriter<'_>,
) -> Result<(), ConversionError> {
    let format = image_format(target).ok_or(ConversionError::Unsupported)?;
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
    // Encoders write a few bytes at a time; the buffer spares the budget a check each.
    let mut buffered = BufWriter::with_capacity(64 * 1024, out);
    prepared
        .write_to(&mut buffered, format)
        .and_then(|()| buffered.flush().map_err(ImageError::IoError))
        .map_err(|error| {
            ConversionError::Failed(format!("encoding {} failed ({error})", target.name()))
        })
}
