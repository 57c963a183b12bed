//! `trustyconvert convert FILE… --to FORMAT [-o OUT] [--parallel N] [--server URL]
//! [options]`: one file or many (paths or glob patterns), each with its own progress
//! bar, a bounded number at a time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use trustyconvert_client::protocol::{output_file_name, ConversionOptions, Format};
use trustyconvert_client::workflow::{Observer, Workflow, WorkflowError};
use trustyconvert_client::{ApiClient, FileBody};

use crate::options_arg::OptionArgs;
use crate::session_cmd::describe;
use crate::target::{OptionalServerArg, Target};

/// Arguments of `convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The files to convert: paths, or glob patterns such as `photos/*.heic` (quoted,
    /// so that the shell leaves them to this command).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    /// Target format.
    #[arg(long = "to", value_parser = crate::format_arg::TargetFormat)]
    to: Format,
    /// Where to write the result (default: next to FILE with the new extension; with
    /// `-converted` added when FILE is already in the target format). With several
    /// files, a folder (created if missing).
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// How many files are converted at once through a server (a server runs at most
    /// 2 conversions of one session at a time unless configured otherwise).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=32))]
    parallel: u16,
    #[command(flatten)]
    options: OptionArgs,
    #[command(flatten)]
    server: OptionalServerArg,
}

/// How often the job status is polled.
const POLL_INTERVAL: Duration = Duration::from_millis(150);

/// The files `patterns` name: each an existing path, or a glob pattern matching at
/// least one file (in name order). A file named twice is converted once.
fn expand(patterns: &[String]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for pattern in patterns {
        let path = Path::new(pattern);
        if path.exists() || !pattern.contains(['*', '?', '[']) {
            files.push(path.to_owned());
            continue;
        }
        let matches = glob::glob(pattern).map_err(|e| format!("bad pattern {pattern}: {e}"))?;
        let mut found: Vec<PathBuf> = matches
            .filter_map(Result::ok)
            .filter(|path| path.is_file())
            .collect();
        if found.is_empty() {
            return Err(format!("no file matches {pattern}"));
        }
        found.sort();
        files.extend(found);
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|file| seen.insert(file.clone()));
    Ok(files)
}

/// The name a file is uploaded under (its own).
fn upload_name(file: &Path) -> String {
    file.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("upload")
        .to_owned()
}

/// Where each file's result goes: `-o` for one file; with several, into `-o` as a
/// folder or next to each file. Refuses a result that would overwrite its input or
/// another file's result, before anything is converted.
fn plan_outputs(
    files: &[PathBuf],
    output: Option<&Path>,
    to: Format,
) -> Result<Vec<(PathBuf, PathBuf)>, String> {
    let single = files.len() == 1;
    if let (false, Some(folder)) = (single, output) {
        if folder.exists() && !folder.is_dir() {
            return Err(format!(
                "{} is a file; with several inputs -o names a folder",
                folder.display()
            ));
        }
    }
    let mut planned = Vec::with_capacity(files.len());
    let mut taken: HashMap<PathBuf, &Path> = HashMap::new();
    for file in files {
        let name = output_file_name(&upload_name(file), to);
        let destination = match output {
            Some(path) if single => path.to_owned(),
            Some(folder) => folder.join(&name),
            None => file.with_file_name(&name),
        };
        if &destination == file {
            return Err(format!(
                "the output {} would overwrite the input; choose another -o",
                destination.display()
            ));
        }
        if let Some(other) = taken.insert(destination.clone(), file) {
            return Err(format!(
                "{} and {} would both be written to {}; convert them separately",
                other.display(),
                file.display(),
                destination.display()
            ));
        }
        planned.push((file.clone(), destination));
    }
    Ok(planned)
}

/// Runs the conversions; the message of an error names the file or the problem.
pub async fn run(args: ConvertArgs) -> Result<(), String> {
    let files = expand(&args.files)?;
    let planned = plan_outputs(&files, args.output.as_deref(), args.to)?;
    if let (true, Some(folder)) = (planned.len() > 1, &args.output) {
        tokio::fs::create_dir_all(folder)
            .await
            .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    }
    let options = args.options.to_options();
    if args.server.server.is_none() {
        let mut failed = 0;
        for (file, output) in &planned {
            if let Err(message) = crate::offline::run(file, args.to, options.clone(), output).await
            {
                eprintln!("trustyconvert: {message}");
                failed += 1;
            }
        }
        return summary(failed, planned.len());
    }

    let target = Target::connect(&args.server).await?;
    let api = target.manager.api();
    let bars = MultiProgress::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(usize::from(args.parallel)));
    let mut running = Vec::with_capacity(planned.len());
    for (file, output) in planned {
        let (api, bars, slots) = (api.clone(), bars.clone(), Arc::clone(&slots));
        let (to, options, label) = (args.to, options.clone(), target.label.clone());
        running.push(tokio::spawn(async move {
            let _slot = slots.acquire_owned().await.expect("never closed");
            let outcome = convert_one(&api, &bars, &file, &output, to, &options).await;
            outcome.map_err(|error| {
                let name = file.display();
                match error {
                    Failure::Workflow(WorkflowError::Client(error)) => {
                        format!("{name}: {}", describe(&error, &label))
                    }
                    Failure::Workflow(other) => format!("{name}: {other}"),
                    Failure::Io(message) => message,
                }
            })
        }));
    }
    let mut failed = 0;
    for task in running {
        let outcome = task
            .await
            .unwrap_or_else(|_| Err("a conversion crashed".to_owned()));
        if let Err(message) = outcome {
            bars.suspend(|| eprintln!("trustyconvert: {message}"));
            failed += 1;
        }
    }
    target.finish().await?;
    summary(failed, files.len())
}

