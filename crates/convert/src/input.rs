//! What an input must be before any engine opens it, decided in one place for every
//! way a file arrives (an upload to the server, a file given to the command line):
//! its name (or declared type) names a format an engine reads, it is not empty, its
//! first bytes are that format's, and the deeper checks of that format pass — an
//! image's declared size, an SVG's parse and size, a zip-based office file's parts,
//! unpacked size and macros.

use std::io::{BufRead, BufReader, Cursor, Read, Seek};
use std::path::Path;

use crate::format::matches_magic;
use crate::{image, package, sheet, svg, ConversionError, Engines, Format};

/// How many leading bytes are compared with the format's magic bytes.
const HEAD_LEN: u64 = 4096;

/// Where an input's bytes are.
#[derive(Debug, Clone, Copy)]
pub enum InputBytes<'a> {
    /// All of them, in memory.
    Memory(&'a [u8]),
    /// In a file.
    File(&'a Path),
}

/// What the sender says an input is.
#[derive(Debug, Clone, Copy)]
pub struct InputClaim<'a> {
    /// The file's name; its extension names the format.
    pub file_name: &'a str,
    /// A MIME type, used when the name has no known extension.
    pub declared_type: Option<&'a str>,
}

/// Why an input was refused. The messages are sentences for people.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Neither its name nor its declared type names a format an engine here reads.
    #[error("Files of type {claimed:?} cannot be converted.")]
    Unsupported {
        /// The extension, or the declared type when there is none.
        claimed: String,
        /// The format it names, when it names one that no engine here reads.
        format: Option<Format>,
    },
    /// The file has no bytes.
    #[error("The file is empty.")]
    Empty,
    /// Its first bytes are not those of the format its name claims.
    #[error("The file's content is not {}; its name and content do not match.", .0.name())]
    Mismatch(Format),
    /// A deeper check of the format refused it (too many pixels, a zip bomb, macros…);
    /// the message says which.
    #[error("{0}")]
    Rejected(String),
    /// Reading the input failed.
    #[error("the file could not be read")]
    Io(#[source] std::io::Error),
}

/// Checks an input before it is converted and returns its format: the format named
/// by the claimed file name's extension (or, without a known extension, by the
/// declared MIME type) that some engine in `engines` reads; then that the input is not
/// empty, that its first bytes are that format's and that the deeper checks its format
/// needs pass. Reads at most the first 4 KiB for most formats; images only their
/// header; SVG and zip-based documents whole. Blocks: call it off an async runtime.
pub fn inspect_input(
    engines: &Engines,
    claim: InputClaim<'_>,
    input: InputBytes<'_>,
) -> Result<Format, InputError> {
    let extension = claim.extension();
    let named = claim.named_format();
    let Some(format) = named.filter(|format| engines.reads(*format)) else {
        let claimed = match extension {
            "" => claim.declared_type.unwrap_or(""),
            extension => extension,
        };
        return Err(InputError::Unsupported {
            claimed: claimed.to_owned(),
            format: named,
        });
    };
    let mut head = Vec::new();
    input
        .open()
        .and_then(|source| source.take(HEAD_LEN).read_to_end(&mut head))
        .map_err(InputError::Io)?;
    if head.is_empty() {
        return Err(InputError::Empty);
    }
    if !matches_magic(format, &head) {
        return Err(InputError::Mismatch(format));
    }
    inspect(input, format).map_err(|error| match error {
        ConversionError::Io(cause) => InputError::Io(cause),
        refused => InputError::Rejected(refused.to_string()),
    })?;
    Ok(format)
}

impl InputClaim<'_> {
    /// The extension of the claimed file name (`""` without one).
    fn extension(&self) -> &str {
        self.file_name
            .rsplit_once('.')
            .map(|(_, ext)| ext)
            .unwrap_or("")
    }

    /// The format the extension names, or without a known extension the declared type.
    fn named_format(&self) -> Option<Format> {
        Format::parse(self.extension()).or_else(|| self.declared_type.and_then(Format::from_mime))
    }
}

/// Whether [`inspect_input`] may take long on an input claimed as `claim`: a
/// zip-based document is inflated and an SVG parsed whole, while every other check
/// reads a few header bytes. A caller on an async runtime runs the heavy ones on a
/// blocking thread and the light ones of an input in memory in place (a thread
/// hand-off costs more than they do).
///
/// ```
/// use trustyconvert_convert::{inspection_is_heavy, InputClaim};
/// let claim = |name| InputClaim { file_name: name, declared_type: None };
/// assert!(inspection_is_heavy(&claim("report.docx")));
/// assert!(!inspection_is_heavy(&claim("notes.txt")));
/// ```
pub fn inspection_is_heavy(claim: &InputClaim<'_>) -> bool {
    matches!(
        claim.named_format(),
        Some(
            Format::Docx
                | Format::Xlsx
                | Format::Pptx
                | Format::Odt
                | Format::Ods
                | Format::Odp
                | Format::Epub
                | Format::Svg
        )
    )
}

