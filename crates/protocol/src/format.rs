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
    /// HEIC/HEIF photos, as phones take them (also accepted as `heif`).
    #[serde(alias = "heif")]
    Heic,
    /// AVIF (AV1 in HEIF).
    Avif,
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
    /// PowerPoint presentation (Office Open XML).
    Pptx,
    /// OpenDocument presentation.
    Odp,
    /// EPUB e-book.
    Epub,
    /// reStructuredText.
    Rst,
    /// LaTeX source (also accepted as `tex`).
    #[serde(alias = "tex")]
    Latex,
    /// Emacs Org mode.
    Org,
    /// MP3 audio.
    Mp3,
    /// WAV audio (PCM).
    #[serde(alias = "wave")]
    Wav,
    /// FLAC lossless audio.
    Flac,
    /// Ogg Vorbis audio (also accepted as `oga`).
    #[serde(alias = "oga")]
    Ogg,
    /// Opus audio in Ogg.
    Opus,
    /// AAC audio in MPEG-4.
    M4a,
    /// MPEG-4 video (also accepted as `m4v`).
    #[serde(alias = "m4v")]
    Mp4,
    /// WebM video.
    Webm,
    /// Matroska video.
    Mkv,
    /// QuickTime video (also accepted as `qt`).
    #[serde(alias = "qt")]
    Mov,
    /// AVI video.
    Avi,
    /// A zip archive: the several files one conversion made (a PDF's pages as
    /// pictures). Written, never read.
    Zip,
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

/// What is known of a format: one row of [`Format::spec`]'s table.
struct Spec {
    name: &'static str,
    aliases: &'static [&'static str],
    /// The extension outputs get, when it is not the name.
    extension: Option<&'static str>,
    mime: &'static str,
    /// Other MIME types that name it in uploads.
    other_mimes: &'static [&'static str],
}

impl Format {
    /// Every format, in a stable order.
    pub const ALL: [Format; 39] = [
        Self::Png,
        Self::Jpeg,
        Self::Gif,
        Self::Bmp,
        Self::Tiff,
        Self::Webp,
        Self::Heic,
        Self::Avif,
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
        Self::Pptx,
        Self::Odp,
        Self::Epub,
        Self::Rst,
        Self::Latex,
        Self::Org,
        Self::Mp3,
        Self::Wav,
        Self::Flac,
        Self::Ogg,
        Self::Opus,
        Self::M4a,
        Self::Mp4,
        Self::Webm,
        Self::Mkv,
        Self::Mov,
        Self::Avi,
        Self::Zip,
    ];

