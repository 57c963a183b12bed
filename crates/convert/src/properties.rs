//! Property tests (proptest) over every converter: arbitrary input never panics and
//! never makes more output than its budget.
//!
//! proptest rather than a coverage-guided fuzzer: cargo-fuzz needs a nightly toolchain,
//! which this project's machines do not have. `PROPTEST_CASES=100000 cargo test -p
//! trustyconvert-convert properties` runs a longer search.

use std::time::Duration;

use proptest::prelude::*;

use crate::{Budget, BuiltinEngine, ConversionError, Engine, EngineJob, Format};

/// Every pair the built-in engine converts (LibreOffice runs out of process, under
/// its own limits, and takes seconds per file: not for a property test).
fn every_pair() -> Vec<(Format, Format)> {
    BuiltinEngine
        .offers()
        .iter()
        .flat_map(|offer| {
            offer
                .inputs
                .iter()
                .flat_map(move |source| offer.outputs.iter().map(move |target| (*source, *target)))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_converter_survives_arbitrary_input(
        input in proptest::collection::vec(any::<u8>(), 0..4096),
        text in "[ -~\n]{0,2048}",
    ) {
        let dir = tempfile::tempdir().unwrap();
        for (n, (source, target)) in every_pair().into_iter().enumerate() {
            for bytes in [&input[..], text.as_bytes()] {
                let path = dir.path().join(format!("{n}"));
                std::fs::write(&path, bytes).unwrap();
                let budget = Budget::new(1 << 20, Duration::from_secs(10));
                let job = EngineJob {
                    input: &path,
                    source,
                    target,
                    options: &Default::default(),
                    title: "input",
                    budget: &budget,
                    scratch: dir.path(),
                    memory_limit: u64::MAX,
                    progress: &|_| {},
                };
                let mut output = std::io::Cursor::new(Vec::new());
                let converted = BuiltinEngine
                    .convert(&job, &mut budget.writer(&mut output))
                    .map_err(|e| budget.explain(e));
                match converted {
                    Ok(_) => prop_assert!(output.get_ref().len() <= 1 << 20),
                    Err(ConversionError::Io(error)) => prop_assert!(false, "I/O error: {error}"),
                    Err(_) => {}
                }
            }
        }
    }
}
