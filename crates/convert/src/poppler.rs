//! PDF as input: its pages as pictures (PNG or JPEG; several pages come back as one
//! zip) or its text, by poppler's command-line tools (`pdfinfo`, `pdftoppm`,
//! `pdftotext`), fenced like every external engine.
//!
//! Why poppler: it is the PDF renderer of most Linux desktops, well kept, fast and
//! tolerant of damaged files; the Rust PDF crates read a PDF's structure but do not
//! render pages, and PDFium is not packaged by Debian. A PDF is hostile input, so the
//! tools run fenced, each page is rendered at most 4000 pixels on its longer side
//! (a page of any declared size stays a bounded picture), and a document over the page
//! limit is refused unless `pages` picks fewer.

use std::io::Write as _;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use image::DynamicImage;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::engine::{Engine, EngineJob, Found, Offer, Probed};
use crate::external::{
    self, deliver, fenced_command, place_input, run_for_job, Captured, Fence, Printed,
};
use crate::image::{Encoding, Metadata};
use crate::{BudgetWriter, ConversionError, Format};

const OFFERS: &[Offer] = &[Offer {
    id: "pdf",
    name: "PDF pages",
    description: "A PDF's pages as PNG or JPEG pictures (several pages come back as one zip), or its text, by poppler.",
    inputs: &[Format::Pdf],
    outputs: &[Format::Png, Format::Jpeg, Format::Txt],
    features: &[
        "pages picks pages (such as 1-3,5)",
        "at most 100 pages as pictures",
        "pictures 2000 px on the longer side, or as large as max_width / max_height allow",
    ],
}];

/// How to install poppler, for the doctor's report.
pub const INSTALL_HINT: &str = "install poppler's tools and bubblewrap (Debian/Ubuntu: apt-get install poppler-utils bubblewrap; Fedora: dnf install poppler-utils bubblewrap)";

/// Most pages made into pictures in one job.
pub const MAX_PICTURE_PAGES: usize = 100;
/// Most pages read as text in one job.
pub const MAX_TEXT_PAGES: usize = 5000;
/// The longer side of a page picture, in pixels, unless the options ask for less.
const DEFAULT_SIDE: u32 = 2000;
/// The longer side of a page picture at most, whatever the options ask.
const MAX_RENDER_SIDE: u32 = 4000;
/// How long `pdfinfo` may take on the probe or one input.
const INFO_TIMEOUT: Duration = Duration::from_secs(30);

/// poppler's tools, found and fenced.
#[derive(Debug)]
pub struct Poppler {
    pdfinfo: PathBuf,
    pdftoppm: PathBuf,
    pdftotext: PathBuf,
    fence: Fence,
}

impl Poppler {
    /// What it converts when found.
    pub(crate) const OFFERS: &'static [Offer] = OFFERS;

    /// Looks for `pdfinfo`, `pdftoppm` and `pdftotext` on the `PATH`, fenced.
    pub fn probe() -> Probed {
        Probed::from_found(&Self::find(), OFFERS)
    }

    /// [`probe`](Self::probe), keeping the engine itself (other engines hand it work).
    pub fn find() -> Found<Self> {
        let [pdfinfo, pdftoppm, pdftotext] = external::locate(["pdfinfo", "pdftoppm", "pdftotext"])
            .ok_or_else(|| {
                external::missing(
                    "poppler",
                    format!("pdfinfo, pdftoppm or pdftotext not found on the PATH; {INSTALL_HINT}"),
                )
            })?;
        let fence = external::fence_for(&pdftoppm, "poppler");
        // `pdfinfo -v` prints `pdfinfo version 22.12.0` on standard error.
        let version = external::probe_version(&fence, &pdfinfo, &["-v"], Printed::Err, |text| {
            text.lines()
                .find_map(|line| line.strip_prefix("pdfinfo version "))
                .map(|version| version.trim().to_owned())
        })
        .map_err(|why| {
            external::missing(
                "poppler",
                format!("{} did not run ({why}); {INSTALL_HINT}", pdfinfo.display()),
            )
        })?;
        let detail = format!("{}, {}", pdftoppm.display(), fence.describe());
        let engine = Self {
            pdfinfo,
            pdftoppm,
            pdftotext,
            fence,
        };
        Ok((
            Arc::new(engine),
            external::found("poppler", version, detail, OFFERS),
        ))
    }

    /// What `pdfinfo args` prints about the placed input.
    fn info(&self, job: &EngineJob<'_>, args: &[&str]) -> Result<String, ConversionError> {
        let deadline = (Instant::now() + INFO_TIMEOUT).min(job.budget.deadline());
        let captured = external::capture(
            &self.fence,
            &self.pdfinfo,
            job.scratch,
            args,
            deadline,
            Printed::Out,
        )
        .map_err(ConversionError::Io)?;
        match captured {
            Captured::Text(text) => Ok(text),
            Captured::Failed(_) => Err(ConversionError::Invalid(
                "the PDF cannot be read (damaged, or protected by a password)".into(),
            )),
            Captured::TimedOut => Err(ConversionError::Limit(
                "reading the PDF took too long".into(),
            )),
        }
    }