/// An input's bytes to read and seek in.
trait Source: BufRead + Seek {}

impl<T: BufRead + Seek> Source for T {}

impl InputBytes<'_> {
    /// Its bytes from the start.
    fn open(&self) -> std::io::Result<Box<dyn Source + '_>> {
        Ok(match *self {
            Self::Memory(bytes) => Box::new(Cursor::new(bytes)),
            Self::File(path) => Box::new(BufReader::new(std::fs::File::open(path)?)),
        })
    }
}

/// The checks beyond the first bytes, for the formats that have any.
fn inspect(input: InputBytes<'_>, format: Format) -> Result<(), ConversionError> {
    let open = || input.open().map_err(ConversionError::Io);
    match format {
        raster if raster.is_raster() => image::check_dimensions(open()?, raster).map(drop),
        Format::Svg => {
            let mut bytes = Vec::new();
            open()?
                .read_to_end(&mut bytes)
                .map_err(ConversionError::Io)?;
            svg::parse(&bytes).map(drop)
        }
        Format::Docx
        | Format::Xlsx
        | Format::Pptx
        | Format::Odt
        | Format::Ods
        | Format::Odp
        | Format::Epub => {
            package::check(open()?, format)?;
            if format == Format::Ods {
                sheet::check_ods_size(open()?)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BuiltinEngine;

    fn builtin() -> Engines {
        Engines::from_probes([BuiltinEngine::probe()])
    }

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        ::image::RgbImage::new(width, height)
            .write_to(&mut Cursor::new(&mut bytes), ::image::ImageFormat::Png)
            .unwrap();
        bytes
    }

    fn check(name: &str, bytes: &[u8]) -> Result<Format, InputError> {
        let claim = InputClaim {
            file_name: name,
            declared_type: None,
        };
        inspect_input(&builtin(), claim, InputBytes::Memory(bytes))
    }

    #[test]
    fn the_format_comes_from_the_name_and_must_be_read_by_an_engine() {
        assert_eq!(check("photo.PNG", &png(2, 2)).unwrap(), Format::Png);
        match check("memo.docx", b"PK\x03\x04") {
            Err(InputError::Unsupported { claimed, format }) => {
                assert_eq!((claimed.as_str(), format), ("docx", Some(Format::Docx)));
            }
            other => panic!("without LibreOffice nothing reads docx: {other:?}"),
        }
        assert!(matches!(
            check("program.exe", b"MZ"),
            Err(InputError::Unsupported { format: None, .. })
        ));
        let declared = InputClaim {
            file_name: "upload",
            declared_type: Some("text/csv"),
        };
        let bytes = InputBytes::Memory(b"a,b\n1,2\n");
        assert_eq!(
            inspect_input(&builtin(), declared, bytes).unwrap(),
            Format::Csv
        );
    }

    #[test]
    fn an_empty_file_or_one_whose_bytes_are_another_format_is_refused() {
        assert!(matches!(check("empty.csv", b""), Err(InputError::Empty)));
        let error = check("fake.png", b"GIF89a....").unwrap_err();
        assert!(
            matches!(error, InputError::Mismatch(Format::Png)),
            "{error}"
        );
        assert_eq!(
            error.to_string(),
            "The file's content is not png; its name and content do not match."
        );
    }

    #[test]
    fn deeper_checks_refuse_what_the_first_bytes_cannot_show() {
        // One pixel wider than a side may be.
        let wide = png(image::MAX_SIDE + 1, 1);
        match check("wide.png", &wide) {
            Err(InputError::Rejected(why)) => assert!(why.contains("exceeds limit"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            check("broken.xlsx", b"PK\x03\x04 not a zip"),
            Err(InputError::Rejected(_))
        ));
    }

    #[test]
    fn a_file_is_checked_like_the_same_bytes_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("photo.png");
        std::fs::write(&path, png(3, 2)).unwrap();
        let claim = InputClaim {
            file_name: "photo.png",
            declared_type: None,
        };
        assert_eq!(
            inspect_input(&builtin(), claim, InputBytes::File(&path)).unwrap(),
            Format::Png
        );
        std::fs::write(&path, b"not a png").unwrap();
        assert!(matches!(
            inspect_input(&builtin(), claim, InputBytes::File(&path)),
            Err(InputError::Mismatch(Format::Png))
        ));
        let missing = dir.path().join("missing.png");
        assert!(matches!(
            inspect_input(&builtin(), claim, InputBytes::File(&missing)),
            Err(InputError::Io(_))
        ));
    }
}
