//! File formats by name: the canonical wire names, their aliases and file extensions,
//! and their MIME types. The server, the client, the CLI and the web UI all read names
//! people type through [`Format::parse`] (case-insensitive, aliases and extensions);
//! serde reads what the server sends (the canonical lowercase names).

use serde::{Deserialize, Serialize};

/// A file format the service reads or writes.
///
/// Serialized as its canonical name; [`Format::parse`] also accepts aliases and file
/// extensions, case-insensitively.
///
/// ```
/// use trustyconvert_protocol::Format;
/// assert_eq!(Format::parse("JPG"), Some(Format::Jpeg));
/// assert_eq!(Format::Jpeg.name(), "jpeg");
/// assert_eq!(Format::Jpeg.extension(), "jpg");
/// assert_eq!(serde_json::to_string(&Format::Markdown).unwrap(), "\"markdown\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Format {
    /// Portable Network Graphics.
    Png,
    /// JPEG (also accepted as `jpg`).
    #[serde(alias = "jpg")]
    Jpeg,
    /// GIF.
    Gif,
    /// Windows bitmap.
    Bmp,
    /// TIFF (also accepted as `tif`).
    #[serde(alias = "tif")]
    Tiff,
    /// WebP.
    Webp,
    /// PDF.
    Pdf,
    /// Markdown (also accepted as `md`).
    #[serde(alias = "md")]
    Markdown,
    /// HTML (also accepted as `htm`).
    #[serde(alias = "htm")]
    Html,
    /// Plain text (also accepted as `text`).
    #[serde(alias = "text")]
    Txt,
    /// Comma-separated values.
    Csv,
    /// JSON.
    Json,
    /// SVG vector graphics.
    Svg,
    /// Word document (Office Open XML).
    Docx,
    /// Word 97–2003 document.
    Doc,
    /// OpenDocument text.
    Odt,
    /// Rich Text Format.
    Rtf,
    /// Excel workbook (Office Open XML).
    Xlsx,
    /// OpenDocument spreadsheet.
    Ods,
}

/// Raster image formats, readable and writable among each other.
pub const RASTER_FORMATS: [Format; 6] = [
    Format::Png,
    Format::Jpeg,
    Format::Gif,
    Format::Bmp,
    Format::Tiff,
    Format::Webp,
];

impl Format {
    /// Every format, in a stable order.
    pub const ALL: [Format; 19] = [
        Self::Png,
        Self::Jpeg,
        Self::Gif,
        Self::Bmp,
        Self::Tiff,
        Self::Webp,
        Self::Pdf,
        Self::Markdown,
        Self::Html,
        Self::Txt,
        Self::Csv,
        Self::Json,
        Self::Svg,
        Self::Docx,
        Self::Doc,
        Self::Odt,
        Self::Rtf,
        Self::Xlsx,
        Self::Ods,
    ];

    /// Parses a format name, alias or file extension (case-insensitive, a leading dot
    /// and surrounding spaces ignored).
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.trim().trim_start_matches('.');
        Self::ALL.into_iter().find(|format| {
            format.name().eq_ignore_ascii_case(name)
                || format
                    .aliases()
                    .iter()
                    .any(|alias| alias.eq_ignore_ascii_case(name))
        })
    }

    /// The canonical name (`jpeg`, `markdown`, …), as sent on the wire.
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
            Self::Svg => "svg",
            Self::Docx => "docx",
            Self::Doc => "doc",
            Self::Odt => "odt",
            Self::Rtf => "rtf",
            Self::Xlsx => "xlsx",
            Self::Ods => "ods",
        }
    }

    /// Other names and file extensions of this format.
    pub const fn aliases(self) -> &'static [&'static str] {
        match self {
            Self::Jpeg => &["jpg"],
            Self::Tiff => &["tif"],
            Self::Markdown => &["md"],
            Self::Html => &["htm"],
            Self::Txt => &["text"],
            _ => &[],
        }
    }

    /// The file extension given to outputs in this format.
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
            Self::Svg => "image/svg+xml",
            Self::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            Self::Doc => "application/msword",
            Self::Odt => "application/vnd.oasis.opendocument.text",
            Self::Rtf => "application/rtf",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Self::Ods => "application/vnd.oasis.opendocument.spreadsheet",
        }
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
            "text/html" => Self::Html,
            "image/svg+xml" => Self::Svg,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => Self::Docx,
            "application/msword" => Self::Doc,
            "application/vnd.oasis.opendocument.text" => Self::Odt,
            "application/rtf" | "text/rtf" => Self::Rtf,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => Self::Xlsx,
            "application/vnd.oasis.opendocument.spreadsheet" => Self::Ods,
            _ => return None,
        })
    }

    /// The format of a file, judged by its name's extension.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let (_, extension) = name.rsplit_once('.')?;
        Self::parse(extension).filter(|_| !extension.trim().is_empty())
    }

    /// Whether this is a raster image format.
    pub fn is_raster(self) -> bool {
        RASTER_FORMATS.contains(&self)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no known format; its message lists the known ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFormat(
    /// The name as it was given.
    pub String,
);

impl std::fmt::Display for UnknownFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown format {:?}; known formats:", self.0)?;
        for (i, format) in Format::ALL.iter().enumerate() {
            let separator = if i == 0 { " " } else { ", " };
            write!(f, "{separator}{format}")?;
            if !format.aliases().is_empty() {
                write!(f, " ({})", format.aliases().join(", "))?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for UnknownFormat {}

impl std::str::FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::parse(name).ok_or_else(|| UnknownFormat(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_extensions_parse_to_canonical_formats() {
        assert_eq!(Format::parse("JPG"), Some(Format::Jpeg));
        assert_eq!(Format::parse(".tif"), Some(Format::Tiff));
        assert_eq!(Format::parse("md"), Some(Format::Markdown));
        assert_eq!(Format::parse("exe"), None);
        assert_eq!(Format::from_file_name("a.b.HTM"), Some(Format::Html));
        assert_eq!(Format::from_file_name("noextension"), None);
        assert_eq!(Format::from_mime("Image/PNG"), Some(Format::Png));
        assert_eq!(
            Format::from_mime("text/csv; charset=utf-8"),
            Some(Format::Csv)
        );
        assert_eq!(Format::from_mime("application/octet-stream"), None);
        assert_eq!(Format::from_file_name("Report.DOCX"), Some(Format::Docx));
        assert_eq!(Format::from_mime("text/rtf"), Some(Format::Rtf));
    }

    #[test]
    fn every_name_and_alias_round_trips_through_serde() {
        for format in Format::ALL {
            let json = serde_json::to_string(&format).unwrap();
            assert_eq!(json, format!("\"{}\"", format.name()));
            for alias in format.aliases() {
                let parsed: Format = serde_json::from_str(&format!("\"{alias}\"")).unwrap();
                assert_eq!(parsed, format);
            }
            assert_eq!(format.name().parse::<Format>(), Ok(format));
        }
    }
}
