//! The fence around each run of an external engine (LibreOffice, FFmpeg, …), the
//! strongest this machine allows:
//! - **bubblewrap** (`bwrap`): new user, mount, pid, network, IPC and UTS namespaces
//!   and a new terminal session (it dies with the server), where the run sees only the system's programs, libraries and fonts (read-only) and
//!   its own job's scratch directory. The data directory — other jobs' files, the
//!   database, the key — does not exist there, nor does any network, so no document (a
//!   linked image, an `INCLUDEPICTURE` field, an SVG inside a document pointing at
//!   `file:///…`) can read the server's files or reach out.
//! - without bubblewrap, a **network namespace** (`unshare --net`): no network, but the
//!   run can read what the server's user can; the server warns at startup and
//!   `trustyconvert doctor` says how to install bubblewrap.
//! - without user namespaces at all, **nothing** beyond the profile's proxies at a
//!   closed port; same warning.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::process::{find_program, run_within};

/// System folders bound read-only (or re-created as the symlinks they are).
const SYSTEM_DIRS: [&str; 5] = ["/usr", "/lib", "/lib64", "/bin", "/sbin"];
/// Files and folders of `/etc` the engines read, bound read-only where they exist.
const ETC_ENTRIES: [&str; 5] = [
    // Debian's alternatives: some libraries are symlinks through here (libblas).
    "/etc/alternatives",
    "/etc/fonts",
    "/etc/ld.so.cache",
    "/etc/libreoffice",
    "/etc/localtime",
];
/// How long a probe's fenced `true` may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// How runs are fenced on this machine.
#[derive(Debug, Clone)]
pub enum Fence {
    /// bubblewrap: only system files and the job's folder, no network.
    Bubblewrap(Bubblewrap),
    /// `unshare`: no network; files as the server sees them.
    NetworkOnly(PathBuf),
    /// No namespaces available.
    None,
}

impl Fence {
    /// The strongest fence that works here for `program`, and, if it is not
    /// bubblewrap, why not.
    pub fn probe(program: &Path) -> (Self, Option<String>) {
        let why = match Bubblewrap::probe(program) {
            Ok(bubblewrap) => return (Self::Bubblewrap(bubblewrap), None),
            Err(why) => why,
        };
        let fence = find_program("unshare")
            .filter(|unshare| works(&mut network_namespace(unshare, Path::new("/bin/true"))))
            .map_or(Self::None, Self::NetworkOnly);
        (fence, Some(why))
    }

    /// A command that runs `program` fenced, working in `scratch` (which it may
    /// write). Add the program's arguments and environment to it.
    pub fn command(&self, program: &Path, scratch: &Path) -> Command {
        let mut command = match self {
            Self::Bubblewrap(bubblewrap) => bubblewrap.command(program, scratch),
            Self::NetworkOnly(unshare) => network_namespace(unshare, program),
            Self::None => Command::new(program),
        };
        command.current_dir(scratch);
        command
    }

    /// For reports: what the fence keeps the run from.
    pub fn describe(&self) -> &'static str {
        match self {
            Self::Bubblewrap(_) => {
                "fenced by bubblewrap (sees only system files and its job's folder; no network)"
            }
            Self::NetworkOnly(_) => {
                "NOT fenced from files (no network: own network namespace); install bubblewrap"
            }
            Self::None => {
                "NOT fenced (no namespaces here; network only blocked by proxy settings); install bubblewrap"
            }
        }
    }
}

fn network_namespace(unshare: &Path, program: &Path) -> Command {
    let mut command = Command::new(unshare);
    command
        .args(["--net", "--map-root-user", "--"])
        .arg(program);
    command
}

/// Whether `command` runs and succeeds within the probe's time.
fn works(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    matches!(
        run_within(command, Instant::now() + PROBE_TIMEOUT),
        Ok(Some(status)) if status.success()
    )
}

/// bubblewrap, found and able to fence this installation.
#[derive(Debug, Clone)]
pub struct Bubblewrap {
    bwrap: PathBuf,
    /// LibreOffice's own folder, when it is installed outside `/usr` (e.g. `/opt`).
    install_dir: Option<PathBuf>,
}

