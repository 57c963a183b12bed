//! Conversions: the engines that perform them ([`Engines`], probed at startup), what
//! an upload must look like to be accepted ([`matches_magic`], [`inspect`]), and the
//! limits each run keeps to ([`Budget`]).
//!
//! - `engine`: the interface and the registry.
//! - `builtin`: everything done in this process (images, SVG, text, data,
//!   spreadsheets) — always available.
//! - `office`: LibreOffice in a fenced subprocess — when installed.

mod budget;
mod builtin;
mod engine;
mod font;
mod format;
mod image;
mod office;
mod package;
mod pdf;
mod sheet;
mod svg;
mod text;
mod text_pdf;

use std::path::Path;

pub use self::budget::{Budget, BudgetWriter, Sink};
pub use self::builtin::BuiltinEngine;
pub use self::engine::{Engine, EngineJob, EngineReport, Engines, Offer, Probed};
pub use self::format::{matches_magic, Format, RASTER_FORMATS};
pub use self::office::LibreOffice;

use crate::config::LibreOfficeSetting;

/// Probes every engine (LibreOffice as `libreoffice` says); blocks while LibreOffice
/// answers its version (about a second), so call it from a blocking context at
/// startup. The result is kept for the process: servers started again in the same
/// process with the same setting and `PATH` reuse it.
pub fn probe_engines(libreoffice: &LibreOfficeSetting) -> Engines {
    type Key = (LibreOfficeSetting, Option<std::ffi::OsString>);
    static PROBED: std::sync::Mutex<Vec<(Key, Engines)>> = std::sync::Mutex::new(Vec::new());
    let key = (libreoffice.clone(), std::env::var_os("PATH"));
    let mut probed = PROBED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, engines)) = probed.iter().find(|(known, _)| *known == key) {
        return engines.clone();
    }
    let engines = Engines::from_probes([BuiltinEngine::probe(), LibreOffice::probe(libreoffice)]);
    probed.push((key, engines.clone()));
    engines
}

/// Why a conversion (or the validation before it) failed. Messages are for people.
#[derive(Debug, thiserror::Error)]
pub enum ConversionError {
    /// The input is not what it claims, or is unusable (reported to the user).
    #[error("{0}")]
    Invalid(String),
    /// The pair is not supported.
    #[error("this conversion is not supported")]
    Unsupported,
    /// The converter failed on valid input.
    #[error("{0}")]
    Failed(String),
    /// The conversion hit a limit (output size, time); the message names it.
    #[error("{0}")]
    Limit(String),
    /// Reading the stored input failed (an internal problem; never shown in detail).
    #[error("the stored file could not be read")]
    Io(#[source] std::io::Error),
    /// Writing the result to disk failed (an internal problem; never shown in detail).
    #[error("the result could not be stored")]
    Output(#[source] std::io::Error),
}

/// Whether [`inspect`] has anything to check for `format` (the others are accepted
/// on their first bytes, without reading the file from disk).
pub fn needs_inspection(format: Format) -> bool {
    format.is_raster()
        || matches!(
            format,
            Format::Svg | Format::Docx | Format::Xlsx | Format::Odt | Format::Ods
        )
}

/// Checks an uploaded file beyond its first bytes, before it is accepted: an image's
/// declared size, an SVG's parse and size, a zip-based office file's parts, size when
/// unpacked, and macros. Other formats need nothing more.
pub fn inspect(path: &Path, format: Format) -> Result<(), ConversionError> {
    match format {
        raster if raster.is_raster() => image::check_dimensions(path, raster).map(drop),
        Format::Svg => svg::parse(&std::fs::read(path).map_err(ConversionError::Io)?).map(drop),
        Format::Docx | Format::Xlsx | Format::Odt | Format::Ods => {
            let open = || {
                std::fs::File::open(path)
                    .map(std::io::BufReader::new)
                    .map_err(ConversionError::Io)
            };
            package::check(open()?, format)?;
            if format == Format::Ods {
                sheet::check_ods_size(open()?)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
