//! Presentations as pictures, one per slide: LibreOffice Impress lays the slides out
//! as a PDF, poppler renders its pages (one slide: one picture; several: one zip).
//! Offered when LibreOffice with Impress and poppler are both found.

use std::sync::Arc;

use crate::engine::{Engine, EngineJob, Found, Offer, Probed};
use crate::{BudgetWriter, ConversionError, ConversionOptions, Format, LibreOffice, Poppler};

const OFFERS: &[Offer] = &[Offer {
    id: "slides",
    name: "Slides as pictures",
    description: "PowerPoint and OpenDocument presentations as PNG or JPEG pictures, one per slide (several come back as one zip).",
    inputs: &[Format::Pptx, Format::Odp],
    outputs: &[Format::Png, Format::Jpeg],
    features: &["one picture per slide", "pages picks slides", "at most 100 slides"],
}];

/// LibreOffice, then poppler.
#[derive(Debug)]
pub struct SlidesAsPictures {
    office: Arc<LibreOffice>,
    poppler: Arc<Poppler>,
}

impl SlidesAsPictures {
    /// What it converts when both engines are found.
    pub(crate) const OFFERS: &'static [Offer] = OFFERS;

    /// Offered when LibreOffice (with Impress) and poppler were found.
    pub fn probe(office: &Found<LibreOffice>, poppler: &Found<Poppler>) -> Probed {
        let name = "libreoffice+poppler";
        match (office, poppler) {
            (Ok((office, office_report)), Ok((poppler, poppler_report)))
                if office.reads_presentations() =>
            {
                Probed::composed(
                    name,
                    Arc::new(Self {
                        office: Arc::clone(office),
                        poppler: Arc::clone(poppler),
                    }),
                    [office_report, poppler_report],
                    "LibreOffice Impress lays out the slides, poppler renders them",
                )
            }
            _ => Probed::not_composed(
                name,
                "needs LibreOffice with Impress (apt-get install libreoffice-impress-nogui) and poppler",
                OFFERS,
            ),
        }
    }
}

impl Engine for SlidesAsPictures {
    fn name(&self) -> &'static str {
        "libreoffice+poppler"
    }

    fn offers(&self) -> &'static [Offer] {
        OFFERS
    }

    fn convert(
        &self,
        job: &EngineJob<'_>,
        out: &mut BudgetWriter<'_>,
    ) -> Result<Format, ConversionError> {
        let scratch = job.scratch.join("office");
        std::fs::create_dir_all(&scratch).map_err(ConversionError::Io)?;
        let pdf_path = job.scratch.join("slides.pdf");
        let mut pdf = std::fs::File::create(&pdf_path).map_err(ConversionError::Io)?;
        let laid_out = EngineJob {
            target: Format::Pdf,
            options: &ConversionOptions::default(),
            scratch: &scratch,
            ..*job
        };
        self.office
            .convert(&laid_out, &mut job.budget.writer(&mut pdf))?;
        drop(pdf);
        job.budget.check_time()?;
        let pages = job.scratch.join("pages");
        std::fs::create_dir_all(&pages).map_err(ConversionError::Io)?;
        let rendered = EngineJob {
            input: &pdf_path,
            source: Format::Pdf,
            scratch: &pages,
            ..*job
        };
        self.poppler.convert(&rendered, out)
    }
}
