//! The LibreOffice engine: office documents (docx, doc, odt, rtf, html), spreadsheets
//! (xlsx, ods, csv) and presentations (pptx, odp) to PDF, and docx ↔ odt, by running
//! `soffice --headless --convert-to` once per job. What it offers follows the
//! modules installed (`offers`: Writer always, Calc and Impress when present).
//!
//! Each run is shut in:
//! - `sandbox`: bubblewrap namespaces — it sees only system files and its own scratch
//!   directory, and has no network (without bubblewrap: no network only, and a warning);
//! - `profile`: its own fresh profile and temp folder (concurrent jobs never share a
//!   profile, which LibreOffice locks and corrupts), macros disabled, links never
//!   updated, proxies at a closed port; HTML is sanitized first;
//! - `process`: an empty environment but for `PATH` (system folders), `HOME`, `TMPDIR`
//!   and the locale; address-space and file-size limits; and its own process group,
//!   killed whole when the job's time is up and once it exits;
//! - the import filter is named, so a file is read as the type it was checked as
//!   (a spreadsheet renamed `.doc` is not opened by another module).

mod data_url;
mod html;
mod offers;
mod pool;
mod profile;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use self::html::sanitize_html;
use self::offers::{offers_for, Modules, ALL_OFFERS};
pub use self::pool::PoolSettings;
use self::pool::{python_has_uno, Request, WarmPool};
use self::profile::{file_url, PROFILE};
use crate::engine::{Engine, EngineJob, EngineReport, Found, Offer, Probed};
use crate::external::{
    deliver, fenced_command, find_program, place_input, run_for_job, run_within, Fence,
};
use crate::{BudgetWriter, ConversionError, Format, LibreOfficeSetting};

/// The system's Python, for which distributions package LibreOffice's UNO bridge.
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// How long the probe waits for `soffice --version`.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// How to install LibreOffice, for the doctor's report.
pub const INSTALL_HINT: &str = "install LibreOffice and bubblewrap (Debian/Ubuntu: apt-get \
     install libreoffice-writer-nogui bubblewrap; Fedora: dnf install libreoffice-writer \
     bubblewrap) or pass --libreoffice PATH";

/// LibreOffice, found, probed and fenced.
#[derive(Debug)]
pub struct LibreOffice {
    program: PathBuf,
    fence: Fence,
    modules: Modules,
    /// Instances kept running, if asked for and possible here.
    pool: Option<WarmPool>,
}

impl LibreOffice {
    /// What it converts when found (also known without probing).
    pub(crate) const OFFERS: &'static [Offer] = ALL_OFFERS;

    /// Looks for LibreOffice as `setting` says, finds the strongest fence this machine
    /// allows (warning when it is not bubblewrap), and asks its version from inside.
    /// Started cold for every conversion.
    pub fn probe(setting: &LibreOfficeSetting) -> Probed {
        Self::probed(&Self::find(setting, PoolSettings::COLD))
    }

    /// [`probe`](Self::probe), keeping the engine itself (other engines hand it work);
    /// with `pool.size` instances kept warm when this machine's Python has
    /// LibreOffice's UNO bridge (else cold, with a warning).
    pub fn find(setting: &LibreOfficeSetting, pool: PoolSettings) -> Found<Self> {
        let missing = |detail: String| EngineReport {
            name: "libreoffice",
            version: None,
            detail,
            offers: Vec::new(),
        };
        let program = match setting {
            LibreOfficeSetting::Off => {
                return Err(missing("turned off (--libreoffice off)".into()))
            }
            LibreOfficeSetting::Auto => find_program("soffice")
                .or_else(|| find_program("libreoffice"))
                .ok_or_else(|| missing(format!("not found on the PATH; {INSTALL_HINT}")))?,
            LibreOfficeSetting::Program(program) => find_program(program).ok_or_else(|| {
                missing(format!("{} not found; {INSTALL_HINT}", program.display()))
            })?,
        };
        // Run by its real path: a symlink elsewhere (say in /opt/bin) would not exist
        // inside the fence, which shows only system folders and the installation.
        let program = std::fs::canonicalize(&program).unwrap_or(program);
        let (fence, weaker) = Fence::probe(&program);
        if let Some(why) = &weaker {
            tracing::warn!(
                reason = %why,
                "LibreOffice runs without a file-system fence: a document could make it read \
                 files this server's user can read; install bubblewrap"
            );
        }
        let modules = Modules::installed_beside(&program);
        let mut engine = Self {
            program,
            fence,
            modules,
            pool: None,
        };
        let version = engine.version().map_err(|why| {
            missing(format!(
                "{} did not run ({why}); {INSTALL_HINT}",
                engine.program.display()
            ))
        })?;
        let warmth = engine.keep_warm(pool);
        let detail = format!(
            "{}, {}; macros off; {warmth}",
            engine.program.display(),
            engine.fence.describe()
        );
        let report = EngineReport {
            name: "libreoffice",
            version: Some(version),
            detail,
            offers: offers_for(engine.modules)
                .iter()
                .map(|offer| offer.id)
                .collect(),
        };
        Ok((Arc::new(engine), report))
    }

