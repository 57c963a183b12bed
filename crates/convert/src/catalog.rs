//! Every conversion an engine of this crate can perform, installed here or not, and
//! the table of them that `docs/formats.md` holds (a test keeps the two equal).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::{
    BuiltinEngine, Engine as _, Ffmpeg, Format, Libheif, LibreOffice, Offer, Pandoc,
    PandocThroughOffice, Poppler, SlidesAsPictures,
};

/// Every engine's offers with the engine's name, whether or not the engine is
/// installed here (what `probe_engines` finds is a subset).
///
/// ```
/// let groups = trustyconvert_convert::known_offers();
/// assert!(groups.iter().any(|(engine, offer)| *engine == "built-in" && offer.id == "image"));
/// ```
pub fn known_offers() -> Vec<(&'static str, &'static Offer)> {
    let builtin = BuiltinEngine
        .offers()
        .iter()
        .map(|offer| (BuiltinEngine.name(), offer));
    let office = LibreOffice::OFFERS
        .iter()
        .map(|offer| ("libreoffice", offer));
    let media = Ffmpeg::OFFERS.iter().map(|offer| ("ffmpeg", offer));
    let documents = Pandoc::OFFERS.iter().map(|offer| ("pandoc", offer));
    let documents_pdf = PandocThroughOffice::OFFERS
        .iter()
        .map(|offer| ("pandoc+libreoffice", offer));
    builtin
        .chain(office)
        .chain(media)
        .chain(documents)
        .chain(documents_pdf)
        .chain(Poppler::OFFERS.iter().map(|offer| ("poppler", offer)))
        .chain(Libheif::OFFERS.iter().map(|offer| ("libheif", offer)))
        .chain(
            SlidesAsPictures::OFFERS
                .iter()
                .map(|offer| ("libreoffice+poppler", offer)),
        )
        .collect()
}

/// Every format some engine of this crate can write, whether or not it is installed
/// here, in [`Format::ALL`] order; known without probing (for help texts).
pub fn known_targets() -> Vec<Format> {
    let offers = known_offers();
    Format::ALL
        .into_iter()
        .filter(|format| {
            offers
                .iter()
                .any(|(_, offer)| offer.outputs.contains(format))
        })
        .collect()
}

/// The distinct (from, to) pairs the engines of this crate offer, installed or not.
pub fn known_pairs() -> BTreeSet<(Format, Format)> {
    known_offers()
        .iter()
        .flat_map(|(_, offer)| {
            offer
                .inputs
                .iter()
                .flat_map(move |input| offer.outputs.iter().map(move |output| (*input, *output)))
        })
        .collect()
}

/// The markdown table of every conversion group (`docs/formats.md`): its id, the
/// engine that performs it, what it reads and what it writes, then the number of
/// distinct (from, to) pairs.
pub fn formats_markdown() -> String {
    let mut table = String::from("| group | engine | from | to |\n|---|---|---|---|\n");
    for (engine, offer) in known_offers() {
        let names = |formats: &[Format]| {
            formats
                .iter()
                .map(|format| format!("`{}`", format.name()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            table,
            "| `{}` | {engine} | {} | {} |",
            offer.id,
            names(offer.inputs),
            names(offer.outputs)
        );
    }
    let _ = writeln!(
        table,
        "\n{} distinct (from, to) pairs with every engine installed.",
        known_pairs().len()
    );
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generated part of `docs/formats.md` sits between these lines.
    const BEGIN: &str = "<!-- generated: formats table -->\n";
    const END: &str = "<!-- end of generated table -->";

    /// `docs/formats.md` holds exactly the registry's table. Run with
    /// `UPDATE_FORMATS_DOC=1` to rewrite the table from the registry.
    #[test]
    fn the_formats_doc_is_the_registrys_table() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/formats.md");
        let doc = std::fs::read_to_string(&path).expect("docs/formats.md exists");
        let start = doc
            .find(BEGIN)
            .expect("the doc marks where the table begins")
            + BEGIN.len();
        let end = doc.find(END).expect("the doc marks where the table ends");
        let table = formats_markdown();
        if std::env::var_os("UPDATE_FORMATS_DOC").is_some() {
            let updated = format!("{}{table}{}", &doc[..start], &doc[end..]);
            std::fs::write(&path, updated).unwrap();
            return;
        }
        assert_eq!(
            &doc[start..end],
            table,
            "docs/formats.md and the engine registry disagree; \
             rerun with UPDATE_FORMATS_DOC=1 to rewrite the table"
        );
    }

    #[test]
    fn every_pair_of_an_offer_is_counted_once() {
        let pairs = known_pairs();
        assert!(pairs.contains(&(Format::Png, Format::Webp)));
        assert!(pairs.contains(&(Format::Docx, Format::Pdf)));
        let listed: usize = known_offers()
            .iter()
            .map(|(_, offer)| offer.inputs.len() * offer.outputs.len())
            .sum();
        assert!(pairs.len() <= listed);
    }
}
