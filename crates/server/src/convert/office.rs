//! The LibreOffice engine: office documents (docx, doc, odt, rtf, html) to PDF, and
//! docx ↔ odt, by running `soffice --headless --convert-to` once per job.
//!
//! Each run is shut in as far as this process can manage without root:
//! - its own profile directory and temp folder under the job's scratch directory, so
//!   concurrent jobs never share a profile (LibreOffice locks and corrupts shared ones);
//! - a profile written before the first start with macros disabled (and the security
//!   level at its highest), links never updated, and every proxy pointed at a closed
//!   port;
//! - no network at all where user namespaces allow it (`unshare --net`; probed);
//! - an empty environment but for `PATH`, `HOME`, `TMPDIR` and the locale;
//! - address-space and file-size limits (`setrlimit`) and its own process group, which
//!   is killed whole when the job's time is up, and in any case once it exits (no
//!   stray `soffice.bin` outlives its job);
//! - HTML is sanitized first (scripts, styles and every relative or `file:` reference
//!   dropped), so it cannot make LibreOffice read other files of the server.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::engine::{Engine, EngineJob, EngineReport, Offer, Probed};
use super::{ConversionError, Format};
use crate::config::LibreOfficeSetting;

const OFFERS: &[Offer] = &[
    Offer {
        id: "office",
        name: "Office documents",
        description: "Word, OpenDocument, RTF and HTML documents to PDF, laid out by LibreOffice.",
        inputs: &[
            Format::Docx,
            Format::Doc,
            Format::Odt,
            Format::Rtf,
            Format::Html,
        ],
        outputs: &[Format::Pdf],
        features: &[
            "fonts, tables and images kept",
            "macros never run",
            "no network",
        ],
    },
    Offer {
        id: "docx-to-odt",
        name: "Word to OpenDocument",
        description: "A Word document as an OpenDocument text.",
        inputs: &[Format::Docx],
        outputs: &[Format::Odt],
        features: &["macros never run"],
    },
    Offer {
        id: "odt-to-docx",
        name: "OpenDocument to Word",
        description: "An OpenDocument text as a Word document.",
        inputs: &[Format::Odt],
        outputs: &[Format::Docx],
        features: &["macros never run"],
    },
];

/// How long the probe waits for `soffice --version`.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a running conversion is checked on.
const POLL: Duration = Duration::from_millis(20);

/// How to install LibreOffice, for the doctor's report.
pub const INSTALL_HINT: &str = "install LibreOffice (Debian/Ubuntu: apt-get install \
     libreoffice-writer-nogui; Fedora: dnf install libreoffice-writer; macOS: brew install \
     --cask libreoffice) or pass --libreoffice PATH";

/// LibreOffice, found and probed.
#[derive(Debug)]
pub struct LibreOffice {
    program: PathBuf,
    /// `unshare`, when it can give a run its own empty network namespace.
    unshare: Option<PathBuf>,
}

impl LibreOffice {
    /// Looks for LibreOffice as `setting` says and asks it its version.
    pub fn probe(setting: &LibreOfficeSetting) -> Probed {
        let missing = |detail: String| Probed {
            engine: None,
            report: EngineReport {
                name: "libreoffice",
                version: None,
                detail,
                offers: Vec::new(),
            },
        };
        let program = match setting {
            LibreOfficeSetting::Off => return missing("turned off (--libreoffice off)".into()),
            LibreOfficeSetting::Auto => {
                match find_program("soffice").or_else(|| find_program("libreoffice")) {
                    Some(program) => program,
                    None => return missing(format!("not found on the PATH; {INSTALL_HINT}")),
                }
            }
            LibreOfficeSetting::Program(program) => match find_program(program) {
                Some(program) => program,
                None => return missing(format!("{} not found; {INSTALL_HINT}", program.display())),
            },
        };
        let version = match version_of(&program) {
            Ok(version) => version,
            Err(why) => {
                return missing(format!(
                    "{} did not run ({why}); {INSTALL_HINT}",
                    program.display()
                ))
            }
        };
        let unshare = find_program("unshare").filter(|unshare| network_namespace_works(unshare));
        let network = if unshare.is_some() {
            "no network (own network namespace)"
        } else {
            "network: proxies pointed at a closed port (no user namespaces here)"
        };
        let detail = format!("{}; {network}; macros off", program.display());
        Probed {
            engine: Some(Arc::new(Self { program, unshare })),
            report: EngineReport {
                name: "libreoffice",
                version: Some(version),
                detail,
                offers: OFFERS.iter().map(|offer| offer.id).collect(),
            },
        }
    }

