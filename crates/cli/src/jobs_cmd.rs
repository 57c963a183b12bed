//! `trustyconvert jobs list|download|delete`: the jobs of this CLI's session with a
//! server (the session `convert --server` used, kept between runs).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use trustyconvert_client::protocol::{human_size, output_file_name, JobStatus, JobStatusResponse};
use trustyconvert_client::ApiClient;

use crate::client_state::ClientState;
use crate::session_cmd::{describe, ServerArg};

/// `jobs` subcommands.
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List this session's jobs on the server, newest first.
    List(ServerArg),
    /// Download results: one job's file, or several (or `--all` completed ones) as one
    /// zip.
    Download(DownloadArgs),
    /// Delete jobs now (a running conversion is stopped, its files removed).
    Delete(DeleteArgs),
}

/// Which jobs a command is about: ids as `jobs list` shows them, or `--all`.
#[derive(Debug, Args)]
pub struct JobSelection {
    /// The jobs (ids as `jobs list` shows them).
    #[arg(
        value_name = "JOB_ID",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    job_ids: Vec<String>,
    /// Every job of the session (`download`: every completed one, as one zip).
    #[arg(long)]
    all: bool,
}

/// Arguments of `jobs download`.
#[derive(Debug, Args)]
pub struct DownloadArgs {
    #[command(flatten)]
    jobs: JobSelection,
    /// Where to write it (default: the file's own name, or `trustyconvert-N-files.zip`,
    /// in the current folder).
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    #[command(flatten)]
    server: ServerArg,
}

/// Arguments of `jobs delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    jobs: JobSelection,
    #[command(flatten)]
    server: ServerArg,
}

/// Runs a `jobs` subcommand with the session this CLI holds with the server.
pub async fn run(command: JobsCommand) -> Result<(), String> {
    let server = match &command {
        JobsCommand::List(server) => server,
        JobsCommand::Download(args) => &args.server,
        JobsCommand::Delete(args) => &args.server,
    };
    let state = ClientState::load(&server.server)?;
    let api = state.manager(server.timeout.manager_config()).api();
    let label = server.server.clone();
    let outcome = match &command {
        JobsCommand::List(_) => list(&api, &label).await,
        JobsCommand::Download(args) => download(&api, &label, args).await,
        JobsCommand::Delete(args) => delete(&api, &label, args).await,
    };
    state.save()?;
    outcome
}

async fn jobs(api: &ApiClient, server: &str) -> Result<Vec<JobStatusResponse>, String> {
    api.jobs().await.map_err(|error| describe(&error, server))
}

async fn list(api: &ApiClient, server: &str) -> Result<(), String> {
    let jobs = jobs(api, server).await?;
    if jobs.is_empty() {
        println!("No jobs in this session with {server}.");
        return Ok(());
    }
    println!(
        "{:<36}  {:<28}  {:<18}  {:<10}  {:>10}",
        "JOB ID", "FILE", "CONVERSION", "STATUS", "RESULT"
    );
    for job in &jobs {
        let conversion = match job.target_format {
            Some(target) => format!("{} → {}", job.source_format.name(), target.name()),
            None => job.source_format.name().to_owned(),
        };
        let result = match (job.status, job.output_size) {
            (JobStatus::Completed, Some(size)) => human_size(size),
            (JobStatus::Queued | JobStatus::Processing, _) => format!("{}%", job.progress),
            _ => String::new(),
        };
        println!(
            "{:<36}  {:<28}  {:<18}  {:<10}  {:>10}",
            job.job_id,
            truncated(&job.original_filename, 28),
            conversion,
            job.status.to_string(),
            result
        );
        if let Some(error) = &job.error {
            println!("{:<36}  {error}", "");
        }
    }
    Ok(())
}

/// `text` cut to `width` characters, marked with `…` when cut.
fn truncated(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let kept: String = text.chars().take(width - 1).collect();
    format!("{kept}…")
}

async fn download(api: &ApiClient, server: &str, args: &DownloadArgs) -> Result<(), String> {
    let known = jobs(api, server).await?;
    let chosen: Vec<&JobStatusResponse> = if args.jobs.all {
        known
            .iter()
            .filter(|job| job.status == JobStatus::Completed)
            .collect()
    } else {
        args.jobs
            .job_ids
            .iter()
            .map(|id| {
                known
                    .iter()
                    .find(|job| job.job_id == *id)
                    .ok_or_else(|| format!("no job {id} in this session with {server}"))
            })
            .collect::<Result<_, _>>()?
    };
    if chosen.is_empty() {
        return Err("no completed job to download".to_owned());
    }
    let ids: Vec<String> = chosen.iter().map(|job| job.job_id.clone()).collect();
    let (token, name) = match chosen.as_slice() {
        [one] if !args.jobs.all => {
            let format = one
                .output_format
                .ok_or_else(|| format!("job {} is {}, not completed", one.job_id, one.status))?;
            let token = api.download_token(&one.job_id).await;
            (token, output_file_name(&one.original_filename, format))
        }
        _ => (
            api.archive_token(&ids).await,
            format!("trustyconvert-{}-files.zip", ids.len()),
        ),
    };
    let token = token.map_err(|error| describe(&error, server))?;
    let bytes = api
        .download(&token.download_token)
        .await
        .map_err(|error| describe(&error, server))?;
    let output = args.output.clone().unwrap_or_else(|| PathBuf::from(name));
    tokio::fs::write(&output, &bytes)
        .await
        .map_err(|e| format!("cannot write {}: {e}", output.display()))?;
    println!("{} ({} bytes)", output.display(), bytes.len());
    Ok(())
}

async fn delete(api: &ApiClient, server: &str, args: &DeleteArgs) -> Result<(), String> {
    let ids: Vec<(String, String)> = if args.jobs.all {
        jobs(api, server)
            .await?
            .into_iter()
            .map(|job| (job.job_id, job.original_filename))
            .collect()
    } else {
        args.jobs
            .job_ids
            .iter()
            .map(|id| (id.clone(), String::new()))
            .collect()
    };
    for (id, name) in &ids {
        api.delete_job(id)
            .await
            .map_err(|error| format!("job {id}: {}", describe(&error, server)))?;
        match name.as_str() {
            "" => println!("deleted {id}"),
            name => println!("deleted {id} ({name})"),
        }
    }
    if ids.is_empty() {
        println!("No jobs in this session with {server}.");
    }
    Ok(())
}
