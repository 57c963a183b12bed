//! LibreOffice kept warm: a small pool of long-lived instances, each inside the same
//! fence as a cold run, each taking one conversion at a time over a Unix socket in its
//! folder (`warm_helper.py`, run by the system's Python with LibreOffice's UNO bridge:
//! UNO is the only way to hand a running LibreOffice more work — a second `soffice
//! --convert-to` ends the first). An instance is replaced after a number of
//! conversions (LibreOffice grows over time), when a conversion outlives its deadline
//! (the whole fence is killed), and when it dies.
//!
//! Written here rather than by running `unoserver`: its XML-RPC listens on TCP, which
//! a fence without network cannot offer; a Unix socket in the instance's folder can.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::external::{Fence, ProcessLimits};
use crate::ConversionError;

/// The start of each pool's folder of instance folders (`…<pid>-<random>`), in the
/// system's temporary folder: the socket's path must stay short.
const BASE_PREFIX: &str = "trustyconvert-office-";

/// Removes the instance folders of processes that are gone (killed before they could).
fn remove_abandoned_bases() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix(BASE_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only asks whether the process exists.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether `python` can load LibreOffice's UNO bridge inside `fence`.
pub fn python_has_uno(fence: &Fence, python: &Path) -> bool {
    let Ok(scratch) = tempfile::tempdir() else {
        return false;
    };
    let Ok(mut command) = crate::external::fenced_command(fence, python, scratch.path()) else {
        return false;
    };
    command
        .args(["-c", "import uno"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    matches!(
        crate::external::run_within(&mut command, Instant::now() + Duration::from_secs(30)),
        Ok(Some(status)) if status.success()
    )
}

/// The helper run inside each instance's fence.
const HELPER: &str = include_str!("warm_helper.py");
/// How often a starting instance is looked at.
const POLL: Duration = Duration::from_millis(20);

/// How many warm instances, and how long each serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolSettings {
    /// Instances kept running (0: every conversion starts LibreOffice cold).
    pub size: usize,
    /// Conversions an instance performs before it is replaced.
    pub recycle_after: u32,
    /// Bytes of address space each instance may map.
    pub memory_limit: u64,
}

impl PoolSettings {
    /// No pool: each conversion starts LibreOffice (what a one-off command wants).
    pub const COLD: Self = Self {
        size: 0,
        recycle_after: 0,
        memory_limit: 0,
    };
}

/// One conversion for an instance: files inside its folder, LibreOffice's filters.
#[derive(Debug, serde::Serialize)]
pub struct Request<'a> {
    /// The document to read.
    pub input: &'a Path,
    /// Where to write the result.
    pub output: &'a Path,
    /// The import filter (`name` or `name:options`).
    pub import: &'a str,
    /// The export filter.
    pub export: &'a str,
}

#[derive(serde::Deserialize)]
struct Reply {
    ok: bool,
    #[serde(default)]
    error: String,
    /// Whether the instance can take another request.
    alive: bool,
}

/// A running instance: its folder and its fenced process group.
#[derive(Debug)]
pub struct Instance {
    home: tempfile::TempDir,
    process: Child,
    served: u32,
    /// It died or hung: not to be used again.
    broken: bool,
}

impl Instance {
    /// Starts the helper (and so LibreOffice) fenced in a new folder; returns at once.
    fn start(
        fence: &Fence,
        soffice: &Path,
        python: &Path,
        settings: &PoolSettings,
        base: &Path,
    ) -> std::io::Result<Self> {
        let home = tempfile::Builder::new()
            .prefix("instance-")
            .tempdir_in(base)?;
        let path = home.path();
        std::fs::create_dir_all(path.join("profile/user"))?;
        std::fs::create_dir_all(path.join("tmp"))?;
        std::fs::create_dir_all(path.join("jobs"))?;
        std::fs::write(
            path.join("profile/user/registrymodifications.xcu"),
            super::profile::PROFILE,
        )?;
        std::fs::write(path.join("warm_helper.py"), HELPER)?;
        let mut command = crate::external::fenced_command(fence, python, path)?;
        command
            .arg(path.join("warm_helper.py"))
            .arg(path)
            .arg(soffice)
            .env("SAL_USE_VCLPLUGIN", "svp")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(path.join("helper.log"))?);
        ProcessLimits {
            address_space: settings.memory_limit,
            file_size: u64::MAX,
        }
        .apply(&mut command);
        let process = spawn_in_own_group(&mut command)?;
        Ok(Self {
            home,
            process,
            served: 0,
            broken: false,
        })
    }

    /// Whether its process still runs.
    fn is_running(&mut self) -> bool {
        matches!(self.process.try_wait(), Ok(None))
    }

    /// The folder the fence shows it, where a job's files go.
    pub fn jobs_dir(&self) -> PathBuf {
        self.home.path().join("jobs")
    }

    /// Waits until it takes requests, or fails if it died or `deadline` passed.
    fn wait_ready(&mut self, deadline: Instant) -> Result<(), ConversionError> {
        let ready = self.home.path().join("ready");
        while !ready.exists() {
            if let Ok(Some(status)) = self.process.try_wait() {
                self.broken = true;
                let log = std::fs::read_to_string(self.home.path().join("helper.log"))
                    .unwrap_or_default();
                tracing::warn!(%status, log = %log.trim(), "a warm LibreOffice instance did not start");
                return Err(ConversionError::Failed("LibreOffice did not start".into()));
            }
            if Instant::now() >= deadline {
                self.broken = true;
                return Err(ConversionError::Limit(
                    "the conversion ran out of time".into(),
                ));
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }

    /// Asks it to convert; waits at most until `deadline`.
    fn convert(&mut self, request: &Request<'_>, deadline: Instant) -> Result<(), ConversionError> {
        self.wait_ready(deadline)?;
        let out_of_time = || ConversionError::Limit("the conversion ran out of time".into());
        let left = deadline
            .checked_duration_since(Instant::now())
            .ok_or_else(out_of_time)?;
        // Any failure to talk to it: it hung (timed out) or died; it is replaced.
        self.broken = true;
        let broken = |error: std::io::Error| {
            tracing::warn!(%error, "a warm LibreOffice instance stopped answering");
            match error.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => out_of_time(),
                _ => {
                    ConversionError::Failed("LibreOffice stopped while converting this file".into())
                }
            }
        };
        let mut stream =
            UnixStream::connect(self.home.path().join("control.sock")).map_err(broken)?;
        stream.set_read_timeout(Some(left)).map_err(broken)?;
        stream.set_write_timeout(Some(left)).map_err(broken)?;
        let mut line = serde_json::to_vec(request).expect("plain data serializes");
        line.push(b'\n');
        stream.write_all(&line).map_err(broken)?;
        let mut answer = String::new();
        BufReader::new(stream)
            .read_line(&mut answer)
            .map_err(broken)?;
        let reply: Reply = serde_json::from_str(&answer).map_err(|_| {
            ConversionError::Failed("LibreOffice stopped while converting this file".into())
        })?;
        self.broken = !reply.alive;
        self.served += 1;
        if reply.ok {
            Ok(())
        } else {
            tracing::info!(error = %reply.error, "LibreOffice could not convert a file");
            Err(ConversionError::Failed(
                "LibreOffice could not convert this file (is it damaged?)".into(),
            ))
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // The fence's whole process group: the helper and LibreOffice with it.
        // SAFETY: plain syscall on the group we created and have not reaped.
        unsafe { libc::kill(-(self.process.id() as libc::pid_t), libc::SIGKILL) };
        let _ = self.process.wait();
    }
}

fn spawn_in_own_group(command: &mut Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt as _;
    command.process_group(0).spawn()
}

/// The pool: a slot per instance, each empty (not started, or replaced) or holding
/// an idle instance; a conversion borrows one and gives it back.
#[derive(Debug)]
pub struct WarmPool {
    /// This pool's folder of instance folders (removed when the pool is dropped, or
    /// by the next process to start a pool if this one was killed first).
    base: PathBuf,
    fence: Fence,
    soffice: PathBuf,
    python: PathBuf,
    settings: PoolSettings,
    idle: Mutex<Vec<Option<Instance>>>,
    returned: Condvar,
}

impl WarmPool {
    /// A pool of `settings.size` instances of `soffice`, run by `python` with UNO,
    /// started now (in the background: this returns at once).
    pub fn start(
        fence: Fence,
        soffice: PathBuf,
        python: PathBuf,
        settings: PoolSettings,
    ) -> std::io::Result<Self> {
        remove_abandoned_bases();
        let base = tempfile::Builder::new()
            .prefix(&format!("{BASE_PREFIX}{}-", std::process::id()))
            .tempdir()?
            .keep();
        let pool = Self {
            base,
            fence,
            soffice,
            python,
            settings,
            idle: Mutex::new((0..settings.size).map(|_| None).collect()),
            returned: Condvar::new(),
        };
        let mut idle = pool.idle.lock().unwrap_or_else(PoisonError::into_inner);
        for slot in idle.iter_mut() {
            *slot = pool.fresh();
        }
        drop(idle);
        Ok(pool)
    }

    /// A new instance, or none if it could not be started (the next use tries again).
    fn fresh(&self) -> Option<Instance> {
        match Instance::start(
            &self.fence,
            &self.soffice,
            &self.python,
            &self.settings,
            &self.base,
        ) {
            Ok(instance) => Some(instance),
            Err(error) => {
                tracing::warn!(%error, "a warm LibreOffice instance could not be started");
                None
            }
        }
    }

    /// Runs `work` with an instance (waiting for one until `deadline`): `work` places
    /// the job's files in the instance's folder and calls [`Borrowed::convert`].
    pub fn with_instance<T>(
        &self,
        deadline: Instant,
        work: impl FnOnce(&mut Borrowed) -> Result<T, ConversionError>,
    ) -> Result<T, ConversionError> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let index = loop {
            if !idle.is_empty() {
                // A running instance if there is one, else a slot to start one in.
                break idle.iter().position(Option::is_some).unwrap_or(0);
            }
            let left = deadline
                .checked_duration_since(Instant::now())
                .ok_or_else(|| ConversionError::Limit("the conversion ran out of time".into()))?;
            idle = self
                .returned
                .wait_timeout(idle, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        };
        let taken = idle.remove(index);
        drop(idle);
        // One that died while idle is replaced.
        let running = taken.and_then(|mut instance| instance.is_running().then_some(instance));
        let instance = match running {
            Some(instance) => instance,
            None => Instance::start(
                &self.fence,
                &self.soffice,
                &self.python,
                &self.settings,
                &self.base,
            )
            .map_err(ConversionError::Io)?,
        };
        let mut borrowed = Borrowed { instance, deadline };
        let result = work(&mut borrowed);
        let instance = borrowed.instance;
        let keep =
            (!instance.broken && instance.served < self.settings.recycle_after).then_some(instance);
        // Replaced now rather than at the next use, so that one finds it warm.
        let slot = keep.or_else(|| self.fresh());
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.push(slot);
        drop(idle);
        self.returned.notify_one();
        result
    }
}

impl Drop for WarmPool {
    fn drop(&mut self) {
        // The instances first (each kills its fence and removes its folder).
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// An instance lent to one conversion.
#[derive(Debug)]
pub struct Borrowed {
    instance: Instance,
    deadline: Instant,
}

impl Borrowed {
    /// Where the job's files go (visible inside the instance's fence).
    pub fn jobs_dir(&self) -> PathBuf {
        self.instance.jobs_dir()
    }

    /// Converts, by the job's deadline; an instance that hung or died on it is
    /// replaced once given back.
    pub fn convert(&mut self, request: &Request<'_>) -> Result<(), ConversionError> {
        self.instance.convert(request, self.deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::external::find_program;

    /// A pool of one instance of the LibreOffice the test command installs.
    fn pool(recycle_after: u32) -> WarmPool {
        let soffice =
            std::fs::canonicalize(find_program("soffice").expect("LibreOffice is installed"))
                .unwrap();
        let (fence, _) = Fence::probe(&soffice);
        let python = PathBuf::from("/usr/bin/python3");
        assert!(
            python_has_uno(&fence, &python),
            "python3-uno is installed with LibreOffice"
        );
        let settings = PoolSettings {
            size: 1,
            recycle_after,
            memory_limit: 2 << 30,
        };
        WarmPool::start(fence, soffice, python, settings).unwrap()
    }

    /// Converts a small RTF on a borrowed instance; which instance it was, and how.
    fn convert_one(pool: &WarmPool, deadline: Instant) -> (PathBuf, Result<(), ConversionError>) {
        let mut used = PathBuf::new();
        let result = pool.with_instance(deadline, |instance| {
            used = instance.jobs_dir();
            let input = used.join("in.rtf");
            std::fs::write(&input, br"{\rtf1\ansi Warm words\par}").map_err(ConversionError::Io)?;
            let output = used.join("out.pdf");
            let _ = std::fs::remove_file(&output);
            instance.convert(&Request {
                input: &input,
                output: &output,
                import: "Rich Text Format",
                export: "writer_pdf_Export",
            })?;
            let pdf = std::fs::read(&output).map_err(ConversionError::Io)?;
            assert!(pdf.starts_with(b"%PDF-"));
            Ok(())
        });
        (used, result)
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(120)
    }

    #[test]
    fn an_instance_serves_several_conversions_then_is_replaced() {
        let pool = pool(2);
        let (first, result) = convert_one(&pool, soon());
        result.unwrap();
        let (second, result) = convert_one(&pool, soon());
        result.unwrap();
        assert_eq!(first, second, "the same warm instance");
        let (third, result) = convert_one(&pool, soon());
        result.unwrap();
        assert_ne!(second, third, "replaced after two conversions");
        assert!(!second.exists(), "the old instance's folder is gone");
    }

    #[test]
    fn an_instance_that_outlives_the_deadline_is_killed_and_replaced() {
        let pool = pool(100);
        let (first, result) = convert_one(&pool, soon());
        result.unwrap();
        // A stopped LibreOffice never answers, however fast the machine: the request
        // is sent well before its deadline and outlives it.
        signal_office_of(first.parent().unwrap(), libc::SIGSTOP);
        let (hung, result) = convert_one(&pool, Instant::now() + Duration::from_secs(5));
        assert!(
            matches!(result, Err(ConversionError::Limit(_))),
            "{result:?}"
        );
        assert_eq!(first, hung);
        let (next, result) = convert_one(&pool, soon());
        result.unwrap();
        assert_ne!(hung, next, "a new instance took over");
    }

    #[test]
    fn an_instance_whose_libreoffice_died_is_replaced() {
        let pool = pool(100);
        let (first, result) = convert_one(&pool, soon());
        result.unwrap();
        let (dead, result) = {
            let mut used = PathBuf::new();
            let result = pool.with_instance(soon(), |instance| {
                used = instance.jobs_dir();
                let home = used.parent().unwrap().to_owned();
                kill_office_of(&home);
                let input = used.join("in.rtf");
                std::fs::write(&input, br"{\rtf1\ansi Words\par}").map_err(ConversionError::Io)?;
                instance.convert(&Request {
                    input: &input,
                    output: &used.join("out.pdf"),
                    import: "Rich Text Format",
                    export: "writer_pdf_Export",
                })
            });
            (used, result)
        };
        assert_eq!(first, dead);
        assert!(result.is_err(), "{result:?}");
        let (next, result) = convert_one(&pool, soon());
        result.unwrap();
        assert_ne!(dead, next);
    }

    /// Kills the soffice running for the instance in `home` (found by its profile).
    /// Sends `signal` to the LibreOffice of the instance whose folder is `home`.
    fn signal_office_of(home: &Path, signal: libc::c_int) {
        let profile = home.join("profile");
        let mut sent = 0;
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&cmdline);
            if cmdline.contains("soffice.bin") && cmdline.contains(&*profile.to_string_lossy()) {
                // SAFETY: plain syscall on a process this test's pool started.
                unsafe { libc::kill(pid, signal) };
                sent += 1;
            }
        }
        assert!(sent > 0, "no soffice found for {}", home.display());
    }

    fn kill_office_of(home: &Path) {
        signal_office_of(home, libc::SIGKILL);
        let profile = home.join("profile");
        // Gone before the conversion is asked for.
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
            std::fs::read(entry.path().join("cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c).contains(&*profile.to_string_lossy())
                        && String::from_utf8_lossy(&c).contains("soffice.bin")
                })
                .unwrap_or(false)
        }) {
            assert!(Instant::now() < deadline, "soffice did not die");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
