//! The fence around each LibreOffice run: bubblewrap (`bwrap`) starts it in new user,
//! mount, pid, network, IPC and UTS namespaces where it sees only the system's
//! programs, libraries and fonts (read-only) and its own job's scratch directory. The
//! data directory — other jobs' files, the database, the key — does not exist there,
//! nor does any network, so no document (a linked image, an `INCLUDEPICTURE` field, an
//! SVG inside a document pointing at `file:///…`) can read the server's files or reach
//! out. A run that cannot be fenced is not started: without bubblewrap (or without
//! user namespaces) LibreOffice is not offered.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::process::{find_program, run_within};

/// System folders bound read-only (or re-created as the symlinks they are).
const SYSTEM_DIRS: [&str; 5] = ["/usr", "/lib", "/lib64", "/bin", "/sbin"];
/// Files and folders of `/etc` LibreOffice reads, bound read-only where they exist.
const ETC_ENTRIES: [&str; 4] = [
    "/etc/fonts",
    "/etc/ld.so.cache",
    "/etc/libreoffice",
    "/etc/localtime",
];
/// How long the probe's sandboxed `true` may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// How to fence LibreOffice on this machine.
#[derive(Debug, Clone)]
pub struct Sandbox {
    bwrap: PathBuf,
    /// LibreOffice's own folder, when it is installed outside `/usr` (e.g. `/opt`).
    install_dir: Option<PathBuf>,
}

impl Sandbox {
    /// Finds bubblewrap and checks that it can start `program`'s installation fenced.
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
        let sandbox = Self { bwrap, install_dir };
        let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut command = sandbox.command(Path::new("/bin/true"), scratch.path());
        command.stdout(Stdio::null()).stderr(Stdio::null());
        match run_within(&mut command, Instant::now() + PROBE_TIMEOUT) {
            Ok(Some(status)) if status.success() => Ok(sandbox),
            Ok(Some(status)) => Err(format!(
                "bubblewrap cannot create namespaces here ({status}); user namespaces may be disabled"
            )),
            Ok(None) => Err("bubblewrap did not start within 30 s".into()),
            Err(error) => Err(format!("bubblewrap did not run ({error})")),
        }
    }

    /// A command that runs `program` fenced, seeing `scratch` read-write (and as its
    /// working directory). Add the program's arguments and environment to it.
    pub fn command(&self, program: &Path, scratch: &Path) -> Command {
        let mut command = Command::new(&self.bwrap);
        command.args(["--unshare-all", "--die-with-parent"]);
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
        let Ok(sandbox) = Sandbox::probe(Path::new("/bin/sh")) else {
            panic!("bubblewrap is required (scripts/setup-engines.sh installs it)");
        };
        // Outside /tmp (the sandbox has its own), where a leak would show.
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
        let output = sandbox
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
}