    fn command(
        &self,
        job: &EngineJob<'_>,
        input: &Path,
        out: &Path,
    ) -> Result<Command, ConversionError> {
        let (export, import) = filters(job.source, job.target)?;
        let scratch = job.scratch;
        let profile = scratch.join("profile");
        let temp = scratch.join("tmp");
        for dir in [profile.join("user"), temp.clone(), out.to_owned()] {
            std::fs::create_dir_all(&dir).map_err(ConversionError::Io)?;
        }
        std::fs::write(profile.join("user/registrymodifications.xcu"), PROFILE)
            .map_err(ConversionError::Io)?;
        let mut command = match &self.unshare {
            Some(unshare) => {
                let mut command = Command::new(unshare);
                command
                    .args(["--net", "--map-root-user", "--"])
                    .arg(&self.program);
                command
            }
            None => Command::new(&self.program),
        };
        command
            .arg(format!("-env:UserInstallation={}", file_url(&profile)))
            .args([
                "--headless",
                "--invisible",
                "--nocrashreport",
                "--nodefault",
                "--nofirststartwizard",
                "--nolockcheck",
                "--nologo",
                "--norestore",
            ]);
        if let Some(import) = import {
            command.arg(format!("--infilter={import}"));
        }
        command
            .arg("--convert-to")
            .arg(export)
            .arg("--outdir")
            .arg(out)
            .arg(input);
        command
            .env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
            )
            .env("HOME", scratch)
            .env("TMPDIR", &temp)
            .env("LANG", "C.UTF-8")
            .env("SAL_USE_VCLPLUGIN", "svp")
            .current_dir(scratch)
            .stdin(Stdio::null());
        let log =
            std::fs::File::create(scratch.join("soffice.log")).map_err(ConversionError::Io)?;
        let log_err = log.try_clone().map_err(ConversionError::Io)?;
        command.stdout(log).stderr(log_err);
        let limits = ProcessLimits {
            address_space: job.memory_limit,
            // The output, plus room for the profile and LibreOffice's own temp files.
            file_size: job.budget.max_output().saturating_add(64 * 1024 * 1024),
        };
        limits.apply(&mut command);
        Ok(command)
    }
}

impl Engine for LibreOffice {
    fn name(&self) -> &'static str {
        "libreoffice"
    }

    fn offers(&self) -> &'static [Offer] {
        OFFERS
    }

    fn convert(&self, job: &EngineJob<'_>) -> Result<Vec<u8>, ConversionError> {
        let input = job
            .scratch
            .join(format!("document.{}", job.source.extension()));
        if job.source == Format::Html {
            let html = std::fs::read(job.input).map_err(ConversionError::Io)?;
            std::fs::write(&input, sanitize_html(&html)?).map_err(ConversionError::Io)?;
        } else {
            std::fs::copy(job.input, &input).map_err(ConversionError::Io)?;
        }
        let out = job.scratch.join("out");
        let mut command = self.command(job, &input, &out)?;
        let status =
            run_within(&mut command, job.budget.deadline()).map_err(ConversionError::Io)?;
        let Some(status) = status else {
            job.budget.check_time()?;
            return Err(ConversionError::Limit(
                "the conversion ran out of time".into(),
            ));
        };
        if killed_for_file_size(status) {
            // Past the file-size limit: the output limit, named as such.
            job.budget.check_output(u64::MAX)?;
        }
        let output = out.join(format!("document.{}", job.target.extension()));
        let size = match std::fs::metadata(&output) {
            Ok(metadata) => metadata.len(),
            Err(_) => {
                tracing::info!(status = %status, "LibreOffice produced no output");
                return Err(ConversionError::Failed(
                    "LibreOffice could not convert this file (is it damaged?)".into(),
                ));
            }
        };
        job.budget.check_output(size)?;
        std::fs::read(&output).map_err(ConversionError::Io)
    }
}

/// The export filter (`--convert-to`) and, where detection needs help, the import
/// filter for a pair.
fn filters(
    source: Format,
    target: Format,
) -> Result<(&'static str, Option<&'static str>), ConversionError> {
    Ok(match (source, target) {
        (Format::Html, Format::Pdf) => ("pdf:writer_pdf_Export", Some("HTML (StarWriter)")),
        (Format::Docx | Format::Doc | Format::Odt | Format::Rtf, Format::Pdf) => {
            ("pdf:writer_pdf_Export", None)
        }
        (Format::Docx, Format::Odt) => ("odt:writer8", None),
        (Format::Odt, Format::Docx) => ("docx:MS Word 2007 XML", None),
        _ => return Err(ConversionError::Unsupported),
    })
}

/// The profile every run starts from: macros off, links never updated, proxies at a
/// closed port (a second fence behind the network namespace).
const PROFILE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>3</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="DisableMacrosExecution" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="BlockUntrustedRefererLinks" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Writer/Content/Update"><prop oor:name="Link" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Content/Update"><prop oor:name="Link" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings"><prop oor:name="ooInetProxyType" oor:op="fuse"><value>1</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings"><prop oor:name="ooInetHTTPProxyName" oor:op="fuse"><value>127.0.0.1</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings"><prop oor:name="ooInetHTTPProxyPort" oor:op="fuse"><value>9</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings"><prop oor:name="ooInetHTTPSProxyName" oor:op="fuse"><value>127.0.0.1</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings"><prop oor:name="ooInetHTTPSProxyPort" oor:op="fuse"><value>9</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings"><prop oor:name="ooInetNoProxy" oor:op="fuse"><value></value></prop></item>
</oor:items>
"#;

