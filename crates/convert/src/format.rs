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
        Format::Pdf => false,
        Format::Docx | Format::Xlsx | Format::Odt | Format::Ods => head.starts_with(b"PK\x03\x04"),
        Format::Doc => head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]),
        Format::Rtf => head.starts_with(b"{\\rtf"),
        Format::Html => looks_like_text(head) && head.contains(&b'<'),
        Format::Svg => looks_like_text(head) && contains(head, b"<svg"),
        Format::Markdown | Format::Txt | Format::Csv => looks_like_text(head),
        Format::Json => {
            looks_like_text(head)
                && matches!(
                    head.iter().find(|b| !b.is_ascii_whitespace()),
                    Some(b'[' | b'{')
                )
        }
    }
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
}
