//! The engine interface: each engine says what it converts, is probed once at startup,
//! and runs one job within that job's limits. [`Engines`] holds the engines found and
//! is the only place a server (or the command line) asks what can be converted.

use std::path::Path;
use std::sync::Arc;

use std::io::Write as _;

use crate::{Budget, BudgetWriter, ConversionError, ConversionOptions, Format, Sink};

/// A group of conversions an engine offers: every input converts to every output.
#[derive(Debug, Clone, Copy)]
pub struct Offer {
    /// Stable id of the group (`image`, `office`, …), sent to clients.
    pub id: &'static str,
    /// Its name for people.
    pub name: &'static str,
    /// One sentence on what it does.
    pub description: &'static str,
    /// Formats read.
    pub inputs: &'static [Format],
    /// Formats written (an input listed here too is re-encoded, e.g. png → png).
    pub outputs: &'static [Format],
    /// Short notes on how the conversion behaves.
    pub features: &'static [&'static str],
}

impl Offer {
    /// Whether this group converts `source` to `target`.
    pub fn converts(&self, source: Format, target: Format) -> bool {
        self.inputs.contains(&source) && self.outputs.contains(&target)
    }
}

/// One conversion to run: where its input is, what to make of it, and its limits.
pub struct EngineJob<'a> {
    /// The stored upload.
    pub input: &'a Path,
    /// Its format (verified at upload).
    pub source: Format,
    /// The format asked for.
    pub target: Format,
    /// How to convert (checked against `source` and `target` before the engine runs).
    pub options: &'a ConversionOptions,
    /// The upload's file name, for titles.
    pub title: &'a str,
    /// Time and output size left to this job.
    pub budget: &'a Budget,
    /// A private, empty directory for this job's temporary files; removed afterwards.
    pub scratch: &'a Path,
    /// Bytes of memory (address space) an external engine process may map.
    pub memory_limit: u64,
    /// Told how far the conversion is, 0–100, by engines that know (FFmpeg does);
    /// others never call it.
    pub progress: &'a (dyn Fn(u8) + Sync),
}

/// A conversion engine.
pub trait Engine: Send + Sync + 'static {
    /// Its stable name (`built-in`, `libreoffice`).
    fn name(&self) -> &'static str;
    /// The conversion groups it offers.
    fn offers(&self) -> &'static [Offer];
    /// Runs one job, writing its result to `out` as it is produced; returns the
    /// format written: the target, or [`Format::Zip`] when the result is several files
    /// packed (the pages of a PDF as pictures). Must stop by itself at the budget's
    /// deadline (`out` refuses writes past it and past the output limit).
    fn convert(
        &self,
        job: &EngineJob<'_>,
        out: &mut BudgetWriter<'_>,
    ) -> Result<Format, ConversionError>;
}

/// A finished conversion's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Converted {
    /// Its size in bytes.
    pub size: u64,
    /// Its format: the target, or [`Format::Zip`] for several files packed.
    pub format: Format,
}

/// What probing an engine found, as `trustyconvert doctor` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineReport {
    /// The engine's name.
    pub name: &'static str,
    /// Its version, if it was found.
    pub version: Option<String>,
    /// Where it was found and how it runs, or why it is missing and how to install it.
    pub detail: String,
    /// The group ids it offers (only if found).
    pub offers: Vec<&'static str>,
}

impl EngineReport {
    /// Whether the engine was found and its conversions are offered.
    pub fn found(&self) -> bool {
        self.version.is_some()
    }
}

/// The engines found at startup, in order of preference.
#[derive(Clone)]
pub struct Engines {
    available: Vec<Arc<dyn Engine>>,
    reports: Vec<EngineReport>,
    /// What each engine not found would offer, with the index of its report.
    missing: Vec<(usize, &'static [Offer])>,
}

impl std::fmt::Debug for EngineJob<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineJob")
            .field("input", &self.input)
            .field("source", &self.source)
            .field("target", &self.target)
            .field("options", &self.options)
            .field("scratch", &self.scratch)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Engines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engines")
            .field("reports", &self.reports)
            .finish()
    }
}

/// The outcome of probing one engine: the engine if it can run, and the report.
pub struct Probed {
    /// The engine, if found.
    pub engine: Option<Arc<dyn Engine>>,
    /// What was found.
    pub report: EngineReport,
    /// What the engine offers when it is found: for a missing one, the conversions
    /// it would bring, so that asking for one names what is missing.
    pub offers: &'static [Offer],
}

/// A probe's result when the engine itself is kept too (another engine hands it
/// work): the engine and its report, or the report of why it is missing.
pub type Found<E> = Result<(Arc<E>, EngineReport), EngineReport>;