    /// Everything about a format but its conversions, in one place: a new format is
    /// one row here.
    const fn spec(self) -> Spec {
        const fn row(
            name: &'static str,
            aliases: &'static [&'static str],
            extension: Option<&'static str>,
            mime: &'static str,
            other_mimes: &'static [&'static str],
        ) -> Spec {
            Spec {
                name,
                aliases,
                extension,
                mime,
                other_mimes,
            }
        }
        match self {
            Self::Png => row("png", &[], None, "image/png", &[]),
            Self::Jpeg => row(
                "jpeg",
                &["jpg"],
                Some("jpg"),
                "image/jpeg",
                &["image/jpg", "image/pjpeg"],
            ),
            Self::Gif => row("gif", &[], None, "image/gif", &[]),
            Self::Bmp => row(
                "bmp",
                &[],
                None,
                "image/bmp",
                &["image/x-bmp", "image/x-ms-bmp"],
            ),
            Self::Tiff => row("tiff", &["tif"], None, "image/tiff", &[]),
            Self::Webp => row("webp", &[], None, "image/webp", &[]),
            Self::Heic => row("heic", &["heif"], None, "image/heic", &["image/heif"]),
            Self::Avif => row("avif", &[], None, "image/avif", &[]),
            Self::Pdf => row("pdf", &[], None, "application/pdf", &[]),
            Self::Markdown => row(
                "markdown",
                &["md"],
                Some("md"),
                "text/markdown; charset=utf-8",
                &["text/x-markdown"],
            ),
            Self::Html => row("html", &["htm"], None, "text/html; charset=utf-8", &[]),
            Self::Txt => row("txt", &["text"], None, "text/plain; charset=utf-8", &[]),
            Self::Csv => row("csv", &[], None, "text/csv; charset=utf-8", &[]),
            Self::Json => row("json", &[], None, "application/json", &[]),
            Self::Svg => row("svg", &[], None, "image/svg+xml", &[]),
            Self::Docx => row(
                "docx",
                &[],
                None,
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                &[],
            ),
            Self::Doc => row("doc", &[], None, "application/msword", &[]),
            Self::Odt => row(
                "odt",
                &[],
                None,
                "application/vnd.oasis.opendocument.text",
                &[],
            ),
            Self::Rtf => row("rtf", &[], None, "application/rtf", &["text/rtf"]),
            Self::Xlsx => row(
                "xlsx",
                &[],
                None,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                &[],
            ),
            Self::Ods => row(
                "ods",
                &[],
                None,
                "application/vnd.oasis.opendocument.spreadsheet",
                &[],
            ),
            Self::Pptx => row(
                "pptx",
                &[],
                None,
                "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                &[],
            ),
            Self::Odp => row(
                "odp",
                &[],
                None,
                "application/vnd.oasis.opendocument.presentation",
                &[],
            ),
            Self::Epub => row("epub", &[], None, "application/epub+zip", &[]),
            Self::Rst => row("rst", &[], None, "text/x-rst; charset=utf-8", &[]),
            Self::Latex => row(
                "latex",
                &["tex"],
                Some("tex"),
                "application/x-latex",
                &["application/x-tex", "text/x-tex"],
            ),
            Self::Org => row("org", &[], None, "text/x-org; charset=utf-8", &[]),
            Self::Mp3 => row("mp3", &[], None, "audio/mpeg", &["audio/mp3"]),
            Self::Wav => row(
                "wav",
                &["wave"],
                None,
                "audio/wav",
                &["audio/x-wav", "audio/wave", "audio/vnd.wave"],
            ),
            Self::Flac => row("flac", &[], None, "audio/flac", &["audio/x-flac"]),
            Self::Ogg => row("ogg", &["oga"], None, "audio/ogg", &["application/ogg"]),
            Self::Opus => row("opus", &[], None, "audio/ogg; codecs=opus", &["audio/opus"]),
            Self::M4a => row("m4a", &[], None, "audio/mp4", &["audio/x-m4a", "audio/m4a"]),
            Self::Mp4 => row("mp4", &["m4v"], None, "video/mp4", &[]),
            Self::Webm => row("webm", &[], None, "video/webm", &["audio/webm"]),
            Self::Mkv => row("mkv", &[], None, "video/x-matroska", &["video/matroska"]),
            Self::Mov => row("mov", &["qt"], None, "video/quicktime", &[]),
            Self::Avi => row(
                "avi",
                &[],
                None,
                "video/x-msvideo",
                &["video/avi", "video/msvideo"],
            ),
            Self::Zip => row(
                "zip",
                &[],
                None,
                "application/zip",
                &["application/x-zip-compressed"],
            ),
        }
    }

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
        self.spec().name
    }

    /// Other names and file extensions of this format.
    pub const fn aliases(self) -> &'static [&'static str] {
        self.spec().aliases
    }

    /// The file extension given to outputs in this format.
    pub const fn extension(self) -> &'static str {
        match self.spec().extension {
            Some(extension) => extension,
            None => self.name(),
        }
    }

    /// The `Content-Type` of a file in this format.
    pub const fn mime(self) -> &'static str {
        self.spec().mime
    }

    /// The format a MIME type names (parameters ignored), for uploads whose file name
    /// has no usable extension.
    pub fn from_mime(mime: &str) -> Option<Self> {
        let essence = |mime: &str| {
            mime.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        };
        let wanted = essence(mime);
        Self::ALL.into_iter().find(|format| {
            let spec = format.spec();
            essence(spec.mime) == wanted || spec.other_mimes.iter().any(|other| *other == wanted)
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
        assert_eq!(Format::from_mime("audio/ogg"), Some(Format::Ogg));
        assert_eq!(Format::from_mime("audio/opus"), Some(Format::Opus));
        assert_eq!(Format::from_mime("video/quicktime"), Some(Format::Mov));
        assert_eq!(Format::parse("HEIF"), Some(Format::Heic));
        assert_eq!(Format::from_file_name("paper.tex"), Some(Format::Latex));
        assert_eq!(Format::Latex.extension(), "tex");
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
