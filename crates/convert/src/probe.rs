//! The engines this crate has, probed once per process, and every format they can
//! write.

use std::ffi::OsString;
use std::sync::{Mutex, PoisonError};

use crate::{BuiltinEngine, Engine as _, Engines, Format, LibreOffice, LibreOfficeSetting};

/// Probes every engine (LibreOffice as `libreoffice` says); blocks while LibreOffice
/// answers its version (about a second), so call it from a blocking context at
/// startup. The result is kept for the process: later calls with the same setting and
/// `PATH` reuse it.
pub fn probe_engines(libreoffice: &LibreOfficeSetting) -> Engines {
    type Key = (LibreOfficeSetting, Option<OsString>);
    static PROBED: Mutex<Vec<(Key, Engines)>> = Mutex::new(Vec::new());
    let key = (libreoffice.clone(), std::env::var_os("PATH"));
    let mut probed = PROBED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, engines)) = probed.iter().find(|(known, _)| *known == key) {
        return engines.clone();
    }
    let engines = Engines::from_probes([BuiltinEngine::probe(), LibreOffice::probe(libreoffice)]);
    probed.push((key, engines.clone()));
    engines
}

/// Every format some engine of this crate can write, whether or not it is installed
/// here, in [`Format::ALL`] order; known without probing (for help texts).
pub fn known_targets() -> Vec<Format> {
    let offers = || BuiltinEngine.offers().iter().chain(LibreOffice::OFFERS);
    Format::ALL
        .into_iter()
        .filter(|format| offers().any(|offer| offer.outputs.contains(format)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_an_engine_found_here_writes_is_a_known_target() {
        let known = known_targets();
        let engines = probe_engines(&LibreOfficeSetting::Auto);
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
