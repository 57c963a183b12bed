//! Which conversions the server offers for a chosen file, from
//! `GET /api/convert/formats`.

use trustyconvert_client::protocol::FormatGroup;

/// The canonical name of a format or of one of its aliases and file extensions.
fn canonical(name: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        "jpg" => "jpeg".to_owned(),
        "tif" => "tiff".to_owned(),
        "md" => "markdown".to_owned(),
        "text" => "txt".to_owned(),
        other => other.to_owned(),
    }
}

/// The format of a file, judged by its extension (the server checks the content).
pub fn source_format(file_name: &str) -> Option<String> {
    let (_, extension) = file_name.rsplit_once('.')?;
    (!extension.is_empty()).then(|| canonical(extension))
}

/// What the server offers for files of format `source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Target format names, without the source itself or duplicate aliases.
    pub targets: Vec<String>,
    /// The largest accepted upload, in bytes.
    pub max_size: u64,
}

/// The offer for `source`, or `None` when no group accepts it.
pub fn offer(groups: &[FormatGroup], source: &str) -> Option<Offer> {
    let source = canonical(source);
    let accepting: Vec<&FormatGroup> = groups
        .iter()
        .filter(|g| g.input_formats.iter().any(|f| canonical(f) == source))
        .collect();
    let max_size = accepting.iter().map(|g| g.max_size).max()?;
    let mut targets: Vec<String> = Vec::new();
    for target in accepting.iter().flat_map(|g| g.output_formats.iter()) {
        let target = canonical(target);
        if target != source && !targets.contains(&target) {
            targets.push(target);
        }
    }
    Some(Offer { targets, max_size })
}

/// Every accepted input format, for the picker's hint.
pub fn accepted_inputs(groups: &[FormatGroup]) -> Vec<String> {
    let mut inputs: Vec<String> = Vec::new();
    for input in groups.iter().flat_map(|g| g.input_formats.iter()) {
        let input = canonical(input);
        if !inputs.contains(&input) {
            inputs.push(input);
        }
    }
    inputs
}
