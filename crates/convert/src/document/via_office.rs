//! Documents LibreOffice cannot read (EPUB, reStructuredText, LaTeX, Org) to PDF
//! without TeX: Pandoc writes them as OpenDocument, LibreOffice lays that out. Offered
//! only when both are found.

use std::sync::Arc;

use super::Pandoc;
use crate::engine::{Engine, EngineJob, Found, Offer, Probed};
use crate::{BudgetWriter, ConversionError, ConversionOptions, Format, LibreOffice};

const OFFERS: &[Offer] = &[Offer {
    id: "documents-pdf",
    name: "Documents to PDF",
    description: "EPUB, reStructuredText, LaTeX and Org documents to PDF: read by Pandoc, laid out by LibreOffice.",
    inputs: &[Format::Epub, Format::Rst, Format::Latex, Format::Org],
    outputs: &[Format::Pdf],
    features: &["no TeX needed", "both steps fenced"],
}];

/// Pandoc, then LibreOffice.
#[derive(Debug)]
pub struct PandocThroughOffice {
    pandoc: Arc<Pandoc>,
    office: Arc<LibreOffice>,
}

impl PandocThroughOffice {
    /// What it converts when both engines are found.
    pub(crate) const OFFERS: &'static [Offer] = OFFERS;

    /// Offered when both probes found their engine.
    pub fn probe(pandoc: &Found<Pandoc>, office: &Found<LibreOffice>) -> Probed {
        let name = "pandoc+libreoffice";
        match (pandoc, office) {
            (Ok((pandoc, pandoc_report)), Ok((office, office_report))) => Probed::composed(
                name,
                Arc::new(Self {
                    pandoc: Arc::clone(pandoc),
                    office: Arc::clone(office),
                }),
                [pandoc_report, office_report],
                "Pandoc writes OpenDocument, LibreOffice lays it out as PDF",
            ),
            _ => Probed::not_composed(name, "needs both Pandoc and LibreOffice", OFFERS),
        }
    }
}

impl Engine for PandocThroughOffice {
    fn name(&self) -> &'static str {
        "pandoc+libreoffice"
    }

    fn offers(&self) -> &'static [Offer] {
        OFFERS
    }

    fn convert(
        &self,
        job: &EngineJob<'_>,
        out: &mut BudgetWriter<'_>,
    ) -> Result<Format, ConversionError> {
        let document = self.pandoc.convert_to_file(job, Format::Odt)?;
        job.budget.check_time()?;
        let scratch = job.scratch.join("office");
        std::fs::create_dir_all(&scratch).map_err(ConversionError::Io)?;
        let laid_out = EngineJob {
            input: &document,
            source: Format::Odt,
            target: Format::Pdf,
            options: &ConversionOptions::default(),
            title: job.title,
            budget: job.budget,
            scratch: &scratch,
            memory_limit: job.memory_limit,
            progress: job.progress,
        };
        self.office.convert(&laid_out, out)
    }
}