impl Bubblewrap {
    /// Finds bubblewrap and checks that it can start a program fenced.
    pub fn probe(program: &Path) -> Result<Self, String> {
        let bwrap = find_program("bwrap")
            .ok_or("bubblewrap is not installed (apt-get install bubblewrap)")?;
        let real = std::fs::canonicalize(program).map_err(|e| e.to_string())?;
        // `…/program/soffice` → the installation folder, if /usr does not cover it.
        let install_dir = real
            .parent()
            .and_then(Path::parent)
            .filter(|dir| !dir.starts_with("/usr"))
            .map(Path::to_owned);
        let bubblewrap = Self { bwrap, install_dir };
        let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
        if works(&mut bubblewrap.command(Path::new("/bin/true"), scratch.path())) {
            Ok(bubblewrap)
        } else {
            Err("bubblewrap cannot create namespaces here (user namespaces disabled?)".into())
        }
    }

    /// A command that runs `program` fenced, seeing `scratch` read-write (and as its
    /// working directory).
    pub fn command(&self, program: &Path, scratch: &Path) -> Command {
        let mut command = Command::new(&self.bwrap);
        // `--new-session`: no controlling terminal to push keystrokes into (TIOCSTI).
        command.args(["--unshare-all", "--die-with-parent", "--new-session"]);
        for dir in SYSTEM_DIRS {
            let path = Path::new(dir);
            match std::fs::read_link(path) {
                Ok(target) => {
                    command.arg("--symlink").arg(target).arg(path);
                }
                Err(_) if path.is_dir() => {
                    command.arg("--ro-bind").arg(path).arg(path);
                }
                Err(_) => {}
            }
        }
        for entry in ETC_ENTRIES {
            command.arg("--ro-bind-try").arg(entry).arg(entry);
        }
        if let Some(dir) = &self.install_dir {
            command.arg("--ro-bind").arg(dir).arg(dir);
        }
        command
            .args(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"])
            .arg("--bind")
            .arg(scratch)
            .arg(scratch)
            .arg("--chdir")
            .arg(scratch)
            .arg("--")
            .arg(program);
        command
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fenced_program_sees_its_scratch_folder_but_not_the_rest_of_the_disk() {
        let (fence, why) = Fence::probe(Path::new("/bin/sh"));
        assert!(
            matches!(fence, Fence::Bubblewrap(_)),
            "bubblewrap is required here (scripts/setup-engines.sh installs it): {why:?}"
        );
        // Outside /tmp (the fence has its own), where a leak would show.
        let target = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target");
        std::fs::create_dir_all(target).unwrap();
        let outside = tempfile::tempdir_in(target).unwrap();
        std::fs::write(outside.path().join("secret"), "s3cret").unwrap();
        let scratch = tempfile::tempdir().unwrap();
        std::fs::write(scratch.path().join("mine"), "visible").unwrap();
        let script = format!(
            "cat mine; cat {}/secret /etc/passwd 2>/dev/null && echo LEAKED; exit 0",
            outside.path().display()
        );
        let output = fence
            .command(Path::new("/bin/sh"), scratch.path())
            .args(["-c", &script])
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(printed.contains("visible"), "{printed}");
        assert!(
            !printed.contains("LEAKED") && !printed.contains("s3cret"),
            "{printed}"
        );
        assert!(!printed.contains("root:"), "{printed}");
    }

    #[test]
    fn a_fenced_program_leads_its_own_terminal_session() {
        let (fence, why) = Fence::probe(Path::new("/bin/sh"));
        assert!(matches!(fence, Fence::Bubblewrap(_)), "{why:?}");
        let scratch = tempfile::tempdir().unwrap();
        // Field 6 of /proc/self/stat is the session id, as the fenced pid namespace
        // sees it: 0 when the session leader is outside the fence (the server's
        // session, whose terminal TIOCSTI could write to), a fenced pid after setsid.
        let output = fence
            .command(Path::new("/bin/sh"), scratch.path())
            .args(["-c", "set -- $(cat /proc/self/stat); echo \"session=$6\""])
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&output.stdout);
        let session: u32 = printed
            .trim()
            .strip_prefix("session=")
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("unexpected output {printed:?}"));
        assert_ne!(session, 0, "the fenced run shares the server's session");
    }
}