    /// The number of pages of the placed input.
    fn page_count(&self, job: &EngineJob<'_>) -> Result<u32, ConversionError> {
        let info = self.info(job, &["input.pdf"])?;
        info.lines()
            .find_map(|line| line.strip_prefix("Pages:"))
            .and_then(|count| count.trim().parse().ok())
            .filter(|count| *count > 0)
            .ok_or_else(|| ConversionError::Invalid("the PDF has no pages".into()))
    }

    /// Width ÷ height of `page` as shown (its rotation applied).
    fn page_aspect(&self, job: &EngineJob<'_>, page: u32) -> Result<f64, ConversionError> {
        let page_text = page.to_string();
        let info = self.info(job, &["-f", &page_text, "-l", &page_text, "input.pdf"])?;
        page_aspect(&info)
            .ok_or_else(|| ConversionError::Invalid(format!("page {page} has no size")))
    }

    /// The pages to convert: the selection (or all), within the document and the limit.
    fn chosen_pages(
        &self,
        job: &EngineJob<'_>,
        count: u32,
        limit: usize,
    ) -> Result<Vec<u32>, ConversionError> {
        let pages: Vec<u32> = match job.options.page_ranges() {
            Some(ranges) => ranges.pages(count).collect(),
            None => (1..=count).collect(),
        };
        if pages.is_empty() {
            return Err(ConversionError::Invalid(format!(
                "none of the pages asked for is in the PDF, which has {count}"
            )));
        }
        if pages.len() > limit {
            return Err(ConversionError::Invalid(format!(
                "{} pages asked for; at most {limit} are converted at once (choose some with pages, such as 1-{limit})",
                pages.len()
            )));
        }
        Ok(pages)
    }

    /// Runs one tool for `job` in its scratch folder; a failure names the PDF.
    fn run_tool(
        &self,
        job: &EngineJob<'_>,
        program: &Path,
        args: &[String],
    ) -> Result<(), ConversionError> {
        let mut command =
            fenced_command(&self.fence, program, job.scratch).map_err(ConversionError::Io)?;
        command
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let status = run_for_job(&mut command, job, || ControlFlow::Continue(()))?;
        if status.success() {
            Ok(())
        } else {
            Err(ConversionError::Failed(
                "poppler could not read this PDF (is it damaged?)".into(),
            ))
        }
    }

    /// The chosen pages' text, pages separated by form feeds (as pdftotext does).
    fn text(
        &self,
        job: &EngineJob<'_>,
        pages: &[u32],
        out: &mut BudgetWriter<'_>,
    ) -> Result<Format, ConversionError> {
        for (done, range) in contiguous(pages).into_iter().enumerate() {
            let args = [
                "-enc".to_owned(),
                "UTF-8".to_owned(),
                "-f".to_owned(),
                range.0.to_string(),
                "-l".to_owned(),
                range.1.to_string(),
                "input.pdf".to_owned(),
                format!("text-{done}.txt"),
            ];
            self.run_tool(job, &self.pdftotext, &args)?;
            deliver(&job.scratch.join(format!("text-{done}.txt")), job, out)?;
        }
        Ok(Format::Txt)
    }

    /// One page rendered: 2000 pixels on its longer side, or as large as fits the
    /// options' bounds (and 4000 × 4000).
    fn render_page(&self, job: &EngineJob<'_>, page: u32) -> Result<DynamicImage, ConversionError> {
        let options = job.options;
        let mut args = vec!["-png".to_owned()];
        match (options.max_width, options.max_height) {
            (None, None) => args.extend(["-scale-to".to_owned(), DEFAULT_SIDE.to_string()]),
            (max_width, max_height) => {
                let (width, height) =
                    render_size(self.page_aspect(job, page)?, max_width, max_height);
                args.extend([
                    "-scale-to-x".to_owned(),
                    width.to_string(),
                    "-scale-to-y".to_owned(),
                    height.to_string(),
                ]);
            }
        }
        args.extend([
            "-f".to_owned(),
            page.to_string(),
            "-l".to_owned(),
            page.to_string(),
            "-singlefile".to_owned(),
            "input.pdf".to_owned(),
            "page".to_owned(),
        ]);
        self.run_tool(job, &self.pdftoppm, &args)?;
        let rendered = job.scratch.join("page.png");
        let picture = crate::image::decode(&rendered, Format::Png, false)?;
        let _ = std::fs::remove_file(&rendered);
        Ok(picture.pixels)
    }

