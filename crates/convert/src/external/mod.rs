//! What every external engine (LibreOffice, FFmpeg, Pandoc, poppler, libheif) runs
//! under: found on the `PATH`, fenced (`fence`), with an empty environment, resource
//! limits and its own process group killed whole at the job's deadline (`process`).

mod fence;
mod process;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub use self::fence::Fence;
use self::process::run_watching;
pub use self::process::{find_program, run_within, ProcessLimits};
use crate::engine::{EngineJob, EngineReport, Offer};
use crate::{BudgetWriter, ConversionError};

/// Room past the output limit a run may write (temporary files beside its result); a
/// result that large still fails the size check.
const SCRATCH_ROOM: u64 = 64 * 1024 * 1024;

/// `program` fenced in `scratch` with the environment cleared but for `PATH` (system
/// folders: only they exist inside the fence), `HOME`, `TMPDIR` (`scratch/tmp`,
/// created) and the locale, and no input. Add the arguments.
pub fn fenced_command(fence: &Fence, program: &Path, scratch: &Path) -> std::io::Result<Command> {
    // Inside the fence a relative path would name another place (a server whose data
    // directory is `./data` hands engines relative folders).
    let scratch = &std::path::absolute(scratch)?;
    let temp = scratch.join("tmp");
    std::fs::create_dir_all(&temp)?;
    let mut command = fence.command(program, scratch);
    command
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", scratch)
        .env("TMPDIR", &temp)
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::null());
    Ok(command)
}

/// Runs `command` for `job`: within its memory and output limits, until it exits or the
/// job's deadline passes (then it is killed, with all it started, and the job fails
/// naming the time limit). `tick` is called every few milliseconds meanwhile; breaking
/// ends the run at once (see [`run_watching`]).
pub fn run_for_job(
    command: &mut Command,
    job: &EngineJob<'_>,
    tick: impl FnMut() -> ControlFlow<()>,
) -> Result<ExitStatus, ConversionError> {
    ProcessLimits {
        address_space: job.memory_limit,
        file_size: job.budget.max_output().saturating_add(SCRATCH_ROOM),
    }
    .apply(command);
    let mut tick = tick;
    let watch = || {
        if job.budget.is_cancelled() {
            return ControlFlow::Break(());
        }
        tick()
    };
    let ran = run_watching(command, job.budget.deadline(), watch).map_err(ConversionError::Io)?;
    if job.budget.is_cancelled() {
        // Stopped because the job was cancelled: say so rather than blame the program.
        job.budget.check_time()?;
    }
    match ran {
        Some(status) => Ok(status),
        None => {
            job.budget.check_time()?;
            Err(ConversionError::Limit(
                "the conversion ran out of time".into(),
            ))
        }
    }
}

/// Whether a run was killed for writing a file past its size limit (`SIGXFSZ`),
/// directly or as bubblewrap reports a child's signal (128 + the signal).
pub fn hit_file_size_limit(status: ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt as _;
    status.signal() == Some(libc::SIGXFSZ) || status.code() == Some(128 + libc::SIGXFSZ)
}

/// Copies a run's result file into `out`, a buffer at a time, once its size is
/// within the job's output limit.
pub fn deliver(
    result: &Path,
    job: &EngineJob<'_>,
    out: &mut BudgetWriter<'_>,
) -> Result<(), ConversionError> {
    let size = std::fs::metadata(result)
        .map_err(ConversionError::Io)?
        .len();
    job.budget.check_output(size)?;
    let mut file = std::fs::File::open(result).map_err(ConversionError::Io)?;
    std::io::copy(&mut file, out)
        .map(drop)
        .map_err(ConversionError::Output)
}

/// Gives the input to a fenced run: `job.input` linked (or, across file systems,
/// copied) into `scratch` as `name`.
pub fn place_input(job: &EngineJob<'_>, name: &str) -> Result<std::path::PathBuf, ConversionError> {
    let placed = job.scratch.join(name);
    if std::fs::hard_link(job.input, &placed).is_err() {
        std::fs::copy(job.input, &placed).map_err(ConversionError::Io)?;
    }
    Ok(placed)
}

/// How long a version probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// `names` found on the `PATH`, by their real paths (a symlink elsewhere would not
/// exist inside the fence, which shows only system folders); `None` if one is missing.
pub fn locate<const N: usize>(names: [&str; N]) -> Option<[PathBuf; N]> {
    let mut found = Vec::with_capacity(N);
    for name in names {
        let path = find_program(name)?;
        found.push(std::fs::canonicalize(&path).unwrap_or(path));
    }
    found.try_into().ok()
}

