//! The engines this crate has, probed once per process.

use std::ffi::OsString;
use std::sync::{Mutex, PoisonError};

use crate::engine::Probed;
use crate::{
    BuiltinEngine, EngineSettings, Engines, Ffmpeg, Libheif, LibreOffice, Pandoc,
    PandocThroughOffice, Poppler, SlidesAsPictures,
};

/// Probes every engine (LibreOffice as `settings` say, and its warm instances started
/// in the background); blocks while the engines answer their versions (about a
/// second), so call it from a blocking context at startup. The result is kept for the
/// process: later calls with the same settings and `PATH` reuse it.
pub fn probe_engines(settings: &EngineSettings) -> Engines {
    type Key = (EngineSettings, Option<OsString>);
    static PROBED: Mutex<Vec<(Key, Engines)>> = Mutex::new(Vec::new());
    let key = (settings.clone(), std::env::var_os("PATH"));
    let mut probed = PROBED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, engines)) = probed.iter().find(|(known, _)| *known == key) {
        return engines.clone();
    }
    let office = LibreOffice::find(&settings.libreoffice, settings.office_pool);
    let pandoc = Pandoc::find();
    let poppler = Poppler::find();
    let engines = Engines::from_probes([
        BuiltinEngine::probe(),
        LibreOffice::probed(&office),
        Ffmpeg::probe(),
        Pandoc::probed(&pandoc),
        PandocThroughOffice::probe(&pandoc, &office),
        Probed::from_found(&poppler, Poppler::OFFERS),
        SlidesAsPictures::probe(&office, &poppler),
        Libheif::probe(),
    ]);
    probed.push((key, engines.clone()));
    engines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{known_targets, Format};

    #[test]
    fn every_format_an_engine_found_here_writes_is_a_known_target() {
        let known = known_targets();
        let engines = probe_engines(&EngineSettings::default());
        for offer in engines.offers() {
            for target in offer.outputs {
                assert!(known.contains(target), "{target} is missing from {known:?}");
            }
        }
        for office in [Format::Docx, Format::Odt] {
            assert!(
                known.contains(&office),
                "{office} without LibreOffice probed"
            );
        }
        assert!(!known.contains(&Format::Doc), "nothing writes .doc");
    }
}
