//! `trustyconvert convert` without `--server`: the conversion runs here, through the
//! convert crate, with no HTTP — under the checks and limits a server applies by
//! default (upload size, the input checks, output size, time, engine memory).

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use trustyconvert_client::protocol::human_size;
use trustyconvert_convert::{
    inspect_input, probe_engines, Budget, ConversionError, ConversionOptions, EngineJob,
    EngineSettings, Engines, Format, InputBytes, InputClaim, InputError,
};
use trustyconvert_server::config::defaults;

/// Converts `file` to `target`, writes the result to `output` (only if it succeeds:
/// a failed run leaves no file; when the result is several files packed as a zip,
/// `output` gets the `.zip` extension instead) and prints one line. Errors name the
/// file and say what to do.
pub async fn run(
    file: &Path,
    target: Format,
    options: ConversionOptions,
    output: &Path,
) -> Result<(), String> {
    let (input, destination) = (file.to_owned(), output.to_owned());
    let (size, written) =
        tokio::task::spawn_blocking(move || convert(&input, target, &options, &destination))
            .await
            .map_err(|_| "the conversion crashed".to_owned())??;
    println!("{} → {} ({size} bytes)", file.display(), written.display());
    Ok(())
}

/// The whole run, blocking: copy, check, convert, place. Returns the output's size
/// and where it was placed.
fn convert(
    file: &Path,
    target: Format,
    options: &ConversionOptions,
    output: &Path,
) -> Result<(u64, PathBuf), String> {
    let name = file.display().to_string();
    let work = tempfile::tempdir().map_err(|e| format!("cannot create a temporary folder: {e}"))?;
    // A private copy: the checked bytes are the converted bytes, whatever happens to
    // the original meanwhile.
    let input = work.path().join("input");
    copy_within(file, &input, defaults::MAX_UPLOAD_BYTES).map_err(|error| match error {
        Copy::TooLarge => format!(
            "{name}: the file is larger than the limit of {}",
            human_size(defaults::MAX_UPLOAD_BYTES)
        ),
        Copy::Open(e) => format!("cannot read {name}: {e}"),
        Copy::Failed(e) => format!("cannot copy {name} to a temporary folder: {e}"),
    })?;
    let engines = probe_engines(&EngineSettings::default());
    let file_name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("upload");
    let claim = InputClaim {
        file_name,
        declared_type: None,
    };
    let source = inspect_input(&engines, claim, InputBytes::File(&input))
        .map_err(|error| refused(&name, error, target, &engines))?;
    if !engines.converts(source, target) {
        return Err(unsupported(&name, source, target, &engines));
    }
    options
        .check(source, target)
        .map_err(|refused| format!("{name}: {refused}"))?;
    let scratch = work.path().join("scratch");
    std::fs::create_dir(&scratch).map_err(|e| format!("cannot create a temporary folder: {e}"))?;
    let budget = Budget::new(defaults::MAX_OUTPUT_BYTES, defaults::CONVERSION_TIMEOUT);
    let job = EngineJob {
        input: &input,
        source,
        target,
        options,
        title: file_name,
        budget: &budget,
        scratch: &scratch,
        memory_limit: defaults::ENGINE_MEMORY,
        progress: &|_| {},
    };
    let cannot_write =
        |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", output.display());
    // Written beside the output and renamed into place once complete; dropped (removed)
    // if anything fails.
    let mut partial = tempfile::Builder::new()
        .prefix(".trustyconvert-")
        .suffix(".partial")
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(folder_of(output))
        .map_err(|e| cannot_write(&e))?;
    let converted = engines
        .convert(&job, partial.as_file_mut())
        .map_err(|error| match error {
            ConversionError::Output(e) => cannot_write(&e),
            ConversionError::Io(e) => format!("cannot read {name}: {e}"),
            failed => format!("{name}: the conversion failed: {failed}"),
        })?;
    let output = match converted.format {
        packed if packed != target => output.with_extension(packed.extension()),
        _ => output.to_owned(),
    };
    partial
        .persist(&output)
        .map_err(|e| cannot_write(&e.error))?;
    Ok((converted.size, output))
}

/// The message for an input the checks refused.
fn refused(name: &str, error: InputError, target: Format, engines: &Engines) -> String {
    match error {
        InputError::Unsupported {
            format: Some(source),
            ..
        } => unsupported(name, source, target, engines),
        InputError::Unsupported { .. } => {
            format!("{name}: {error} `trustyconvert formats` lists what can be.")
        }
        InputError::Io(e) => format!("cannot read {name}: {e}"),
        rejected => format!("{name}: the file was rejected: {rejected}"),
    }
}

/// The message for a pair no engine here converts: the engine to install if a
/// missing one would, else what the file can become.
fn unsupported(name: &str, source: Format, target: Format, engines: &Engines) -> String {
    if let Some(missing) = engines.missing_for(source, target) {
        return format!(
            "{name}: converting {} to {} needs {}, which is missing: {}",
            source.name(),
            target.name(),
            missing.name,
            missing.detail
        );
    }
    let targets: Vec<&str> = Format::ALL
        .into_iter()
        .filter(|to| engines.converts(source, *to))
        .map(Format::name)
        .collect();
    let choices = match targets.as_slice() {
        [] => String::new(),
        targets => format!(" (it converts to {})", targets.join(", ")),
    };
    format!(
        "{name}: converting {} to {} is not supported{choices}",
        source.name(),
        target.name()
    )
}

/// Why a copy stopped.
enum Copy {
    /// More bytes than the limit.
    TooLarge,
    /// The file could not be opened.
    Open(std::io::Error),
    /// Reading it or writing the copy failed.
    Failed(std::io::Error),
}

/// Copies `from` to a new file `to`, refusing more than `limit` bytes.
fn copy_within(from: &Path, to: &Path, limit: u64) -> Result<(), Copy> {
    let source = std::fs::File::open(from).map_err(Copy::Open)?;
    let mut destination = std::fs::File::create_new(to).map_err(Copy::Failed)?;
    let copied =
        std::io::copy(&mut source.take(limit + 1), &mut destination).map_err(Copy::Failed)?;
    match copied > limit {
        true => Err(Copy::TooLarge),
        false => Ok(()),
    }
}

/// The folder a file is in (`.` for a bare name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}
