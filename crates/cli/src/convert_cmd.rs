//! `trustyconvert convert FILE --to FORMAT [-o OUT] [--server URL]`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use trustyconvert_client::protocol::{Format, JobStatus};
use trustyconvert_client::{ApiClient, ClientError, FileBody, Progress};

use crate::session_cmd::describe;
use crate::target::{OptionalServerArg, Target};

/// Arguments of `convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The file to convert.
    file: PathBuf,
    /// Target format: png, jpeg (jpg), gif, bmp, tiff (tif), webp, pdf, html, json, csv.
    #[arg(long = "to")]
    to: Format,
    /// Where to write the result (default: next to FILE with the new extension).
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    #[command(flatten)]
    server: OptionalServerArg,
}

/// How often the job status is polled.
const POLL_INTERVAL: Duration = Duration::from_millis(150);

fn default_output(file: &Path, target: Format) -> PathBuf {
    let candidate = file.with_extension(target.extension());
    if candidate == file {
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("output");
        return file.with_file_name(format!("{stem}-converted.{}", target.extension()));
    }
    candidate
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
    let bytes = tokio::fs::read(&args.file)
        .await
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    let filename = args
        .file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("upload")
        .to_owned();
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(&args.file, args.to));
    if output == args.file {
        return Err(format!(
            "the output {} would overwrite the input; choose another -o",
            output.display()
        ));
    }

    let target = Target::connect(&args.server).await?;
    let outcome = convert(&target.manager.api(), &filename, bytes, args.to).await;
    let label = target.label.clone();
    target.finish().await?;
    let converted = outcome.map_err(|error| match error {
        Failure::Api(error) => format!("{name}: {}", describe(&error, &label)),
        Failure::Job(reason) => format!("{name}: the conversion failed: {reason}"),
    })?;
    tokio::fs::write(&output, &converted)
        .await
        .map_err(|e| format!("cannot write {}: {e}", output.display()))?;
    println!("{name} → {} ({} bytes)", output.display(), converted.len());
    Ok(())
}

enum Failure {
    Api(ClientError),
    Job(String),
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Self {
        Self::Api(error)
    }
}

async fn convert(
    api: &ApiClient,
    filename: &str,
    bytes: Vec<u8>,
    to: Format,
) -> Result<Vec<u8>, Failure> {
    let progress = MultiProgress::new();
    let job_id = uuid::Uuid::new_v4().to_string();

    let upload = bar(&progress, bytes.len() as u64, "upload", BYTES);
    let upload_bar = upload.clone();
    let report = Progress::new(move |sent, _| upload_bar.set_position(sent));
    let file = FileBody::Bytes(bytes.into());
    api.upload_file(&job_id, filename, file, Some(report))
        .await?;
    upload.finish_with_message("uploaded");

    let conversion = bar(&progress, 100, "convert", PERCENT);
    api.convert(&job_id, to).await?;
    loop {
        let status = api.job_status(&job_id).await?;
        conversion.set_position(u64::from(status.progress));
        match status.status {
            JobStatus::Completed => break,
            JobStatus::Failed => {
                conversion.abandon_with_message("failed");
                let reason = status.error.unwrap_or_else(|| "no reason given".to_owned());
                return Err(Failure::Job(reason));
            }
            _ => tokio::time::sleep(POLL_INTERVAL).await,
        }
    }
    conversion.finish_with_message("converted");

    let token = api.download_token(&job_id).await?;
    let download = bar(&progress, 0, "download", BYTES);
    let download_bar = download.clone();
    let report = Progress::new(move |received, total| {
        if let Some(total) = total {
            download_bar.set_length(total);
        }
        download_bar.set_position(received);
    });
    let output = api
        .download_with_progress(&token.download_token, Some(report))
        .await?;
    download.finish_with_message("downloaded");
    Ok(output)
}
