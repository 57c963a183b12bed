//! The conversions this build performs: pure functions from an input file to output
//! bytes, run on the blocking pool by the job workers.

mod budget;
mod format;
mod image;
mod pdf;
mod text;

use std::path::Path;

pub use self::budget::Budget;
pub use self::format::{matches_magic, targets, Format, RASTER_FORMATS};
pub use self::image::check_dimensions;

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
}

impl ConversionError {
    fn io(error: std::io::Error) -> Self {
        Self::Io(error)
    }
}

/// Converts the file at `input` from `source` to `target` within `budget`; `title`
/// names HTML output.
pub fn convert(
    input: &Path,
    source: Format,
    target: Format,
    title: &str,
    budget: &Budget,
) -> Result<Vec<u8>, ConversionError> {
    run(input, source, target, title, budget).map_err(|error| budget.explain(error))
}

fn run(
    input: &Path,
    source: Format,
    target: Format,
    title: &str,
    budget: &Budget,
) -> Result<Vec<u8>, ConversionError> {
    if !targets(source).contains(&target) {
        return Err(ConversionError::Unsupported);
    }
    if source.is_raster() {
        let image = image::decode(input, source)?;
        budget.check_time()?;
        return match target {
            Format::Pdf => pdf::from_image(&image, budget),
            raster => image::encode(&image, raster, budget),
        };
    }
    let bytes = std::fs::read(input).map_err(ConversionError::io)?;
    match (source, target) {
        (Format::Markdown, Format::Html) => text::markdown_to_html(&bytes, title, budget),
        (Format::Markdown, Format::Pdf) => {
            pdf::from_text(&text::markdown_to_plain(&bytes)?, budget)
        }
        (Format::Txt, Format::Pdf) => pdf::from_text(text::as_text(&bytes)?, budget),
        (Format::Csv, Format::Json) => text::csv_to_json(&bytes, budget),
        (Format::Json, Format::Csv) => text::json_to_csv(&bytes, budget),
        _ => Err(ConversionError::Unsupported),
    }
}
