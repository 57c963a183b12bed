//! What this crate knows about formats beyond their names: their magic bytes. Names,
//! aliases, extensions and MIME types live in the protocol crate's [`Format`]; which
//! conversions exist, in the engines.

pub use trustyconvert_protocol::RASTER_FORMATS;

use crate::Format;

/// Whether `head` (the first bytes of a file) looks like this format. Text formats
/// must be UTF-8 without NUL bytes; JSON must also start like a document.
pub fn matches_magic(format: Format, head: &[u8]) -> bool {
    match format {
        Format::Png => head.starts_with(b"\x89PNG\r\n\x1a\n"),
        Format::Jpeg => head.starts_with(&[0xFF, 0xD8, 0xFF]),
        Format::Gif => head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a"),
        Format::Bmp => head.starts_with(b"BM"),
        Format::Tiff => head.starts_with(b"II*\0") || head.starts_with(b"MM\0*"),
        Format::Webp => head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP",
        Format::Heic => iso_brand(
            head,
            &[
                b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1",
            ],
        ),
        Format::Avif => iso_brand(head, &[b"avif", b"avis"]),
        Format::Pdf => head.starts_with(b"%PDF-"),
        Format::Docx
        | Format::Xlsx
        | Format::Pptx
        | Format::Odt
        | Format::Ods
        | Format::Odp
        | Format::Epub
        | Format::Zip => head.starts_with(b"PK\x03\x04"),
        Format::Doc => head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]),
        Format::Rtf => head.starts_with(b"{\\rtf"),
        Format::Html => looks_like_text(head) && head.contains(&b'<'),
        Format::Svg => looks_like_text(head) && contains(head, b"<svg"),
        Format::Markdown | Format::Txt | Format::Csv | Format::Rst | Format::Org => {
            looks_like_text(head)
        }
        Format::Latex => looks_like_text(head) && head.contains(&b'\\'),
        // MPEG audio: an ID3 tag, or a frame header's sync bits.
        Format::Mp3 => {
            head.starts_with(b"ID3")
                || (head.len() >= 2 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0)
        }
        Format::Wav => riff(head, b"WAVE"),
        Format::Avi => riff(head, b"AVI "),
        Format::Flac => head.starts_with(b"fLaC"),
        Format::Ogg | Format::Opus => head.starts_with(b"OggS"),
        // ISO base media: a box whose type is `ftyp` (QuickTime also starts with others).
        Format::M4a | Format::Mp4 => head.get(4..8) == Some(b"ftyp".as_slice()),
        Format::Mov => matches!(
            head.get(4..8),
            Some(b"ftyp" | b"moov" | b"mdat" | b"wide" | b"free" | b"skip")
        ),
        // EBML, the container of Matroska and WebM.
        Format::Webm | Format::Mkv => head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]),
        Format::Json => {
            looks_like_text(head)
                && matches!(
                    head.iter().find(|b| !b.is_ascii_whitespace()),
                    Some(b'[' | b'{')
                )
        }
    }
}

/// A RIFF file of `kind` (`WAVE`, `AVI `).
fn riff(head: &[u8], kind: &[u8; 4]) -> bool {
    head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == kind
}

/// An ISO base media file (HEIF) whose `ftyp` box names one of `brands`, as its major
/// brand or a compatible one.
fn iso_brand(head: &[u8], brands: &[&[u8; 4]]) -> bool {
    let Some(size) = head
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    else {
        return false;
    };
    if head.get(4..8) != Some(b"ftyp".as_slice()) || size < 16 {
        return false;
    }
    let ftyp = &head[..size.min(head.len())];
    // Major brand at 8, minor version at 12, compatible brands from 16.
    std::iter::once(&ftyp[8..12])
        .chain(ftyp.get(16..).unwrap_or(&[]).chunks_exact(4))
        .any(|brand| brands.iter().any(|wanted| brand == wanted.as_slice()))
}

/// UTF-8 (allowing a sequence cut at the end of the sample) and no NUL bytes.
fn looks_like_text(head: &[u8]) -> bool {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    if head.is_empty() || head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(error) => error.error_len().is_none() && head.len() - error.valid_up_to() < 4,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_are_checked() {
        assert!(matches_magic(Format::Png, b"\x89PNG\r\n\x1a\nrest"));
        assert!(!matches_magic(Format::Png, b"GIF89a"));
        assert!(matches_magic(Format::Json, b"  [{\"a\":1}]"));
        assert!(!matches_magic(Format::Json, b"hello"));
        assert!(!matches_magic(Format::Txt, b"\x89PNG\r\n\x1a\n\0\0"));
        assert!(matches_magic(Format::Txt, "héllo".as_bytes()));
        assert!(matches_magic(Format::Rtf, b"{\\rtf1\\ansi hello}"));
        assert!(matches_magic(Format::Docx, b"PK\x03\x04rest"));
        assert!(!matches_magic(Format::Docx, b"{\\rtf1"));
        assert!(matches_magic(
            Format::Svg,
            b"<?xml version=\"1.0\"?>\n<svg xmlns=\"x\"/>"
        ));
        assert!(!matches_magic(Format::Svg, b"<html></html>"));
        assert!(
            matches_magic(Format::Txt, &"é".as_bytes()[..1]),
            "a cut sequence at the end is fine"
        );
    }

    #[test]
    fn media_and_heif_signatures_are_told_apart() {
        let ftyp = |major: &[u8; 4], compatible: &[u8; 4]| {
            let mut head = 24u32.to_be_bytes().to_vec();
            head.extend_from_slice(b"ftyp");
            head.extend_from_slice(major);
            head.extend_from_slice(&[0; 4]);
            head.extend_from_slice(b"mif1");
            head.extend_from_slice(compatible);
            head
        };
        assert!(matches_magic(Format::Heic, &ftyp(b"heic", b"heic")));
        assert!(matches_magic(Format::Avif, &ftyp(b"avif", b"miaf")));
        assert!(!matches_magic(Format::Avif, &ftyp(b"heic", b"heic")));
        assert!(!matches_magic(Format::Heic, &ftyp(b"isom", b"avc1")[..12]));
        assert!(matches_magic(Format::Mp4, &ftyp(b"isom", b"avc1")));
        assert!(matches_magic(Format::Mp3, b"ID3\x04\0"));
        assert!(matches_magic(Format::Mp3, &[0xFF, 0xFB, 0x90]));
        assert!(!matches_magic(Format::Mp3, b"RIFF"));
        assert!(matches_magic(Format::Wav, b"RIFF\0\0\0\0WAVEfmt "));
        assert!(!matches_magic(Format::Avi, b"RIFF\0\0\0\0WAVEfmt "));
        assert!(matches_magic(Format::Webm, &[0x1A, 0x45, 0xDF, 0xA3, 0x9F]));
        assert!(matches_magic(Format::Opus, b"OggS\0\x02"));
        assert!(matches_magic(Format::Pdf, b"%PDF-1.7\n"));
        assert!(matches_magic(Format::Latex, b"\\documentclass{article}"));
        assert!(!matches_magic(Format::Latex, b"plain words"));
    }
}
