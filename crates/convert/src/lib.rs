//! TrustyConvert's conversions, usable without HTTP: the engines that perform them
//! ([`Engines`], probed once with [`probe_engines`]), what an input must look like to
//! be accepted ([`inspect_input`]: its name, its magic bytes and the deeper checks its
//! format needs), and the limits each run keeps to ([`Budget`]).
//!
//! The TrustyConvert server uses this crate behind its upload and conversion routes;
//! the `trustyconvert convert` command uses it directly when it runs without a server.
//!
//! ```no_run
//! use std::path::Path;
//! use std::time::Duration;
//!
//! use trustyconvert_convert::{
//!     inspect_input, probe_engines, Budget, EngineJob, Format, InputBytes, InputClaim,
//!     LibreOfficeSetting,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Once per process: which engines this machine has (LibreOffice is optional).
//! let engines = probe_engines(&LibreOfficeSetting::Auto);
//!
//! // The same checks an upload gets: the name says PNG, the bytes must agree, and
//! // the picture's declared size must be within the limits.
//! let input = Path::new("photo.png");
//! let claim = InputClaim { file_name: "photo.png", declared_type: None };
//! let source = inspect_input(&engines, claim, InputBytes::File(input))?;
//!
//! // Convert within 60 s and 256 MiB of output, streaming to a file.
//! let budget = Budget::new(256 << 20, Duration::from_secs(60));
//! let scratch = tempfile::tempdir()?;
//! let job = EngineJob {
//!     input,
//!     source,
//!     target: Format::Webp,
//!     title: "photo.png",
//!     budget: &budget,
//!     scratch: scratch.path(),
//!     memory_limit: 1 << 30,
//! };
//! let mut output = std::fs::File::create("photo.webp")?;
//! let size = engines.convert(&job, &mut output)?;
//! println!("wrote {size} bytes");
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
//! - `budget`: the output and time limits every run writes through.

#![deny(missing_docs)]

mod budget;
mod builtin;
mod engine;
mod error;
mod font;
mod format;
mod image;
mod input;
mod office;
mod package;
mod pdf;
mod probe;
#[cfg(test)]
mod properties;
mod setting;
mod sheet;
mod svg;
mod text;
mod text_pdf;

pub use self::budget::{Budget, BudgetWriter, Sink};
pub use self::builtin::BuiltinEngine;
pub use self::engine::{Engine, EngineJob, EngineReport, Engines, Offer, Probed};
pub use self::error::ConversionError;
pub use self::input::{inspect_input, inspection_is_heavy, InputBytes, InputClaim, InputError};
pub use self::office::LibreOffice;
pub use self::probe::{known_targets, probe_engines};
pub use self::setting::LibreOfficeSetting;
pub use trustyconvert_protocol::Format;

/// The README's example, compiled as a doctest so it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;
