//! The document engine: Pandoc, fenced like every external engine, between markdown,
//! HTML, Word, OpenDocument, EPUB, reStructuredText, LaTeX (read only), Org and plain
//! text (written only); and, with LibreOffice, the ones LibreOffice cannot read to PDF
//! (`via_office`: Pandoc writes OpenDocument, LibreOffice lays it out — no TeX).
//!
//! Pandoc runs with `--sandbox`, so a document cannot pull in other files (a LaTeX
//! `\input`, a picture by path or URL). Debian's Pandoc cannot write Word, OpenDocument
//! or EPUB in sandbox mode (those writers need data files it does not have built in);
//! for them (a Pandoc that can — its own builds embed their data files — runs every
//! conversion in one sandboxed step; checked when probed), and for HTML with the
//! pictures of a Word, OpenDocument or EPUB input
//! embedded) the input is read in sandbox mode into Pandoc's document tree, with the
//! document's own pictures extracted beside it, the tree is made safe (`ast`: any
//! other picture reference and raw HTML/LaTeX removed), and the writer runs on that.

mod ast;
mod via_office;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use self::via_office::PandocThroughOffice;
use crate::engine::{Engine, EngineJob, Found, Offer, Probed};
use crate::external::{
    self, deliver, fenced_command, place_input, run_for_job, run_within, Fence, Printed,
};
use crate::{BudgetWriter, ConversionError, Format};

/// Formats Pandoc reads.
const INPUTS: [Format; 8] = [
    Format::Markdown,
    Format::Html,
    Format::Docx,
    Format::Odt,
    Format::Epub,
    Format::Rst,
    Format::Latex,
    Format::Org,
];

const OFFERS: &[Offer] = &[Offer {
    id: "documents",
    name: "Documents",
    description: "Markdown, HTML, Word, OpenDocument, EPUB, reStructuredText, LaTeX and Org documents to each other or to plain text, by Pandoc.",
    inputs: &INPUTS,
    outputs: &[
        Format::Markdown,
        Format::Html,
        Format::Docx,
        Format::Odt,
        Format::Epub,
        Format::Rst,
        Format::Org,
        Format::Txt,
    ],
    features: &[
        "Pandoc's sandbox: no other files or URLs are read",
        "pictures inside the document kept",
        "LaTeX is read, not written",
    ],
}];

/// How to install Pandoc, for the doctor's report.
pub const INSTALL_HINT: &str =
    "install Pandoc and bubblewrap (Debian/Ubuntu: apt-get install pandoc bubblewrap; Fedora: dnf install pandoc bubblewrap)";

/// How long `pandoc --version` may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest document tree (JSON) read back between the two steps.
const MAX_TREE_BYTES: u64 = 256 * 1024 * 1024;

/// Pandoc, found and fenced.
#[derive(Debug)]
pub struct Pandoc {
    program: PathBuf,
    fence: Fence,
    /// Whether this Pandoc writes Word, OpenDocument and EPUB in sandbox mode (its
    /// data files built in, as in Pandoc's own builds): then every conversion is one
    /// sandboxed run. Debian 12's cannot: two steps.
    sandboxes_every_writer: bool,
}

/// Pandoc's reader for `format`.
fn reader(format: Format) -> Option<&'static str> {
    Some(match format {
        Format::Markdown => "markdown",
        Format::Html => "html",
        Format::Docx => "docx",
        Format::Odt => "odt",
        Format::Epub => "epub",
        Format::Rst => "rst",
        Format::Latex => "latex",
        Format::Org => "org",
        _ => return None,
    })
}

/// Pandoc's writer for `format`, and whether it needs data files (so cannot run in
/// sandbox mode on Debian's Pandoc).
fn writer(format: Format) -> Option<(&'static str, bool)> {
    Some(match format {
        Format::Markdown => ("markdown", false),
        Format::Html => ("html5", false),
        Format::Rst => ("rst", false),
        Format::Org => ("org", false),
        Format::Txt => ("plain", false),
        Format::Docx => ("docx", true),
        Format::Odt => ("odt", true),
        Format::Epub => ("epub3", true),
        _ => return None,
    })
}

impl Pandoc {
    /// What it converts when found.
    pub(crate) const OFFERS: &'static [Offer] = OFFERS;

    /// Looks for `pandoc` on the `PATH`, fences it and asks its version from inside.
    pub fn find() -> Found<Self> {
        let [program] = external::locate(["pandoc"]).ok_or_else(|| {
            external::missing("pandoc", format!("not found on the PATH; {INSTALL_HINT}"))
        })?;
        let fence = external::fence_for(&program, "Pandoc");
        // `pandoc 2.17.1.1`
        let version =
            external::probe_version(&fence, &program, &["--version"], Printed::Out, |text| {
                Some(
                    text.lines()
                        .next()?
                        .strip_prefix("pandoc ")?
                        .trim()
                        .to_owned(),
                )
            })
            .map_err(|why| {
                external::missing(
                    "pandoc",
                    format!("{} did not run ({why}); {INSTALL_HINT}", program.display()),
                )
            })?;
        let mut engine = Self {
            program,
            fence,
            sandboxes_every_writer: false,
        };
        engine.sandboxes_every_writer = engine.writes_docx_sandboxed();
        let detail = format!(
            "{}, {}; --sandbox{}",
            engine.program.display(),
            engine.fence.describe(),
            if engine.sandboxes_every_writer {
                ""
            } else {
                " (Word, OpenDocument and EPUB written from a cleaned document tree: \
                 this Pandoc cannot write them sandboxed)"
            }
        );
        Ok((
            Arc::new(engine),
            external::found("pandoc", version, detail, OFFERS),
        ))
    }