    /// A [`find`](Self::find) result as the registry takes it.
    pub fn probed(found: &Found<Self>) -> Probed {
        Probed::from_found(found, ALL_OFFERS)
    }

    /// Starts the pool `settings` ask for (when Python's UNO bridge is here); says how
    /// conversions will run.
    fn keep_warm(&mut self, settings: PoolSettings) -> String {
        if settings.size == 0 {
            return "started for each conversion".into();
        }
        // The system's Python first: LibreOffice's UNO bridge is installed for it
        // (a python3 earlier on the PATH, say from pyenv, may lack it).
        let python = [Some(PathBuf::from(SYSTEM_PYTHON)), find_program("python3")]
            .into_iter()
            .flatten()
            .filter_map(|path| std::fs::canonicalize(path).ok())
            .find(|python| python_has_uno(&self.fence, python));
        let Some(python) = python else {
            tracing::warn!(
                "LibreOffice is started for each conversion: keeping it warm needs python3 with \
                 its UNO bridge (apt-get install python3-uno)"
            );
            return "started for each conversion (python3-uno missing to keep it warm)".into();
        };
        match WarmPool::start(self.fence.clone(), self.program.clone(), python, settings) {
            Ok(pool) => {
                self.pool = Some(pool);
                format!(
                    "{} instances kept warm, each replaced after {} conversions",
                    settings.size, settings.recycle_after
                )
            }
            Err(error) => {
                tracing::warn!(%error, "LibreOffice cannot be kept warm");
                "started for each conversion".into()
            }
        }
    }

    /// Whether presentations can be read here (Impress is installed).
    pub(crate) fn reads_presentations(&self) -> bool {
        self.modules.reads_presentations()
    }

    /// `soffice` fenced in `scratch`, with a fresh profile there and the environment
    /// cleared; add the arguments.
    fn soffice(&self, scratch: &Path) -> std::io::Result<Command> {
        let profile = scratch.join("profile");
        std::fs::create_dir_all(profile.join("user"))?;
        std::fs::write(profile.join("user/registrymodifications.xcu"), PROFILE)?;
        let mut command = fenced_command(&self.fence, &self.program, scratch)?;
        command
            .arg(format!("-env:UserInstallation={}", file_url(&profile)))
            .env("SAL_USE_VCLPLUGIN", "svp");
        let log = std::fs::File::create(scratch.join("soffice.log"))?;
        command.stderr(log.try_clone()?).stdout(log);
        Ok(command)
    }

    /// The version number (`7.4.7.2`) `soffice --version` prints, asked inside the fence.
    fn version(&self) -> Result<String, String> {
        let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut command = self.soffice(scratch.path()).map_err(|e| e.to_string())?;
        command.arg("--version");
        match run_within(&mut command, Instant::now() + PROBE_TIMEOUT).map_err(|e| e.to_string())? {
            Some(status) if status.success() => {}
            Some(status) => return Err(format!("it exited with {status}")),
            None => return Err("it did not answer within 30 s".into()),
        }
        let printed = std::fs::read_to_string(scratch.path().join("soffice.log"))
            .map_err(|e| e.to_string())?;
        printed
            .lines()
            .find(|line| line.contains("LibreOffice"))
            .and_then(|line| line.split_whitespace().nth(1))
            .map(str::to_owned)
            .ok_or_else(|| format!("it printed no version ({:?})", printed.trim()))
    }
}