    /// The chosen pages as pictures: one, or a zip of several.
    fn pictures(
        &self,
        job: &EngineJob<'_>,
        pages: &[u32],
        out: &mut BudgetWriter<'_>,
    ) -> Result<Format, ConversionError> {
        let no_metadata = Metadata::default();
        let encoding = Encoding::from_options(job.options, &no_metadata);
        if let [page] = pages {
            let picture = self.render_page(job, *page)?;
            crate::image::encode(&picture, job.target, &encoding, out)?;
            return Ok(job.target);
        }
        let stem = job
            .title
            .rsplit_once('.')
            .map_or(job.title, |(stem, _)| stem);
        let stem = if stem.is_empty() { "page" } else { stem };
        let digits = pages.last().map_or(1, |last| last.to_string().len());
        let mut archive = ZipWriter::new(out);
        for (done, page) in pages.iter().enumerate() {
            job.budget.check_time()?;
            let picture = self.render_page(job, *page)?;
            let mut entry = std::io::Cursor::new(Vec::new());
            crate::image::encode(
                &picture,
                job.target,
                &encoding,
                &mut job.budget.writer(&mut entry),
            )?;
            let name = format!("{stem}-page-{page:0digits$}.{}", job.target.extension());
            // Pictures are compressed already.
            let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
            archive.start_file(name, stored).map_err(zip_failed)?;
            archive
                .write_all(entry.get_ref())
                .map_err(ConversionError::Output)?;
            (job.progress)(((done + 1) * 100 / pages.len()) as u8);
        }
        archive.finish().map_err(zip_failed)?;
        Ok(Format::Zip)
    }
}

fn zip_failed(error: zip::result::ZipError) -> ConversionError {
    match error {
        zip::result::ZipError::Io(error) => ConversionError::Output(error),
        other => ConversionError::Failed(format!("packing the pages failed ({other})")),
    }
}

/// The aspect (width ÷ height) `pdfinfo -f N -l N` reports for page N, rotation
/// applied.
fn page_aspect(info: &str) -> Option<f64> {
    let field = |name: &str| {
        info.lines()
            .filter(|line| line.starts_with("Page "))
            .find_map(|line| {
                line.split_once(name)
                    .map(|(_, rest)| rest.trim().to_owned())
            })
    };
    let size = field("size:")?;
    let mut numbers = size
        .split_whitespace()
        .filter_map(|part| part.parse::<f64>().ok());
    let (width, height) = (numbers.next()?, numbers.next()?);
    if width <= 0.0 || height <= 0.0 {
        return None;
    }
    let turned = field("rot:")
        .and_then(|r| r.parse::<i64>().ok())
        .is_some_and(|r| r.rem_euclid(180) == 90);
    Some(if turned {
        height / width
    } else {
        width / height
    })
}

/// The largest picture of `aspect` within the bounds given and 4000 × 4000 pixels.
fn render_size(aspect: f64, max_width: Option<u32>, max_height: Option<u32>) -> (u32, u32) {
    let box_width = f64::from(max_width.unwrap_or(MAX_RENDER_SIDE).min(MAX_RENDER_SIDE));
    let box_height = f64::from(max_height.unwrap_or(MAX_RENDER_SIDE).min(MAX_RENDER_SIDE));
    let width = box_width.min(box_height * aspect);
    let height = width / aspect;
    (
        (width.round() as u32).max(1),
        (height.round() as u32).max(1),
    )
}

/// `pages` (ascending) as runs of consecutive pages, first and last.
fn contiguous(pages: &[u32]) -> Vec<(u32, u32)> {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &page in pages {
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == page => *last = page,
            _ => runs.push((page, page)),
        }
    }
    runs
}

impl Engine for Poppler {
    fn name(&self) -> &'static str {
        "poppler"
    }

    fn offers(&self) -> &'static [Offer] {
        OFFERS
    }

    fn convert(
        &self,
        job: &EngineJob<'_>,
        out: &mut BudgetWriter<'_>,
    ) -> Result<Format, ConversionError> {
        place_input(job, "input.pdf")?;
        let count = self.page_count(job)?;
        if job.target == Format::Txt {
            let pages = self.chosen_pages(job, count, MAX_TEXT_PAGES)?;
            return self.text(job, &pages, out);
        }
        let pages = self.chosen_pages(job, count, MAX_PICTURE_PAGES)?;
        self.pictures(job, &pages, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_render_as_large_as_the_bounds_allow_keeping_their_shape() {
        let a4 = 595.0 / 842.0;
        assert_eq!(render_size(a4, Some(300), None), (300, 425));
        assert_eq!(render_size(a4, None, Some(300)), (212, 300));
        assert_eq!(render_size(a4, Some(1000), Some(300)), (212, 300));
        assert_eq!(
            render_size(1.0 / 100.0, Some(4000), None),
            (40, 4000),
            "bounded however thin"
        );
        let info = "Page    1 size:  595 x 842 pts (A4)\nPage    1 rot:   90\n";
        assert!((page_aspect(info).unwrap() - 842.0 / 595.0).abs() < 1e-9);
        assert_eq!(page_aspect("Pages: 1\n"), None);
    }

    #[test]
    fn page_selections_run_in_consecutive_stretches() {
        assert_eq!(contiguous(&[1, 2, 3, 5, 7, 8]), [(1, 3), (5, 5), (7, 8)]);
        assert_eq!(contiguous(&[4]), [(4, 4)]);
        assert!(contiguous(&[]).is_empty());
    }
}
