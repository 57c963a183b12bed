//! Running an external program: found on the `PATH`, under resource limits, in its own
//! process group that is killed whole when its time is up (and once it exits, so
//! nothing it started outlives it).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

/// How often a running program's `tick` is called (its exit is noticed at once).
const POLL: Duration = Duration::from_millis(50);

/// A program by path, or by name on the `PATH`; only executable files count.
pub fn find_program(program: impl AsRef<Path>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let program = program.as_ref();
    let executable = |path: &Path| {
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.components().count() > 1 {
        return executable(program).then(|| program.to_owned());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|candidate| executable(candidate))
}

/// Resource limits set in the child between `fork` and `exec`.
#[derive(Debug, Clone, Copy)]
pub struct ProcessLimits {
    /// Bytes of address space.
    pub address_space: u64,
    /// Largest file it may write, in bytes.
    pub file_size: u64,
}

impl ProcessLimits {
    /// Makes `command` start under these limits, without core dumps.
    pub fn apply(self, command: &mut Command) {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs in the forked child before exec and calls only
        // setrlimit, which is async-signal-safe; it allocates nothing and takes no locks.
        unsafe {
            command.pre_exec(move || {
                set_limit(libc::RLIMIT_AS, self.address_space)?;
                set_limit(libc::RLIMIT_FSIZE, self.file_size)?;
                set_limit(libc::RLIMIT_CORE, 0)
            });
        }
    }
}

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: value as libc::rlim_t,
        rlim_max: value as libc::rlim_t,
    };
    // SAFETY: `limit` is a valid rlimit for the duration of the call.
    if unsafe { libc::setrlimit(resource, &limit) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Runs `command` in its own process group until it exits or `deadline` passes. Either
/// way the whole group is then killed — before the leader is reaped, so the group id
/// cannot have been reused — and nothing it started lives on. `None` means the
/// deadline came first.
pub fn run_within(command: &mut Command, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    run_watching(command, deadline, || ControlFlow::Continue(()))
}

/// [`run_within`], calling `tick` every few milliseconds while the program runs (to
/// follow a progress file it writes, or a check running beside it). `tick` breaking
/// ends the run at once (the group is killed; its status is returned).
pub fn run_watching(
    command: &mut Command,
    deadline: Instant,
    mut tick: impl FnMut() -> ControlFlow<()>,
) -> std::io::Result<Option<ExitStatus>> {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
    let mut child = command.spawn()?;
    let group = child.id() as libc::pid_t;
    let kill_group = || {
        // SAFETY: plain syscall; a negative pid names the process group we created,
        // whose leader is not yet reaped.
        unsafe { libc::kill(-group, libc::SIGKILL) };
    };
    let exit = ExitSignal::open(group);
    let timed_out = loop {
        match exited_unreaped(group) {
            Ok(true) => break false,
            Ok(false) if Instant::now() >= deadline => break true,
            Ok(false) => {
                if tick().is_break() {
                    break false;
                }
                exit.wait(POLL.min(deadline.saturating_duration_since(Instant::now())));
            }
            Err(error) => {
                kill_group();
                let _ = child.wait();
                return Err(error);
            }
        }
    };
    kill_group();
    let status = child.wait()?;
    Ok((!timed_out).then_some(status))
}

/// A way to sleep until a child exits (or a timeout passes) rather than for a fixed
/// time: its pidfd becomes readable when it exits, so a run is noticed as finished at
/// once instead of up to a polling interval later. Without pidfds (Linux before 5.3),
/// a plain sleep.
struct ExitSignal(Option<std::os::fd::OwnedFd>);

impl ExitSignal {
    fn open(pid: libc::pid_t) -> Self {
        use std::os::fd::FromRawFd as _;
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor (or -1),
        // which is owned here and closed on drop.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        // SAFETY: a descriptor just returned to us, owned by nothing else.
        Self((fd >= 0).then(|| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) }))
    }

    /// Returns when the child exits or after `timeout`.
    fn wait(&self, timeout: Duration) {
        use std::os::fd::AsRawFd as _;
        let Some(fd) = &self.0 else {
            std::thread::sleep(timeout);
            return;
        };
        let mut ready = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd for the duration of the call.
        unsafe { libc::poll(&mut ready, 1, millis) };
    }
}

/// Whether process `pid` (our child) has exited, without reaping it.
fn exited_unreaped(pid: libc::pid_t) -> std::io::Result<bool> {
    // SAFETY: `info` is zeroed plain data that waitid fills; WNOWAIT leaves the child
    // waitable, so `Child::wait` reaps it afterwards.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        if libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(info.si_pid() != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_over_its_time_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        // The shell names its group once its background child is started (the file is
        // renamed into place, so it is whole). On a loaded machine it may not get that
        // far within a short limit; then the same run is tried with twice the limit.
        let mut limit = Duration::from_millis(300);
        let group: u32 = loop {
            let mut command = Command::new("sh");
            command.arg("-c").arg(format!(
                "sleep 30 & echo $$ > {pid}.tmp && mv {pid}.tmp {pid}; sleep 30",
                pid = pid_file.display()
            ));
            let started = Instant::now();
            let outcome = run_within(&mut command, Instant::now() + limit).unwrap();
            assert!(outcome.is_none());
            // Given up at the limit, not after the program's 30 s.
            assert!(started.elapsed() < limit + Duration::from_secs(15));
            if let Ok(pid) = std::fs::read_to_string(&pid_file) {
                break pid.trim().parse().unwrap();
            }
            limit *= 2;
            assert!(
                limit < Duration::from_secs(10),
                "the shell never started its children"
            );
        };
        // Killed processes may linger a moment as zombies; none may still be running
        // (an orphaned `sleep 30` would be, long after this deadline).
        let deadline = Instant::now() + Duration::from_secs(15);
        while !living_members(group).is_empty() {
            assert!(
                Instant::now() < deadline,
                "still running: {:?}",
                living_members(group)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_program_that_exits_reports_its_status() {
        let mut command = Command::new("sh");
        command.args(["-c", "exit 3"]);
        let status = run_within(&mut command, Instant::now() + Duration::from_secs(10))
            .unwrap()
            .unwrap();
        assert_eq!(status.code(), Some(3));
    }

    /// Processes of process group `group` that are not zombies.
    fn living_members(group: u32) -> Vec<u32> {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                    return false;
                };
                // After the command name in parentheses: state, ppid, pgrp.
                let fields: Vec<&str> = stat
                    .rsplit_once(')')
                    .map_or("", |(_, rest)| rest)
                    .split_whitespace()
                    .collect();
                fields.first() != Some(&"Z") && fields.get(2) == Some(&group.to_string().as_str())
            })
            .collect()
    }
}
