//! `--to FORMAT`: parsed by the protocol's names and aliases, its help listing every
//! format the conversion engines can write — taken from the engines at runtime, so a
//! new target shows up without editing this.

use clap::builder::{PossibleValue, StringValueParser, TypedValueParser};
use trustyconvert_client::protocol::Format;

/// The parser of a target format.
#[derive(Debug, Clone, Copy)]
pub struct TargetFormat;

impl TypedValueParser for TargetFormat {
    type Value = Format;

    fn parse_ref(
        &self,
        command: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Format, clap::Error> {
        StringValueParser::new()
            .try_map(|name| name.parse::<Format>())
            .parse_ref(command, arg, value)
    }

    /// Shown in `--help`; any format name is still parsed (a server decides what it
    /// converts), the aliases (`jpg`, `tif`, …) included.
    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        let targets = trustyconvert_convert::known_targets().into_iter();
        Some(Box::new(targets.map(|format| {
            PossibleValue::new(format.name()).aliases(format.aliases().iter().copied())
        })))
    }
}