    /// A [`find`](Self::find) result as the registry takes it.
    pub fn probed(found: &Found<Self>) -> Probed {
        Probed::from_found(found, OFFERS)
    }

    /// Whether a sandboxed run can write a Word document here.
    fn writes_docx_sandboxed(&self) -> bool {
        let Ok(scratch) = tempfile::tempdir() else {
            return false;
        };
        if std::fs::write(scratch.path().join("probe.md"), "probe\n").is_err() {
            return false;
        }
        let Ok(mut command) = fenced_command(&self.fence, &self.program, scratch.path()) else {
            return false;
        };
        command
            .args([
                "--sandbox",
                "-f",
                "markdown",
                "-t",
                "docx",
                "-o",
                "probe.docx",
                "probe.md",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let ran = run_within(&mut command, Instant::now() + PROBE_TIMEOUT);
        matches!(ran, Ok(Some(status)) if status.success())
            && scratch.path().join("probe.docx").is_file()
    }

    /// Runs Pandoc fenced in `scratch` with `args`, for `job`.
    fn run(
        &self,
        job: &EngineJob<'_>,
        scratch: &Path,
        args: &[&str],
    ) -> Result<(), ConversionError> {
        let mut command =
            fenced_command(&self.fence, &self.program, scratch).map_err(ConversionError::Io)?;
        let log = std::fs::File::create(scratch.join("pandoc.log")).map_err(ConversionError::Io)?;
        command.args(args).stdout(Stdio::null()).stderr(log);
        let status = run_for_job(&mut command, job, || ControlFlow::Continue(()))?;
        if status.success() {
            return Ok(());
        }
        let log = std::fs::read_to_string(scratch.join("pandoc.log")).unwrap_or_default();
        tracing::info!(%status, log = %log.trim(), "Pandoc failed");
        Err(ConversionError::Failed(format!(
            "Pandoc could not convert this {} file (is it damaged?)",
            job.source.name()
        )))
    }

    /// Converts `job` into `scratch/output` (named with the target's extension);
    /// returns its path. Used on its own and before LibreOffice.
    pub(crate) fn convert_to_file(
        &self,
        job: &EngineJob<'_>,
        target: Format,
    ) -> Result<PathBuf, ConversionError> {
        let reader = reader(job.source).ok_or(ConversionError::Unsupported)?;
        let (writer, needs_data_files) = writer(target).ok_or(ConversionError::Unsupported)?;
        let input = format!("input.{}", job.source.extension());
        place_input(job, &input)?;
        let output = format!("output.{}", target.extension());
        let scratch = job.scratch;
        // HTML from a document with pictures inside: written in two steps too, so the
        // pictures can be embedded (`--self-contained`) instead of left dangling.
        let embeds_pictures = target == Format::Html
            && matches!(job.source, Format::Docx | Format::Odt | Format::Epub);
        if self.sandboxes_every_writer || (!needs_data_files && !embeds_pictures) {
            let mut args = vec!["--sandbox", "-f", reader, "-t", writer, "-o", &output];
            if target == Format::Html {
                args.push("--standalone");
            }
            if embeds_pictures {
                args.push("--self-contained");
            }
            args.push(&input);
            self.run(job, scratch, &args)?;
        } else {
            let media = format!("--extract-media={}", ast::MEDIA_DIR);
            let read = [
                "--sandbox",
                "-f",
                reader,
                "-t",
                "json",
                &media,
                "-o",
                "tree.json",
                &input,
            ];
            self.run(job, scratch, &read)?;
            job.budget.check_time()?;
            let needs_title = target == Format::Epub;
            self.write_safe_tree(
                job,
                needs_title,
                scratch.join("tree.json"),
                scratch.join("safe.json"),
            )?;
            let mut write = vec!["-f", "json", "-t", writer, "-o", &output];
            if embeds_pictures {
                write.extend(["--standalone", "--self-contained"]);
            }
            write.push("safe.json");
            self.run(job, scratch, &write)?;
        }
        Ok(scratch.join(output))
    }

    /// Reads the tree the sandboxed reader wrote, makes it safe (`ast`), gives it the
    /// file's name as title if it has none and `needs_title` (EPUB requires one), and
    /// writes it for the writer.
    fn write_safe_tree(
        &self,
        job: &EngineJob<'_>,
        needs_title: bool,
        tree: PathBuf,
        safe: PathBuf,
    ) -> Result<(), ConversionError> {
        let size = std::fs::metadata(&tree).map_err(ConversionError::Io)?.len();
        if size > MAX_TREE_BYTES {
            return Err(ConversionError::Limit(
                "the document is too large to convert".into(),
            ));
        }
        let text = std::fs::read(&tree).map_err(ConversionError::Io)?;
        let mut document: serde_json::Value = serde_json::from_slice(&text).map_err(|_| {
            ConversionError::Failed("Pandoc wrote an unreadable document tree".into())
        })?;
        ast::make_safe(&mut document);
        let meta = document
            .get_mut("meta")
            .and_then(serde_json::Value::as_object_mut);
        if let Some(meta) = meta.filter(|_| needs_title) {
            let stem = job
                .title
                .rsplit_once('.')
                .map_or(job.title, |(stem, _)| stem);
            meta.entry("title").or_insert_with(
                || serde_json::json!({"t": "MetaInlines", "c": [{"t": "Str", "c": stem}]}),
            );
        }
        let written = serde_json::to_vec(&document).expect("a JSON value serializes");
        std::fs::write(safe, written).map_err(ConversionError::Io)
    }
}

impl Engine for Pandoc {
    fn name(&self) -> &'static str {
        "pandoc"
    }

    fn offers(&self) -> &'static [Offer] {
        OFFERS
    }

