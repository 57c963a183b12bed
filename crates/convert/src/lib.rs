//! TrustyConvert's conversions, usable without HTTP: the engines that perform them
//! ([`Engines`], probed once with [`probe_engines`]), what an input must look like to
//! be accepted ([`inspect_input`]: its name, its magic bytes and the deeper checks its
//! format needs), and the limits each run keeps to ([`Budget`]).
//!
//! The TrustyConvert server uses this crate behind its upload and conversion routes;
//! the `trustyconvert convert` command uses it directly when it runs without a server.
//!
//! ```
//! use std::time::Duration;
//!
//! use trustyconvert_convert::{
//!     inspect_input, probe_engines, Budget, EngineJob, EngineSettings, Format, InputBytes,
//!     InputClaim, LibreOfficeSetting,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Once per process: which engines this machine has (LibreOffice is optional:
//! // `LibreOfficeSetting::Auto` looks for it on the PATH).
//! let engines = probe_engines(&EngineSettings {
//!     libreoffice: LibreOfficeSetting::Off,
//!     ..EngineSettings::default()
//! });
//!
//! let scratch = tempfile::tempdir()?;
//! let input = scratch.path().join("prices.csv");
//! std::fs::write(&input, "item,price\ntea,3.5\n")?;
//!
//! // The same checks an upload gets: the name says CSV, some engine must read it and
//! // the bytes must agree (for pictures, their declared size must be within limits).
//! let claim = InputClaim { file_name: "prices.csv", declared_type: None };
//! let source = inspect_input(&engines, claim, InputBytes::File(&input))?;
//! assert_eq!(source, Format::Csv);
//!
//! // Convert within 60 s and 256 MiB of output, streaming to a file.
//! let budget = Budget::new(256 << 20, Duration::from_secs(60));
//! let job = EngineJob {
//!     input: &input,
//!     source,
//!     target: Format::Json,
//!     options: &Default::default(),
//!     title: "prices.csv",
//!     budget: &budget,
//!     scratch: scratch.path(),
//!     memory_limit: 1 << 30,
//!     progress: &|_| {},
//! };
//! let output_path = scratch.path().join("prices.json");
//! let mut output = std::fs::File::create(&output_path)?;
//! engines.convert(&job, &mut output)?;
//! let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&output_path)?)?;
//! assert_eq!(json[0]["item"], "tea");
//! # Ok(())
//! # }
//! ```
//!
//! Modules:
//! - `engine`: the interface ([`Engine`]) and the registry ([`Engines`]).
//! - `builtin`: everything done in this process (images, SVG, text, data,
//!   spreadsheets) — always available.
//! - `office`: LibreOffice in a fenced subprocess — when installed.
//! - `input`: the checks an input passes before any engine opens it.
//! - `catalog`: every engine's offers, installed or not ([`known_offers`]), and the
//!   table `docs/formats.md` holds ([`formats_markdown`]).
//! - `budget`: the output and time limits every run writes through.
//!
//! # Features
//!
//! None: the built-in engine is always compiled in; LibreOffice is found (or not) at
//! run time ([`LibreOfficeSetting`]), so a missing engine's formats are simply not
//! offered.
//!
//! # Minimum supported Rust version
//!
//! 1.92.

#![deny(missing_docs)]

mod budget;
mod builtin;
mod catalog;
mod document;
mod engine;
mod error;
mod external;
mod font;
mod format;
mod heif;
mod image;
mod input;
mod media;
mod office;
mod package;
mod pdf;
mod poppler;
mod probe;
#[cfg(test)]
mod properties;
mod setting;
mod sheet;
mod slides;
mod svg;
mod text;
mod text_pdf;

pub use self::budget::{Budget, BudgetWriter, Sink};
pub use self::builtin::BuiltinEngine;
pub use self::catalog::{formats_markdown, known_offers, known_pairs, known_targets};
pub use self::document::{Pandoc, PandocThroughOffice};
pub use self::engine::{Converted, Engine, EngineJob, EngineReport, Engines, Found, Offer, Probed};
pub use self::error::ConversionError;
pub use self::heif::Libheif;
pub use self::input::{inspect_input, inspection_is_heavy, InputBytes, InputClaim, InputError};
pub use self::media::Ffmpeg;
pub use self::office::{LibreOffice, PoolSettings};
pub use self::poppler::Poppler;
pub use self::probe::probe_engines;
pub use self::setting::{EngineSettings, LibreOfficeSetting};
pub use self::slides::SlidesAsPictures;
pub use trustyconvert_protocol::{ConversionOptions, Format};

/// The README's example, compiled as a doctest so it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;
