//! Which conversions the server offers for a chosen file, from
//! `GET /api/convert/formats`.

use trustyconvert_client::protocol::{Format, FormatGroup};

/// The format of a file, judged by its extension (the server checks the content).
pub fn source_format(file_name: &str) -> Option<Format> {
    Format::from_file_name(file_name)
}

/// What the server offers for files of format `source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Target formats, without the source itself or duplicate aliases.
    pub targets: Vec<Format>,
    /// The largest accepted upload, in bytes.
    pub max_size: u64,
}

/// The formats a list of names (and aliases) from the server names, each once;
/// names this build does not know are skipped.
fn formats<'a>(names: impl Iterator<Item = &'a String>) -> Vec<Format> {
    let mut formats: Vec<Format> = Vec::new();
    for format in names.filter_map(|name| Format::parse(name)) {
        if !formats.contains(&format) {
            formats.push(format);
        }
    }
    formats
}

/// The offer for `source`, or `None` when no group accepts it.
pub fn offer(groups: &[FormatGroup], source: Format) -> Option<Offer> {
    let accepting: Vec<&FormatGroup> = groups
        .iter()
        .filter(|g| formats(g.input_formats.iter()).contains(&source))
        .collect();
    let max_size = accepting.iter().map(|g| g.max_size).max()?;
    let mut targets = formats(accepting.iter().flat_map(|g| g.output_formats.iter()));
    targets.retain(|target| *target != source);
    Some(Offer { targets, max_size })
}

/// Every accepted input format, for the picker's hint.
pub fn accepted_inputs(groups: &[FormatGroup]) -> Vec<String> {
    formats(groups.iter().flat_map(|g| g.input_formats.iter()))
        .into_iter()
        .map(|format| format.name().to_owned())
        .collect()
}
