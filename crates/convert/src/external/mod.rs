//! What every external engine (LibreOffice, FFmpeg, Pandoc, poppler, libheif) runs
//! under: found on the `PATH`, fenced (`fence`), with an empty environment, resource
//! limits and its own process group killed whole at the job's deadline (`process`).

mod fence;
mod process;

use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

pub use self::fence::Fence;
use self::process::run_watching;
pub use self::process::{find_program, run_within, ProcessLimits};
use crate::engine::EngineJob;
use crate::{BudgetWriter, ConversionError};

/// Room past the output limit a run may write (temporary files beside its result); a
/// result that large still fails the size check.
const SCRATCH_ROOM: u64 = 64 * 1024 * 1024;

/// `program` fenced in `scratch` with the environment cleared but for `PATH` (system
/// folders: only they exist inside the fence), `HOME`, `TMPDIR` (`scratch/tmp`,
/// created) and the locale, and no input. Add the arguments.
pub fn fenced_command(fence: &Fence, program: &Path, scratch: &Path) -> std::io::Result<Command> {
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
/// naming the time limit). `tick` is called every few milliseconds meanwhile.
pub fn run_for_job(
    command: &mut Command,
    job: &EngineJob<'_>,
    tick: impl FnMut(),
) -> Result<ExitStatus, ConversionError> {
    ProcessLimits {
        address_space: job.memory_limit,
        file_size: job.budget.max_output().saturating_add(SCRATCH_ROOM),
    }
    .apply(command);
    match run_watching(command, job.budget.deadline(), tick).map_err(ConversionError::Io)? {
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