impl Probed {
    /// The registry's view of `found`: a found engine offers what it says; a missing
    /// one would have offered `known` (so that asking for one names what is missing).
    pub fn from_found<E: Engine>(found: &Found<E>, known: &'static [Offer]) -> Self {
        match found {
            Ok((engine, report)) => Self {
                offers: engine.offers(),
                engine: Some(Arc::clone(engine) as Arc<dyn Engine>),
                report: report.clone(),
            },
            Err(report) => Self {
                engine: None,
                report: report.clone(),
                offers: known,
            },
        }
    }

    /// An engine made of two found ones (`parts`: their reports): its version is
    /// theirs, `a + b`.
    pub fn composed(
        name: &'static str,
        engine: Arc<dyn Engine>,
        parts: [&EngineReport; 2],
        detail: &str,
    ) -> Self {
        let version = parts
            .map(|part| part.version.as_deref().unwrap_or("?"))
            .join(" + ");
        let offers = engine.offers();
        Self {
            report: EngineReport {
                name,
                version: Some(version),
                detail: detail.to_owned(),
                offers: offers.iter().map(|offer| offer.id).collect(),
            },
            engine: Some(engine),
            offers,
        }
    }

    /// An engine made of two others, one of them missing: `detail` says what it needs;
    /// it would have offered `known`.
    pub fn not_composed(name: &'static str, detail: &str, known: &'static [Offer]) -> Self {
        Self {
            engine: None,
            report: EngineReport {
                name,
                version: None,
                detail: detail.to_owned(),
                offers: Vec::new(),
            },
            offers: known,
        }
    }
}

impl Engines {
    /// Collects probe results; engines not found are reported but offer nothing.
    pub fn from_probes(probes: impl IntoIterator<Item = Probed>) -> Self {
        let (mut available, mut reports, mut missing) = (Vec::new(), Vec::new(), Vec::new());
        for probed in probes {
            match probed.engine {
                Some(engine) => available.push(engine),
                None => missing.push((reports.len(), probed.offers)),
            }
            reports.push(probed.report);
        }
        Self {
            available,
            reports,
            missing,
        }
    }

    /// Every engine probed, found or not.
    pub fn reports(&self) -> &[EngineReport] {
        &self.reports
    }

    /// The groups on offer, in engine order; a group id offered twice is listed once.
    pub fn offers(&self) -> Vec<Offer> {
        let mut offers: Vec<Offer> = Vec::new();
        for offer in self.available.iter().flat_map(|engine| engine.offers()) {
            if !offers.iter().any(|known| known.id == offer.id) {
                offers.push(*offer);
            }
        }
        offers
    }

    /// Whether any engine reads `source`.
    pub fn reads(&self, source: Format) -> bool {
        self.available
            .iter()
            .flat_map(|engine| engine.offers())
            .any(|offer| offer.inputs.contains(&source))
    }

    /// Whether `source` converts to `target`.
    pub fn converts(&self, source: Format, target: Format) -> bool {
        self.engine_for(source, target).is_some()
    }

    /// The report of an engine that was not found and would convert `source` to
    /// `target` (when no engine found does): why it is missing and how to install it.
    pub fn missing_for(&self, source: Format, target: Format) -> Option<&EngineReport> {
        if self.converts(source, target) {
            return None;
        }
        self.missing
            .iter()
            .find(|(_, offers)| offers.iter().any(|offer| offer.converts(source, target)))
            .and_then(|(report, _)| self.reports.get(*report))
    }

    /// The first engine that converts `source` to `target`.
    fn engine_for(&self, source: Format, target: Format) -> Option<&Arc<dyn Engine>> {
        self.available.iter().find(|engine| {
            engine
                .offers()
                .iter()
                .any(|offer| offer.converts(source, target))
        })
    }

    /// Runs `job` on the engine that converts its pair, writing the result to `out`
    /// within the job's budget; returns the result's size and format. A limit it hit
    /// is named. On failure `out` holds a partial result, which the caller discards.
    pub fn convert(
        &self,
        job: &EngineJob<'_>,
        out: &mut dyn Sink,
    ) -> Result<Converted, ConversionError> {
        let engine = self
            .engine_for(job.source, job.target)
            .ok_or(ConversionError::Unsupported)?;
        job.options
            .check(job.source, job.target)
            .map_err(|refused| ConversionError::Invalid(refused.message))?;
        tracing::debug!(engine = engine.name(), source = %job.source, target = %job.target, "converting");
        let mut writer = job.budget.writer(out);
        engine
            .convert(job, &mut writer)
            .and_then(|format| {
                writer.flush().map_err(ConversionError::Output)?;
                Ok(Converted {
                    size: writer.size(),
                    format,
                })
            })
            .map_err(|error| job.budget.explain(error))
    }
}