    fn convert(
        &self,
        job: &EngineJob<'_>,
        out: &mut BudgetWriter<'_>,
    ) -> Result<Format, ConversionError> {
        let result = self.convert_to_file(job, job.target)?;
        deliver(&result, job, out).map(|()| job.target)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::time::Duration;

    use super::*;
    use crate::Budget;

    /// The installed Pandoc made to write in two steps, as a Pandoc that cannot write
    /// Word sandboxed does: the tests cover that path wherever they run.
    fn two_step_pandoc() -> Pandoc {
        let (found, _) = Pandoc::find().expect("Pandoc (scripts/setup-engines.sh)");
        Pandoc {
            program: found.program.clone(),
            fence: found.fence.clone(),
            sandboxes_every_writer: false,
        }
    }

    /// The names of a Word document's parts.
    fn parts(docx: &[u8]) -> Vec<String> {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(docx)).expect("a zip");
        (0..archive.len())
            .map(|index| {
                archive
                    .by_index(index)
                    .unwrap()
                    .name()
                    .unwrap()
                    .into_owned()
            })
            .collect()
    }

    fn document_text(docx: &[u8]) -> String {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(docx)).expect("a zip");
        let mut text = String::new();
        archive
            .by_name("word/document.xml")
            .expect("the main part")
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    /// Converts `markdown` to Word with `pandoc` in a job folder that also holds
    /// `beside.png`, a picture the document is not allowed to reach.
    fn markdown_to_docx(pandoc: &Pandoc, markdown: &str) -> Vec<u8> {
        let folder = tempfile::tempdir().unwrap();
        let scratch = folder.path().join("work");
        std::fs::create_dir(&scratch).unwrap();
        image::RgbImage::new(4, 4)
            .save(scratch.join("beside.png"))
            .unwrap();
        let input = folder.path().join("input");
        std::fs::write(&input, markdown).unwrap();
        let budget = Budget::new(1 << 24, Duration::from_secs(60));
        let job = EngineJob {
            input: &input,
            source: Format::Markdown,
            target: Format::Docx,
            options: &Default::default(),
            title: "notes.md",
            budget: &budget,
            scratch: &scratch,
            memory_limit: u64::MAX,
            progress: &|_| {},
        };
        let mut output = std::io::Cursor::new(Vec::new());
        let written = pandoc
            .convert(&job, &mut budget.writer(&mut output))
            .expect("converted");
        assert_eq!(written, Format::Docx);
        output.into_inner()
    }

    #[test]
    fn two_step_conversions_keep_the_text_and_drop_pictures_from_outside_the_document() {
        let pandoc = two_step_pandoc();
        let docx = markdown_to_docx(
            &pandoc,
            "# Heading\n\nSome *words*.\n\n![beside](beside.png)\n",
        );
        assert!(document_text(&docx).contains("words"));
        let media: Vec<_> = parts(&docx)
            .into_iter()
            .filter(|part| part.starts_with("word/media/"))
            .collect();
        assert!(
            media.is_empty(),
            "a picture from beside the input was embedded: {media:?}"
        );
    }

    #[test]
    fn two_step_conversions_keep_pictures_inside_the_document() {
        let mut png = Vec::new();
        image::RgbImage::new(4, 4)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        use base64::Engine as _;
        let url = base64::engine::general_purpose::STANDARD.encode(&png);
        let markdown = format!("Inline picture:\n\n![dot](data:image/png;base64,{url})\n");
        let docx = markdown_to_docx(&two_step_pandoc(), &markdown);
        assert!(
            parts(&docx)
                .iter()
                .any(|part| part.starts_with("word/media/")),
            "the document's own picture was lost"
        );
    }
}
