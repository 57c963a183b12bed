//! What LibreOffice converts, by the modules installed: Writer (documents) always,
//! Calc (spreadsheets) and Impress (presentations) when their libraries are found
//! beside `soffice` — Debian, for one, packages them separately.

use std::path::Path;

use crate::engine::Offer;
use crate::Format;

const DOCUMENTS_PDF: Offer = Offer {
    id: "office",
    name: "Office documents",
    description: "Word, OpenDocument, RTF and HTML documents to PDF, laid out by LibreOffice.",
    inputs: &[
        Format::Docx,
        Format::Doc,
        Format::Odt,
        Format::Rtf,
        Format::Html,
    ],
    outputs: &[Format::Pdf],
    features: &[
        "fonts, tables and images kept",
        "macros never run",
        "no network",
    ],
};

const DOCX_TO_ODT: Offer = Offer {
    id: "docx-to-odt",
    name: "Word to OpenDocument",
    description: "A Word document as an OpenDocument text.",
    inputs: &[Format::Docx],
    outputs: &[Format::Odt],
    features: &["macros never run"],
};

const ODT_TO_DOCX: Offer = Offer {
    id: "odt-to-docx",
    name: "OpenDocument to Word",
    description: "An OpenDocument text as a Word document.",
    inputs: &[Format::Odt],
    outputs: &[Format::Docx],
    features: &["macros never run"],
};

const SPREADSHEETS_PDF: Offer = Offer {
    id: "spreadsheet-pdf",
    name: "Spreadsheets to PDF",
    description:
        "Excel and OpenDocument workbooks and CSV tables to PDF, laid out by LibreOffice Calc.",
    inputs: &[Format::Xlsx, Format::Ods, Format::Csv],
    outputs: &[Format::Pdf],
    features: &["every sheet", "macros never run", "CSV read as UTF-8"],
};

const PRESENTATIONS_PDF: Offer = Offer {
    id: "presentation-pdf",
    name: "Presentations to PDF",
    description: "PowerPoint and OpenDocument presentations to PDF, one page per slide, by LibreOffice Impress.",
    inputs: &[Format::Pptx, Format::Odp],
    outputs: &[Format::Pdf],
    features: &["one page per slide", "macros never run"],
};

/// With Writer only.
const WRITER: &[Offer] = &[DOCUMENTS_PDF, DOCX_TO_ODT, ODT_TO_DOCX];
/// With Writer and Calc.
const WRITER_CALC: &[Offer] = &[DOCUMENTS_PDF, DOCX_TO_ODT, ODT_TO_DOCX, SPREADSHEETS_PDF];
/// With Writer and Impress.
const WRITER_IMPRESS: &[Offer] = &[DOCUMENTS_PDF, DOCX_TO_ODT, ODT_TO_DOCX, PRESENTATIONS_PDF];
/// With every module: also what a LibreOffice not found would bring.
pub const ALL_OFFERS: &[Offer] = &[
    DOCUMENTS_PDF,
    DOCX_TO_ODT,
    ODT_TO_DOCX,
    SPREADSHEETS_PDF,
    PRESENTATIONS_PDF,
];

/// The optional modules found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modules {
    /// Calc, for spreadsheets.
    pub calc: bool,
    /// Impress, for presentations.
    pub impress: bool,
}

impl Modules {
    /// The modules whose libraries are in the folder of `soffice` (`libsclo.so`,
    /// `libsdlo.so`).
    pub fn installed_beside(program: &Path) -> Self {
        let has = |library: &str| {
            program
                .parent()
                .is_some_and(|dir| dir.join(library).is_file())
        };
        Self {
            calc: has("libsclo.so"),
            impress: has("libsdlo.so"),
        }
    }

    /// Whether Impress is there (presentations can be read).
    pub fn reads_presentations(self) -> bool {
        self.impress
    }
}

/// The offers of an installation with `modules`.
pub fn offers_for(modules: Modules) -> &'static [Offer] {
    match (modules.calc, modules.impress) {
        (false, false) => WRITER,
        (true, false) => WRITER_CALC,
        (false, true) => WRITER_IMPRESS,
        (true, true) => ALL_OFFERS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_module_adds_its_own_conversions() {
        let offers = |calc, impress| {
            offers_for(Modules { calc, impress })
                .iter()
                .map(|offer| offer.id)
                .collect::<Vec<_>>()
        };
        assert!(!offers(false, false).contains(&"spreadsheet-pdf"));
        assert!(offers(true, false).contains(&"spreadsheet-pdf"));
        assert!(!offers(true, false).contains(&"presentation-pdf"));
        assert!(offers(false, true).contains(&"presentation-pdf"));
        assert_eq!(offers(true, true).len(), ALL_OFFERS.len());
        let missing = Modules::installed_beside(Path::new("/nonexistent/program/soffice"));
        assert_eq!(
            missing,
            Modules {
                calc: false,
                impress: false
            }
        );
    }
}
