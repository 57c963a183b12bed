//! Zip-based office files (docx, xlsx, odt, ods), checked at upload as what they claim
//! to be, before any engine opens them.
//!
//! A zip's directory states each entry's size, and a bomb lies about it, so every
//! entry is inflated once here and what it really yields is counted: past
//! [`MAX_UNPACKED_BYTES`] in all, or an entry inflating more than [`MAX_RATIO`] times
//! beyond a megabyte, the file is refused. This costs one pass over at most that many
//! bytes and bounds the memory of every reader that opens the file later. Files with
//! macros are refused too: nothing here runs them, and nobody converting a document
//! needs them.

use std::io::{Read, Seek};

use zip::ZipArchive;

use crate::{ConversionError, Format};

/// Most bytes the entries of one package may inflate to.
pub const MAX_UNPACKED_BYTES: u64 = 256 * 1024 * 1024;
/// Most entries in one package.
pub const MAX_ENTRIES: usize = 10_000;
/// Largest inflation ratio (against the size the archive declares) of an entry that
/// inflates past a megabyte; a declared size that lies is still caught by the total.
pub const MAX_RATIO: u64 = 200;

/// Checks the package in `file` as `format`.
pub fn check<R: Read + Seek>(file: R, format: Format) -> Result<(), ConversionError> {
    let invalid = |why: String| {
        ConversionError::Invalid(format!("not a valid {} document: {why}", format.name()))
    };
    let mut archive = ZipArchive::new(file).map_err(|e| invalid(e.to_string()))?;
    if archive.len() > MAX_ENTRIES {
        return Err(invalid(format!(
            "it has {} parts (at most {MAX_ENTRIES})",
            archive.len()
        )));
    }
    let names: Vec<String> = archive
        .file_names()
        .map(|name| name.map(|name| name.into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(e.to_string()))?;
    let has = |name: &str| names.iter().any(|n| n == name);
    let required: &[&str] = match format {
        Format::Docx => &["[Content_Types].xml", "word/document.xml"],
        Format::Xlsx => &["[Content_Types].xml", "xl/workbook.xml"],
        Format::Pptx => &["[Content_Types].xml", "ppt/presentation.xml"],
        Format::Odt | Format::Ods | Format::Odp => &["mimetype", "content.xml"],
        Format::Epub => &["mimetype", "META-INF/container.xml"],
        _ => return Err(ConversionError::Unsupported),
    };
    if let Some(missing) = required.iter().find(|name| !has(name)) {
        return Err(invalid(format!("the part {missing} is missing")));
    }
    if let Some(expected) = odf_mimetype(format) {
        let mut mimetype = String::new();
        archive
            .by_name("mimetype")
            .map_err(|e| invalid(e.to_string()))?
            .take(200)
            .read_to_string(&mut mimetype)
            .map_err(|e| invalid(e.to_string()))?;
        if mimetype.trim() != expected {
            return Err(invalid(format!("its type is {:?}", mimetype.trim())));
        }
    }
    if let Some(main_type) = ooxml_main_type(format) {
        let mut types = String::new();
        archive
            .by_name("[Content_Types].xml")
            .map_err(|e| invalid(e.to_string()))?
            .take(1024 * 1024)
            .read_to_string(&mut types)
            .map_err(|e| invalid(e.to_string()))?;
        if types.contains("macroEnabled") || types.contains("vbaProject") {
            return Err(macros());
        }
        if !types.contains(main_type) {
            return Err(invalid(
                "its content types do not name its main part".into(),
            ));
        }
    }
    if names.iter().any(|name| is_macro_part(name)) {
        return Err(macros());
    }
    let mut unpacked = 0u64;
    let mut sink = [0u8; 64 * 1024];
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|e| invalid(e.to_string()))?;
        if entry.encrypted() {
            return Err(invalid("it is encrypted".into()));
        }
        let packed = entry.compressed_size().max(1);
        let mut inflated = 0u64;
        loop {
            let read = entry.read(&mut sink).map_err(|e| invalid(e.to_string()))?;
            if read == 0 {
                break;
            }
            inflated += read as u64;
            unpacked += read as u64;
            if unpacked > MAX_UNPACKED_BYTES {
                return Err(invalid(format!(
                    "it unpacks to more than {} (a zip bomb?)",
                    trustyconvert_protocol::human_size(MAX_UNPACKED_BYTES)
                )));
            }
            if inflated > 1024 * 1024 && inflated / packed > MAX_RATIO {
                return Err(invalid(format!(
                    "a part inflates more than {MAX_RATIO} times (a zip bomb?)"
                )));
            }
        }
    }
    Ok(())
}

fn macros() -> ConversionError {
    ConversionError::Invalid(
        "the document contains macros; macro-enabled documents are not accepted".into(),
    )
}

/// The content type an Office Open XML file's main part must have (macro-free).
fn ooxml_main_type(format: Format) -> Option<&'static str> {
    match format {
        Format::Docx => Some("wordprocessingml.document.main+xml"),
        Format::Xlsx => Some("spreadsheetml.sheet.main+xml"),
        Format::Pptx => Some("presentationml.presentation.main+xml"),
        _ => None,
    }
}

fn odf_mimetype(format: Format) -> Option<&'static str> {
    match format {
        Format::Odt => Some("application/vnd.oasis.opendocument.text"),
        Format::Ods => Some("application/vnd.oasis.opendocument.spreadsheet"),
        Format::Odp => Some("application/vnd.oasis.opendocument.presentation"),
        Format::Epub => Some("application/epub+zip"),
        _ => None,
    }
}

/// VBA projects in Office files; Basic modules and scripts in OpenDocument files.
fn is_macro_part(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with("vbaproject.bin")
        || lower.ends_with("vbadata.xml")
        || lower.starts_with("scripts/")
        || (lower.starts_with("basic/")
            && lower.ends_with(".xml")
            && !lower.ends_with("script-lc.xml")
            && !lower.ends_with("script-lb.xml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_parts_are_recognised() {
        assert!(is_macro_part("word/vbaProject.bin"));
        assert!(is_macro_part("Basic/Standard/Module1.xml"));
        assert!(!is_macro_part("Basic/script-lc.xml"));
        assert!(!is_macro_part("word/document.xml"));
    }
}