/// HTML with only what a document needs: no scripts, styles, frames or forms, and no
/// URL but `http(s)`, `mailto` and `data` (relative and `file:` references would make
/// LibreOffice read files of this server).
fn sanitize_html(html: &[u8]) -> Result<Vec<u8>, ConversionError> {
    let text = std::str::from_utf8(html.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(html))
        .map_err(|_| ConversionError::Invalid("the HTML file is not UTF-8".into()))?;
    let body = ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto", "data"].into())
        .url_relative(ammonia::UrlRelative::Deny)
        .clean(text)
        .to_string();
    Ok(format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>{body}</body></html>\n"
    )
    .into_bytes())
}

/// `path` as a `file://` URL, every byte outside the unreserved set escaped.
fn file_url(path: &Path) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const PATH: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.');
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    format!(
        "file://{}",
        utf8_percent_encode(&absolute.to_string_lossy(), PATH)
    )
}

/// A program by path, or by name on the `PATH`; only executable files count.
fn find_program(program: impl AsRef<Path>) -> Option<PathBuf> {
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

/// `program --version`'s version number (`7.4.7.2`), within [`PROBE_TIMEOUT`].
fn version_of(program: &Path) -> Result<String, String> {
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let log = scratch.path().join("version.txt");
    let mut command = Command::new(program);
    command
        .arg(format!(
            "-env:UserInstallation={}",
            file_url(&scratch.path().join("profile"))
        ))
        .arg("--version")
        .env("HOME", scratch.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).map_err(|e| e.to_string())?)
        .stderr(Stdio::null());
    match run_within(&mut command, Instant::now() + PROBE_TIMEOUT).map_err(|e| e.to_string())? {
        Some(status) if status.success() => {}
        Some(status) => return Err(format!("it exited with {status}")),
        None => return Err("it did not answer within 30 s".into()),
    }
    let printed = std::fs::read_to_string(&log).map_err(|e| e.to_string())?;
    let line = printed
        .lines()
        .find(|line| line.contains("LibreOffice"))
        .unwrap_or("")
        .trim();
    line.split_whitespace()
        .nth(1)
        .map(str::to_owned)
        .ok_or_else(|| format!("it printed no version ({:?})", printed.trim()))
}

/// Whether `unshare --net --map-root-user` can start a program here.
fn network_namespace_works(unshare: &Path) -> bool {
    let mut command = Command::new(unshare);
    command
        .args(["--net", "--map-root-user", "--", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    matches!(run_within(&mut command, Instant::now() + PROBE_TIMEOUT), Ok(Some(status)) if status.success())
}

/// Resource limits set in the child between `fork` and `exec`.
struct ProcessLimits {
    address_space: u64,
    file_size: u64,
}

impl ProcessLimits {
    fn apply(self, command: &mut Command) {
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

/// Runs `command` in its own process group until it exits or `deadline` passes; then
/// (and in any case once it exited) the whole group is killed, so nothing it started
/// lives on. `None` means the deadline came first.
fn run_within(command: &mut Command, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
    let mut child = command.spawn()?;
    let group = child.id() as libc::pid_t;
    let kill_group = || {
        // SAFETY: plain syscall; a negative pid names the process group we created.
        unsafe { libc::kill(-group, libc::SIGKILL) };
    };
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                kill_group();
                return Ok(Some(status));
            }
            Ok(None) if Instant::now() >= deadline => {
                kill_group();
                let _ = child.wait();
                return Ok(None);
            }
            Ok(None) => std::thread::sleep(POLL),
            Err(error) => {
                kill_group();
                let _ = child.wait();
                return Err(error);
            }
        }
    }
}

fn killed_for_file_size(status: ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(libc::SIGXFSZ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_loses_scripts_and_references_to_local_files() {
        let html = br#"<p>Hi</p><script>alert(1)</script><img src="/etc/hostname"><img src="file:///etc/passwd"><a href="https://example.com/">x</a>"#;
        let clean = String::from_utf8(sanitize_html(html).unwrap()).unwrap();
        assert!(clean.contains("<p>Hi</p>"));
        assert!(!clean.contains("script"));
        assert!(!clean.contains("/etc/"), "{clean}");
        assert!(clean.contains("https://example.com/"));
    }

    #[test]
    fn profile_paths_become_escaped_file_urls() {
        assert_eq!(file_url(Path::new("/tmp/a b/p")), "file:///tmp/a%20b/p");
    }

    #[test]
    fn a_program_over_its_time_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let mut command = Command::new("sh");
        command.arg("-c").arg(format!(
            "echo $$ > {}; sleep 30 & sleep 30",
            pid_file.display()
        ));
        let started = Instant::now();
        let outcome =
            run_within(&mut command, Instant::now() + Duration::from_millis(300)).unwrap();
        assert!(outcome.is_none());
        assert!(started.elapsed() < Duration::from_secs(5));
        let group: u32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Killed processes may linger a moment as zombies; none may still be running.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !living_members(group).is_empty() {
            assert!(
                Instant::now() < deadline,
                "still running: {:?}",
                living_members(group)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
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
