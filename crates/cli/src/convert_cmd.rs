//! `trustyconvert convert FILE --to FORMAT [-o OUT] [--server URL] [options]`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
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
    /// The file to convert.
    file: PathBuf,
    /// Target format.
    #[arg(long = "to", value_parser = crate::format_arg::TargetFormat)]
    to: Format,
    /// Where to write the result (default: next to FILE with the new extension; with
    /// `-converted` added when FILE is already in the target format).
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    #[command(flatten)]
    options: OptionArgs,
    #[command(flatten)]
    server: OptionalServerArg,
}

/// How often the job status is polled.
const POLL_INTERVAL: Duration = Duration::from_millis(150);

/// Next to `file`, named by the one output-file-name rule.
fn default_output(file: &Path, filename: &str, target: Format) -> PathBuf {
    file.with_file_name(output_file_name(filename, target))
}

fn bar(progress: &MultiProgress, length: u64, label: &str, template: &str) -> ProgressBar {
    let bar = progress.add(ProgressBar::new(length));
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(label.to_owned());
    bar
}

const BYTES: &str = "{msg:10} [{bar:30}] {bytes}/{total_bytes}";
const PERCENT: &str = "{msg:10} [{bar:30}] {pos}%";

/// Runs the conversion; the message of an error names the file or the problem.
pub async fn run(args: ConvertArgs) -> Result<(), String> {
    let name = args.file.display().to_string();
    let filename = args
        .file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("upload")
        .to_owned();
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(&args.file, &filename, args.to));
    if output == args.file {
        return Err(format!(
            "the output {} would overwrite the input; choose another -o",
            output.display()
        ));
    }
    let options = args.options.to_options();
    if args.server.server.is_none() {
        return crate::offline::run(&args.file, args.to, options, &output).await;
    }
    let bytes = tokio::fs::read(&args.file)
        .await
        .map_err(|e| format!("cannot read {name}: {e}"))?;

    let target = Target::connect(&args.server).await?;
    let outcome = convert(&target.manager.api(), &filename, bytes, args.to, &options).await;
    let label = target.label.clone();
    target.finish().await?;
    let (converted, written) = outcome.map_err(|error| match error {
        WorkflowError::Client(error) => format!("{name}: {}", describe(&error, &label)),
        other => format!("{name}: {other}"),
    })?;
    // Several files come back as one zip: named so.
    let output = match written {
        packed if packed != args.to => output.with_extension(packed.extension()),
        _ => output,
    };
    tokio::fs::write(&output, &converted)
        .await
        .map_err(|e| format!("cannot write {}: {e}", output.display()))?;
    println!("{name} → {} ({} bytes)", output.display(), converted.len());
    Ok(())
}

/// The progress bars of one conversion: upload, then conversion, then download, each
/// added when its step begins.
struct Bars {
    progress: MultiProgress,
    upload: ProgressBar,
    conversion: OnceLock<ProgressBar>,
    download: OnceLock<ProgressBar>,
}

impl Bars {
    fn new(size: u64) -> Self {
        let progress = MultiProgress::new();
        let upload = bar(&progress, size, "upload", BYTES);
        Self {
            progress,
            upload,
            conversion: OnceLock::new(),
            download: OnceLock::new(),
        }
    }
}

impl Observer for Bars {
    fn upload_progress(&self, sent: u64, _total: Option<u64>) {
        self.upload.set_position(sent);
    }

    fn uploaded(&self) {
        self.upload.finish_with_message("uploaded");
        self.conversion
            .get_or_init(|| bar(&self.progress, 100, "convert", PERCENT));
    }

    fn conversion_progress(&self, percent: u8) {
        if let Some(conversion) = self.conversion.get() {
            conversion.set_position(u64::from(percent));
        }
    }

    fn converted(&self) {
        if let Some(conversion) = self.conversion.get() {
            conversion.finish_with_message("converted");
        }
        self.download
            .get_or_init(|| bar(&self.progress, 0, "download", BYTES));
    }

    fn download_progress(&self, received: u64, total: Option<u64>) {
        if let Some(download) = self.download.get() {
            if let Some(total) = total {
                download.set_length(total);
            }
            download.set_position(received);
        }
    }
}

async fn convert(
    api: &ApiClient,
    filename: &str,
    bytes: Vec<u8>,
    to: Format,
    options: &ConversionOptions,
) -> Result<(Vec<u8>, Format), WorkflowError> {
    let bars = Arc::new(Bars::new(bytes.len() as u64));
    let workflow = Workflow::new(api.clone()).poll_every(POLL_INTERVAL);
    let file = FileBody::Bytes(bytes.into());
    let converted = workflow
        .convert_file_with_options(file, filename, to, options, bars.clone())
        .await
        .inspect_err(|error| {
            if let (WorkflowError::JobFailed { .. }, Some(conversion)) =
                (error, bars.conversion.get())
            {
                conversion.abandon_with_message("failed");
            }
        })?;
    let output = workflow.download(&converted, bars.clone()).await?;
    if let Some(download) = bars.download.get() {
        download.finish_with_message("downloaded");
    }
    Ok((output, converted.status.output_format.unwrap_or(to)))
}