impl Engine for LibreOffice {
    fn name(&self) -> &'static str {
        "libreoffice"
    }

    fn offers(&self) -> &'static [Offer] {
        offers_for(self.modules)
    }

    fn convert(
        &self,
        job: &EngineJob<'_>,
        sink: &mut BudgetWriter<'_>,
    ) -> Result<Format, ConversionError> {
        let (import, export) = filters(job.source, job.target)?;
        let scratch = job.scratch;
        let input = scratch.join(format!("document.{}", job.source.extension()));
        if job.source == Format::Html {
            let html = std::fs::read(job.input).map_err(ConversionError::Io)?;
            std::fs::write(&input, sanitize_html(&html)?).map_err(ConversionError::Io)?;
        } else {
            place_input(job, &format!("document.{}", job.source.extension()))?;
        }
        if let Some(pool) = &self.pool {
            return self.convert_warm(pool, job, &input, import, export, sink);
        }
        let out = scratch.join("out");
        std::fs::create_dir_all(&out).map_err(ConversionError::Io)?;
        let mut command = self.soffice(scratch).map_err(ConversionError::Io)?;
        command
            .args([
                "--headless",
                "--invisible",
                "--nocrashreport",
                "--nodefault",
                "--nofirststartwizard",
                "--nolockcheck",
                "--nologo",
                "--norestore",
            ])
            .arg(format!("--infilter={import}"))
            .arg("--convert-to")
            .arg(export)
            .arg("--outdir")
            .arg(&out)
            .arg(&input);
        let status = run_for_job(&mut command, job, || ControlFlow::Continue(()))?;
        let output = out.join(format!("document.{}", job.target.extension()));
        if status.success() && output.is_file() {
            return deliver(&output, job, sink).map(|()| job.target);
        }
        tracing::info!(%status, "LibreOffice produced no output");
        Err(ConversionError::Failed(
            "LibreOffice could not convert this file (is it damaged?)".into(),
        ))
    }
}

impl LibreOffice {
    /// Converts `input` (in the job's scratch folder) on a warm instance: the file is
    /// linked into the instance's folder (the only one its fence shows), converted
    /// there, and the result delivered; both are removed afterwards.
    fn convert_warm(
        &self,
        pool: &WarmPool,
        job: &EngineJob<'_>,
        input: &Path,
        import: &str,
        export: &str,
        sink: &mut BudgetWriter<'_>,
    ) -> Result<Format, ConversionError> {
        // `--convert-to`'s "extension:filter" is the filter alone over UNO.
        let export = export.split_once(':').map_or(export, |(_, filter)| filter);
        pool.with_instance(job.budget.deadline(), |instance| {
            let folder = tempfile::Builder::new()
                .prefix("job-")
                .tempdir_in(instance.jobs_dir())
                .map_err(ConversionError::Io)?;
            let placed = folder
                .path()
                .join(format!("document.{}", job.source.extension()));
            if std::fs::hard_link(input, &placed).is_err() {
                std::fs::copy(input, &placed).map_err(ConversionError::Io)?;
            }
            let output = folder
                .path()
                .join(format!("result.{}", job.target.extension()));
            instance.convert(&Request {
                input: &placed,
                output: &output,
                import,
                export,
            })?;
            if !output.is_file() {
                return Err(ConversionError::Failed(
                    "LibreOffice could not convert this file (is it damaged?)".into(),
                ));
            }
            deliver(&output, job, sink).map(|()| job.target)
        })
    }
}

/// The import filter (named, so the file is read as the type it was checked as) and
/// the export filter (`--convert-to`) for a pair.
fn filters(
    source: Format,
    target: Format,
) -> Result<(&'static str, &'static str), ConversionError> {
    let import = match source {
        Format::Docx => "MS Word 2007 XML",
        Format::Doc => "MS Word 97",
        Format::Odt => "writer8",
        Format::Rtf => "Rich Text Format",
        Format::Html => "HTML (StarWriter)",
        Format::Xlsx => "Calc MS Excel 2007 XML",
        Format::Ods => "calc8",
        // Comma-separated, double quotes, UTF-8 (76), from the first line.
        Format::Csv => "Text - txt - csv (StarCalc):44,34,76,1",
        Format::Pptx => "Impress MS PowerPoint 2007 XML",
        Format::Odp => "impress8",
        _ => return Err(ConversionError::Unsupported),
    };
    let export = match (source, target) {
        (Format::Xlsx | Format::Ods | Format::Csv, Format::Pdf) => "pdf:calc_pdf_Export",
        (Format::Pptx | Format::Odp, Format::Pdf) => "pdf:impress_pdf_Export",
        (_, Format::Pdf) => "pdf:writer_pdf_Export",
        (Format::Docx, Format::Odt) => "odt:writer8",
        (Format::Odt, Format::Docx) => "docx:MS Word 2007 XML",
        _ => return Err(ConversionError::Unsupported),
    };
    Ok((import, export))
}
