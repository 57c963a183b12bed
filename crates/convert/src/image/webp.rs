//! WebP output through libwebp, the reference encoder: lossy at `cwebp`'s defaults
//! (quality 75, method 4) unless a quality or `lossless` is asked for, so that a
//! picture converted here is as small as `cwebp` makes it. The `image` crate's own
//! WebP encoder is lossless only.
//!
//! libwebp writes no metadata; when it is kept, the colour profile and the EXIF block
//! are added to its output as `ICCP` and `EXIF` chunks of the extended format (a
//! `VP8X` header). That is written here because libwebp's own muxer is not part of
//! the bindings used, and the container is a handful of RIFF chunks.

use std::io::Write as _;

use image::DynamicImage;
use webp::{Encoder, PixelLayout, WebPConfig};

use super::{Encoding, Metadata, DEFAULT_QUALITY};
use crate::{BudgetWriter, ConversionError};

/// `VP8X` flag: the file carries a colour profile.
const ICC_FLAG: u8 = 0x20;
/// `VP8X` flag: some pixel is not opaque.
const ALPHA_FLAG: u8 = 0x10;
/// `VP8X` flag: the file carries EXIF data.
const EXIF_FLAG: u8 = 0x08;

/// Encodes `image` (RGB8 or RGBA8) as WebP into `out`.
pub fn encode(
    image: &DynamicImage,
    encoding: &Encoding<'_>,
    out: &mut BudgetWriter<'_>,
) -> Result<(), ConversionError> {
    let failed = |why: String| ConversionError::Failed(format!("encoding webp failed ({why})"));
    let (layout, pixels) = match image {
        DynamicImage::ImageRgb8(rgb) => (PixelLayout::Rgb, rgb.as_raw()),
        DynamicImage::ImageRgba8(rgba) => (PixelLayout::Rgba, rgba.as_raw()),
        _ => return Err(failed("unexpected pixel layout".into())),
    };
    let mut config = WebPConfig::new().map_err(|()| failed("libwebp version mismatch".into()))?;
    config.lossless = i32::from(encoding.lossless);
    // For lossless output the "quality" is the effort spent on compression, as in
    // `cwebp -lossless`; the default effort is the same 75.
    config.quality = f32::from(encoding.quality.unwrap_or(DEFAULT_QUALITY));
    let encoded = Encoder::new(pixels, layout, image.width(), image.height())
        .encode_advanced(&config)
        .map_err(|error| failed(format!("{error:?}")))?;
    let written = match encoding.metadata {
        Some(metadata) if metadata.icc.is_some() || metadata.exif.is_some() => out.write_all(
            &with_metadata(
                &encoded,
                metadata,
                image.width(),
                image.height(),
                image.color().has_alpha(),
            )
            .ok_or_else(|| failed("unexpected container".into()))?,
        ),
        _ => out.write_all(&encoded),
    };
    written.map_err(|error| failed(error.to_string()))
}

/// One RIFF chunk of a WebP file.
struct Chunk<'a> {
    fourcc: [u8; 4],
    payload: &'a [u8],
}

/// The chunks of a WebP file, or `None` if it is not one.
fn chunks(file: &[u8]) -> Option<Vec<Chunk<'_>>> {
    if file.len() < 12 || &file[..4] != b"RIFF" || &file[8..12] != b"WEBP" {
        return None;
    }
    let mut rest = &file[12..];
    let mut found = Vec::new();
    while !rest.is_empty() {
        let fourcc: [u8; 4] = rest.get(..4)?.try_into().ok()?;
        let size = u32::from_le_bytes(rest.get(4..8)?.try_into().ok()?) as usize;
        let payload = rest.get(8..8 + size)?;
        found.push(Chunk { fourcc, payload });
        let padded = 8 + size + (size & 1);
        rest = rest.get(padded..).unwrap_or(&[]);
    }
    Some(found)
}

/// `encoded` (libwebp's output) rewritten in the extended format with `metadata`:
/// `VP8X`, `ICCP`, the image chunks as they were, `EXIF`.
fn with_metadata(
    encoded: &[u8],
    metadata: &Metadata,
    width: u32,
    height: u32,
    has_alpha: bool,
) -> Option<Vec<u8>> {
    let parts = chunks(encoded)?;
    let (mut flags, image_chunks) = match parts.first() {
        Some(first) if &first.fourcc == b"VP8X" => (*first.payload.first()?, &parts[1..]),
        _ => (if has_alpha { ALPHA_FLAG } else { 0 }, &parts[..]),
    };
    if metadata.icc.is_some() {
        flags |= ICC_FLAG;
    }
    if metadata.exif.is_some() {
        flags |= EXIF_FLAG;
    }
    let mut header = [0u8; 10];
    header[0] = flags;
    header[4..7].copy_from_slice(&(width - 1).to_le_bytes()[..3]);
    header[7..10].copy_from_slice(&(height - 1).to_le_bytes()[..3]);
    let mut body = b"WEBP".to_vec();
    let mut put = |fourcc: &[u8; 4], payload: &[u8]| {
        body.extend_from_slice(fourcc);
        body.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        body.extend_from_slice(payload);
        if payload.len() % 2 == 1 {
            body.push(0);
        }
    };
    put(b"VP8X", &header);
    if let Some(icc) = &metadata.icc {
        put(b"ICCP", icc);
    }
    for chunk in image_chunks {
        put(&chunk.fourcc, chunk.payload);
    }
    if let Some(exif) = &metadata.exif {
        put(b"EXIF", exif);
    }
    let mut file = b"RIFF".to_vec();
    file.extend_from_slice(&(body.len() as u32).to_le_bytes());
    file.extend_from_slice(&body);
    Some(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_metadata_goes_into_an_extended_webp_that_decoders_read() {
        let picture = DynamicImage::ImageRgb8(image::RgbImage::from_fn(31, 17, |x, y| {
            image::Rgb([(x * 8) as u8, (y * 15) as u8, 99])
        }));
        let DynamicImage::ImageRgb8(rgb) = &picture else {
            unreachable!()
        };
        let encoded = Encoder::new(rgb.as_raw(), PixelLayout::Rgb, 31, 17).encode(75.0);
        let metadata = Metadata {
            icc: Some(b"not really a profile".to_vec()),
            exif: Some(b"II*\0odd".to_vec()),
        };
        let file = with_metadata(&encoded, &metadata, 31, 17, false).unwrap();
        let parts = chunks(&file).unwrap();
        let names: Vec<&[u8; 4]> = parts.iter().map(|chunk| &chunk.fourcc).collect();
        assert_eq!(names, [b"VP8X", b"ICCP", b"VP8 ", b"EXIF"]);
        assert_eq!(parts[0].payload[0], ICC_FLAG | EXIF_FLAG);
        assert_eq!(parts[3].payload, b"II*\0odd");
        let mut decoder =
            image::codecs::webp::WebPDecoder::new(std::io::Cursor::new(&file)).unwrap();
        use image::ImageDecoder as _;
        assert_eq!(decoder.dimensions(), (31, 17));
        assert_eq!(
            decoder.icc_profile().unwrap().unwrap(),
            b"not really a profile"
        );
        assert_eq!(decoder.exif_metadata().unwrap().unwrap(), b"II*\0odd");
    }
}
