//! The formats this build converts, their names, MIME types and magic bytes.

use serde::Serialize;

/// A file format the service reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Portable Network Graphics.
    Png,
    /// JPEG (also accepted as `jpg`).
    Jpeg,
    /// GIF.
    Gif,
    /// Windows bitmap.
    Bmp,
    /// TIFF.
    Tiff,
    /// WebP.
    Webp,
    /// PDF (output only).
    Pdf,
    /// Markdown.
    Markdown,
    /// HTML (output only).
    Html,
    /// Plain text.
    Txt,
    /// Comma-separated values.
    Csv,
    /// JSON.
    Json,
}

/// Raster image formats, readable and writable among each other.
pub const RASTER: [Format; 6] = [
    Format::Png,
    Format::Jpeg,
    Format::Gif,
    Format::Bmp,
    Format::Tiff,
    Format::Webp,
];

impl Format {
    /// Parses a format name or file extension (case-insensitive; `jpg`, `tif`, `md` too).
    pub fn parse(name: &str) -> Option<Self> {
        Some(
            match name
                .trim()
                .trim_start_matches('.')
                .to_ascii_lowercase()
                .as_str()
            {
                "png" => Self::Png,
                "jpeg" | "jpg" => Self::Jpeg,
                "gif" => Self::Gif,
                "bmp" => Self::Bmp,
                "tiff" | "tif" => Self::Tiff,
                "webp" => Self::Webp,
                "pdf" => Self::Pdf,
                "md" | "markdown" => Self::Markdown,
                "html" | "htm" => Self::Html,
                "txt" | "text" => Self::Txt,
                "csv" => Self::Csv,
                "json" => Self::Json,
                _ => return None,
            },
        )
    }

    /// The format a MIME type names (parameters ignored), for uploads whose file name
    /// has no usable extension.
    pub fn from_mime(mime: &str) -> Option<Self> {
        let essence = mime
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        Some(match essence.as_str() {
            "image/png" => Self::Png,
            "image/jpeg" | "image/jpg" | "image/pjpeg" => Self::Jpeg,
            "image/gif" => Self::Gif,
            "image/bmp" | "image/x-bmp" | "image/x-ms-bmp" => Self::Bmp,
            "image/tiff" => Self::Tiff,
            "image/webp" => Self::Webp,
            "text/markdown" | "text/x-markdown" => Self::Markdown,
            "text/plain" => Self::Txt,
            "text/csv" => Self::Csv,
            "application/json" => Self::Json,
            _ => return None,
        })
    }

    /// The canonical name (`jpeg`, `markdown`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpeg",
            Self::Gif => "gif",
            Self::Bmp => "bmp",
            Self::Tiff => "tiff",
            Self::Webp => "webp",
            Self::Pdf => "pdf",
            Self::Markdown => "markdown",
            Self::Html => "html",
            Self::Txt => "txt",
            Self::Csv => "csv",
            Self::Json => "json",
        }
    }

    /// The file extension of outputs.
    pub const fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Markdown => "md",
            other => other.name(),
        }
    }

    /// The `Content-Type` of a file in this format.
    pub const fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Gif => "image/gif",
            Self::Bmp => "image/bmp",
            Self::Tiff => "image/tiff",
            Self::Webp => "image/webp",
            Self::Pdf => "application/pdf",
            Self::Markdown => "text/markdown; charset=utf-8",
            Self::Html => "text/html; charset=utf-8",
            Self::Txt => "text/plain; charset=utf-8",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Json => "application/json",
        }
    }

    /// Whether this is a raster image format.
    pub fn is_raster(self) -> bool {
        RASTER.contains(&self)
    }

    /// Whether `head` (the first bytes of a file) looks like this format. Text formats
    /// must be UTF-8 without NUL bytes; JSON must also start like a document.
    pub fn matches_magic(self, head: &[u8]) -> bool {
        match self {
            Self::Png => head.starts_with(b"\x89PNG\r\n\x1a\n"),
            Self::Jpeg => head.starts_with(&[0xFF, 0xD8, 0xFF]),
            Self::Gif => head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a"),
            Self::Bmp => head.starts_with(b"BM"),
            Self::Tiff => head.starts_with(b"II*\0") || head.starts_with(b"MM\0*"),
            Self::Webp => head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP",
            Self::Pdf | Self::Html => false,
            Self::Markdown | Self::Txt | Self::Csv => looks_like_text(head),
            Self::Json => {
                looks_like_text(head)
                    && matches!(
                        head.iter().find(|b| !b.is_ascii_whitespace()),
                        Some(b'[' | b'{')
                    )
            }
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

/// The targets each source converts to; exactly what [`super::convert`] performs.
pub fn targets(source: Format) -> &'static [Format] {
    const IMAGE_TARGETS: [Format; 7] = [
        Format::Png,
        Format::Jpeg,
        Format::Gif,
        Format::Bmp,
        Format::Tiff,
        Format::Webp,
        Format::Pdf,
    ];
    match source {
        s if s.is_raster() => &IMAGE_TARGETS,
        Format::Markdown => &[Format::Html, Format::Pdf],
        Format::Txt => &[Format::Pdf],
        Format::Csv => &[Format::Json],
        Format::Json => &[Format::Csv],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_parse_to_canonical_formats() {
        assert_eq!(Format::parse("JPG"), Some(Format::Jpeg));
        assert_eq!(Format::parse(".tif"), Some(Format::Tiff));
        assert_eq!(Format::parse("md"), Some(Format::Markdown));
        assert_eq!(Format::parse("exe"), None);
        assert_eq!(Format::from_mime("Image/PNG"), Some(Format::Png));
        assert_eq!(
            Format::from_mime("text/csv; charset=utf-8"),
            Some(Format::Csv)
        );
        assert_eq!(Format::from_mime("application/octet-stream"), None);
    }

    #[test]
    fn magic_bytes_are_checked() {
        assert!(Format::Png.matches_magic(b"\x89PNG\r\n\x1a\nrest"));
        assert!(!Format::Png.matches_magic(b"GIF89a"));
        assert!(Format::Json.matches_magic(b"  [{\"a\":1}]"));
        assert!(!Format::Json.matches_magic(b"hello"));
        assert!(!Format::Txt.matches_magic(b"\x89PNG\r\n\x1a\n\0\0"));
        assert!(Format::Txt.matches_magic("héllo".as_bytes()));
        assert!(
            Format::Txt.matches_magic(&"é".as_bytes()[..1]),
            "a cut sequence at the end is fine"
        );
    }
}
