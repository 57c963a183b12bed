//! The built-in engine: every conversion done in this process, in pure Rust. Always
//! available; it needs nothing installed.

use crate::engine::{Engine, EngineJob, EngineReport, Offer, Probed};
use crate::format::RASTER_FORMATS;
use crate::{image, pdf, sheet, svg, text, text_pdf, BudgetWriter, ConversionError, Format};

/// Raster images convert to every raster format and to PDF.
const IMAGE_OUTPUTS: [Format; 7] = [
    Format::Png,
    Format::Jpeg,
    Format::Gif,
    Format::Bmp,
    Format::Tiff,
    Format::Webp,
    Format::Pdf,
];

const OFFERS: &[Offer] = &[
    Offer {
        id: "image",
        name: "Images",
        description: "Raster images to any other raster format, or to a one-page PDF.",
        inputs: &RASTER_FORMATS,
        outputs: &IMAGE_OUTPUTS,
        features: &[
            "EXIF orientation applied",
            "metadata stripped unless kept (keep_metadata)",
            "lossy WebP and JPEG at quality 75 unless asked (quality, lossless)",
            "scaled down to fit max_width / max_height, never up",
            "alpha flattened where the target has none",
        ],
    },
    Offer {
        id: "svg",
        name: "SVG",
        description: "SVG drawings to PNG at their own size (or scaled to fit max_width / max_height), or to a vector PDF.",
        inputs: &[Format::Svg],
        outputs: &[Format::Png, Format::Pdf],
        features: &[
            "external references never fetched",
            "text in a built-in Unicode font",
        ],
    },
    Offer {
        id: "markdown",
        name: "Markdown",
        description: "Markdown to a standalone HTML page or to PDF.",
        inputs: &[Format::Markdown],
        outputs: &[Format::Html, Format::Pdf],
        features: &["raw HTML escaped", "Unicode text in the PDF"],
    },
    Offer {
        id: "text",
        name: "Plain text",
        description: "Plain text to paginated PDF.",
        inputs: &[Format::Txt],
        outputs: &[Format::Pdf],
        features: &[
            "A4 pages",
            "embedded Unicode font (Latin, Greek, Cyrillic)",
        ],
    },
    Offer {
        id: "csv",
        name: "CSV",
        description: "CSV with a header row to a JSON array of objects.",
        inputs: &[Format::Csv],
        outputs: &[Format::Json],
        features: &["values kept as strings"],
    },
    Offer {
        id: "json",
        name: "JSON",
        description: "A JSON array of flat objects to CSV.",
        inputs: &[Format::Json],
        outputs: &[Format::Csv],
        features: &["header is the union of keys"],
    },
    Offer {
        id: "spreadsheet",
        name: "Spreadsheets",
        description: "The first sheet of an Excel or OpenDocument workbook to CSV, or to a JSON array of objects keyed by its first row.",
        inputs: &[Format::Xlsx, Format::Ods],
        outputs: &[Format::Csv, Format::Json],
        features: &["first sheet", "cached formula results", "numbers stay numbers in JSON"],
    },
];

/// The in-process engine.
#[derive(Debug, Default)]
pub struct BuiltinEngine;

impl BuiltinEngine {
    /// Always found.
    pub fn probe() -> Probed {
        Probed {
            engine: Some(std::sync::Arc::new(Self)),
            report: EngineReport {
                name: "built-in",
                version: Some(env!("CARGO_PKG_VERSION").to_owned()),
                detail: "part of this binary (image, resvg, calamine, a built-in Unicode font)"
                    .to_owned(),
                offers: OFFERS.iter().map(|offer| offer.id).collect(),
            },
            offers: OFFERS,
        }
    }
}

impl Engine for BuiltinEngine {
    fn name(&self) -> &'static str {
        "built-in"
    }

    fn offers(&self) -> &'static [Offer] {
        OFFERS
    }

    fn convert(
        &self,
        job: &EngineJob<'_>,
        out: &mut BudgetWriter<'_>,
    ) -> Result<Format, ConversionError> {
        self.convert_here(job, out).map(|()| job.target)
    }
}

impl BuiltinEngine {
    /// Every built-in conversion writes its target format.
    fn convert_here(
        &self,
        job: &EngineJob<'_>,
        out: &mut BudgetWriter<'_>,
    ) -> Result<(), ConversionError> {
        let (source, target, budget) = (job.source, job.target, job.budget);
        let options = job.options;
        if source.is_raster() {
            let keep_metadata = options.keep_metadata.unwrap_or(false);
            let picture = image::decode(job.input, source, keep_metadata)?;
            budget.check_time()?;
            if target == Format::Pdf {
                return pdf::from_image(&picture.pixels, budget, out);
            }
            let fitted = image::fit_within(&picture.pixels, options.max_width, options.max_height);
            budget.check_time()?;
            let encoding = image::Encoding::from_options(options, &picture.metadata);
            return image::encode(&fitted, target, &encoding, out);
        }
        match (source, target) {
            (Format::Xlsx | Format::Ods, Format::Csv | Format::Json) => {
                sheet::convert(job.input, source, target, budget, out)
            }
            _ => {
                let bytes = std::fs::read(job.input).map_err(ConversionError::Io)?;
                match (source, target) {
                    (Format::Svg, Format::Png) => svg::to_png(&bytes, options, budget, out),
                    (Format::Svg, Format::Pdf) => svg::to_pdf(&bytes, budget, out),
                    (Format::Markdown, Format::Html) => {
                        text::markdown_to_html(&bytes, job.title, out)
                    }
                    (Format::Markdown, Format::Pdf) => {
                        text_pdf::from_text(&text::markdown_to_plain(&bytes)?, budget, out)
                    }
                    (Format::Txt, Format::Pdf) => {
                        text_pdf::from_text(text::as_text(&bytes)?, budget, out)
                    }
                    (Format::Csv, Format::Json) => text::csv_to_json(&bytes, budget, out),
                    (Format::Json, Format::Csv) => text::json_to_csv(&bytes, budget, out),
                    _ => Err(ConversionError::Unsupported),
                }
            }
        }
    }
}