/// The strongest fence for `program`; a weaker one is logged as a warning naming
/// `engine` and how to fix it.
pub fn fence_for(program: &Path, engine: &str) -> Fence {
    let (fence, weaker) = Fence::probe(program);
    if let Some(why) = &weaker {
        tracing::warn!(reason = %why, "{engine} runs without a file-system fence; install bubblewrap");
    }
    fence
}

/// Which of a program's outputs [`capture`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Printed {
    /// Standard output.
    Out,
    /// Standard error (some tools print their version there).
    Err,
    /// Both, in one text.
    Both,
}

/// How a captured run ended.
#[derive(Debug)]
pub enum Captured {
    /// It succeeded; what it printed.
    Text(String),
    /// It exited unsuccessfully.
    Failed(ExitStatus),
    /// The deadline came first (it was killed).
    TimedOut,
}

/// Runs `program args` fenced in `scratch` until `deadline`, keeping what it printed
/// (`printed` says where).
pub fn capture(
    fence: &Fence,
    program: &Path,
    scratch: &Path,
    args: &[&str],
    deadline: Instant,
    printed: Printed,
) -> std::io::Result<Captured> {
    let path = scratch.join("printed.txt");
    let file = std::fs::File::create(&path)?;
    let mut command = fenced_command(fence, program, scratch)?;
    command.args(args);
    match printed {
        Printed::Out => command.stdout(file).stderr(Stdio::null()),
        Printed::Err => command.stderr(file).stdout(Stdio::null()),
        Printed::Both => command.stdout(file.try_clone()?).stderr(file),
    };
    Ok(match run_within(&mut command, deadline)? {
        Some(status) if status.success() => Captured::Text(std::fs::read_to_string(&path)?),
        Some(status) => Captured::Failed(status),
        None => Captured::TimedOut,
    })
}

/// Asks `program` its version inside `fence` (`args`, then `parse` what it printed).
pub fn probe_version(
    fence: &Fence,
    program: &Path,
    args: &[&str],
    printed: Printed,
    parse: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let deadline = Instant::now() + PROBE_TIMEOUT;
    match capture(fence, program, scratch.path(), args, deadline, printed)
        .map_err(|e| e.to_string())?
    {
        Captured::Text(text) => parse(&text).ok_or_else(|| "it printed no version".into()),
        Captured::Failed(status) => Err(format!("it exited with {status}")),
        Captured::TimedOut => Err("it did not answer within 30 s".into()),
    }
}

/// The report of an engine not found (or that did not run): why, and how to install it.
pub fn missing(name: &'static str, detail: String) -> EngineReport {
    EngineReport {
        name,
        version: None,
        detail,
        offers: Vec::new(),
    }
}

/// The report of an engine found: its version, how it runs, what it offers.
pub fn found(
    name: &'static str,
    version: String,
    detail: String,
    offers: &[Offer],
) -> EngineReport {
    EngineReport {
        name,
        version: Some(version),
        detail,
        offers: offers.iter().map(|offer| offer.id).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_scratch_folder_is_the_same_folder_inside_the_fence() {
        let (fence, _) = Fence::probe(Path::new("/bin/sh"));
        // Relative to the current directory (this crate's folder while testing).
        let base = tempfile::tempdir_in(".").unwrap();
        let name = base.path().file_name().unwrap().to_owned();
        let relative = Path::new(&name).join("work");
        std::fs::create_dir_all(&relative).unwrap();
        std::fs::write(relative.join("input.txt"), "seen").unwrap();
        let output = fenced_command(&fence, Path::new("/bin/sh"), &relative)
            .unwrap()
            .args(["-c", "cat input.txt"])
            .stdout(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "seen",
            "{output:?}"
        );
    }

    #[test]
    fn a_cancelled_job_kills_its_program_and_says_it_was_cancelled() {
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;

        let scratch = tempfile::tempdir().unwrap();
        let cancel = Arc::new(AtomicBool::new(false));
        // An hour to run and an hour of deadline: only the cancellation can end it.
        let budget =
            crate::Budget::new(1 << 20, Duration::from_secs(3600)).cancellable(Arc::clone(&cancel));
        let job = EngineJob {
            input: scratch.path(),
            source: crate::Format::Txt,
            target: crate::Format::Txt,
            options: &Default::default(),
            title: "input",
            budget: &budget,
            scratch: scratch.path(),
            memory_limit: u64::MAX,
            progress: &|_| {},
        };
        let mut command = Command::new("sleep");
        command.arg("3600");
        let canceller = {
            let cancel = Arc::clone(&cancel);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
            })
        };
        let ran = run_for_job(&mut command, &job, || ControlFlow::Continue(()));
        canceller.join().unwrap();
        match ran {
            Err(ConversionError::Limit(why)) => assert!(why.contains("cancelled"), "{why}"),
            other => panic!("not cancelled: {other:?}"),
        }
    }
}