/// Success, or how many of `total` failed (each was reported as it failed).
fn summary(failed: usize, total: usize) -> Result<(), String> {
    match (failed, total) {
        (0, _) => Ok(()),
        (1, 1) => Err("the conversion failed".to_owned()),
        _ => Err(format!("{failed} of {total} conversions failed")),
    }
}

/// Why one file was not converted.
enum Failure {
    Workflow(WorkflowError),
    Io(String),
}

/// Uploads, converts and downloads one file with its own bar; writes the result
/// (several files come back as one zip: then named `.zip`).
async fn convert_one(
    api: &ApiClient,
    bars: &MultiProgress,
    file: &Path,
    output: &Path,
    to: Format,
    options: &ConversionOptions,
) -> Result<(), Failure> {
    let name = file.display().to_string();
    let bytes = tokio::fs::read(file)
        .await
        .map_err(|e| Failure::Io(format!("cannot read {name}: {e}")))?;
    let size = bytes.len() as u64;
    let bar = Arc::new(FileBar::new(bars, &upload_name(file), size));
    let workflow = Workflow::new(api.clone()).poll_every(POLL_INTERVAL);
    let converted = workflow
        .convert_file_with_options(
            FileBody::Bytes(bytes.into()),
            &upload_name(file),
            to,
            options,
            bar.clone(),
        )
        .await;
    let converted = match converted {
        Ok(converted) => converted,
        Err(error) => {
            bar.bar.abandon_with_message("failed");
            return Err(Failure::Workflow(error));
        }
    };
    let result = match workflow.download(&converted, bar.clone()).await {
        Ok(result) => result,
        Err(error) => {
            bar.bar.abandon_with_message("failed");
            return Err(Failure::Workflow(error));
        }
    };
    let written = converted.status.output_format.unwrap_or(to);
    let output = match written {
        packed if packed != to => output.with_extension(packed.extension()),
        _ => output.to_owned(),
    };
    tokio::fs::write(&output, &result)
        .await
        .map_err(|e| Failure::Io(format!("cannot write {}: {e}", output.display())))?;
    bar.bar.finish_with_message("done");
    // Printed between redraws (and printed at all when no bars are drawn: not a TTY).
    bars.suspend(|| println!("{name} → {} ({} bytes)", output.display(), result.len()));
    Ok(())
}

const BYTES: &str = "{prefix:24!} {msg:11} [{bar:30}] {bytes}/{total_bytes}";
const PERCENT: &str = "{prefix:24!} {msg:11} [{bar:30}] {pos}%";

/// One file's progress bar, through its steps: the upload's bytes, the conversion's
/// percent, the download's bytes.
struct FileBar {
    bar: ProgressBar,
}

impl FileBar {
    fn new(bars: &MultiProgress, name: &str, size: u64) -> Self {
        let bar = bars.add(ProgressBar::new(size));
        bar.set_prefix(name.to_owned());
        Self::step(&bar, "uploading", BYTES, size);
        Self { bar }
    }

    fn step(bar: &ProgressBar, message: &'static str, template: &str, length: u64) {
        bar.set_style(
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_length(length);
        bar.set_position(0);
        bar.set_message(message);
    }
}

impl Observer for FileBar {
    fn upload_progress(&self, sent: u64, _total: Option<u64>) {
        self.bar.set_position(sent);
    }

    fn uploaded(&self) {
        Self::step(&self.bar, "converting", PERCENT, 100);
    }

    fn conversion_progress(&self, percent: u8) {
        self.bar.set_position(u64::from(percent));
    }

    fn converted(&self) {
        Self::step(&self.bar, "downloading", BYTES, 0);
    }

    fn download_progress(&self, received: u64, total: Option<u64>) {
        if let Some(total) = total {
            self.bar.set_length(total);
        }
        self.bar.set_position(received);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_go_next_to_their_files_or_into_the_output_folder() {
        let files = [PathBuf::from("a/photo.png"), PathBuf::from("b/scan.tiff")];
        let planned = plan_outputs(&files, None, Format::Jpeg).unwrap();
        assert_eq!(planned[0].1, PathBuf::from("a/photo.jpg"));
        assert_eq!(planned[1].1, PathBuf::from("b/scan.jpg"));
        let planned = plan_outputs(&files, Some(Path::new("out")), Format::Jpeg).unwrap();
        assert_eq!(planned[1].1, PathBuf::from("out/scan.jpg"));
        let one = plan_outputs(&files[..1], Some(Path::new("x.jpeg")), Format::Jpeg).unwrap();
        assert_eq!(one[0].1, PathBuf::from("x.jpeg"));
    }

    #[test]
    fn two_results_for_one_place_are_refused_before_anything_runs() {
        let files = [PathBuf::from("photo.png"), PathBuf::from("photo.bmp")];
        let refused = plan_outputs(&files, None, Format::Jpeg).unwrap_err();
        assert!(refused.contains("photo.jpg"), "{refused}");
    }

    #[test]
    fn patterns_expand_to_their_files_in_name_order_and_unmatched_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.png", "a.png", "c.txt"] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        let pattern = dir.path().join("*.png").display().to_string();
        let literal = dir.path().join("c.txt").display().to_string();
        let files = expand(&[pattern.clone(), literal, pattern]).unwrap();
        let names: Vec<_> = files.iter().map(|f| upload_name(f)).collect();
        assert_eq!(names, ["a.png", "b.png", "c.txt"]);
        let none = dir.path().join("*.heic").display().to_string();
        assert!(expand(&[none]).unwrap_err().contains("no file matches"));
    }
}
