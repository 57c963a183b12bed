//! Modern photos: HEIC (phones) and AVIF read, AVIF written, by libheif's command-line
//! tools (`heif-convert`, `heif-enc`), fenced like every external engine. Decoded
//! pictures go through the same steps as every picture here (scaled to fit, encoded by
//! the built-in encoders); libheif applies the photo's rotation and mirroring while
//! decoding, and nothing of its metadata is carried over.

use std::io::Write as _;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use image::{DynamicImage, ImageFormat};

use crate::engine::{Engine, EngineJob, Found, Offer, Probed};
use crate::external::{self, deliver, fenced_command, place_input, run_for_job, Fence, Printed};
use crate::format::RASTER_FORMATS;
use crate::image::{fit_within, Encoding, Metadata};
use crate::{BudgetWriter, ConversionError, Format};

/// What decoded HEIC and AVIF photos become.
const PHOTO_OUTPUTS: [Format; 8] = [
    Format::Png,
    Format::Jpeg,
    Format::Gif,
    Format::Bmp,
    Format::Tiff,
    Format::Webp,
    Format::Avif,
    Format::Pdf,
];

const OFFERS: &[Offer] = &[
    Offer {
        id: "heif",
        name: "HEIC and AVIF photos",
        description: "HEIC photos (as phones take them) and AVIF pictures to any picture format or a one-page PDF, by libheif.",
        inputs: &[Format::Heic, Format::Avif],
        outputs: &PHOTO_OUTPUTS,
        features: &[
            "rotation applied",
            "metadata stripped",
            "HEIC decoded through a quality-100 JPEG (no alpha)",
        ],
    },
    Offer {
        id: "avif",
        name: "Pictures to AVIF",
        description: "Raster pictures to AVIF, by libheif with the AOM encoder.",
        inputs: &RASTER_FORMATS,
        outputs: &[Format::Avif],
        features: &["quality 50 unless asked (as heif-enc)", "lossless on request"],
    },
];

/// How to install libheif's tools, for the doctor's report.
pub const INSTALL_HINT: &str = "install libheif's tools and bubblewrap (Debian/Ubuntu: apt-get install libheif-examples bubblewrap; Fedora: dnf install libheif-tools bubblewrap)";

/// AVIF's quality when none is asked: `heif-enc`'s default.
pub const DEFAULT_AVIF_QUALITY: u32 = 50;

/// libheif's tools, found and fenced.
#[derive(Debug)]
pub struct Libheif {
    decoder: PathBuf,
    encoder: PathBuf,
    fence: Fence,
}

impl Libheif {
    /// What it converts when found.
    pub(crate) const OFFERS: &'static [Offer] = OFFERS;

    /// Looks for `heif-convert` and `heif-enc` on the `PATH`, fenced.
    pub fn probe() -> Probed {
        Probed::from_found(&Self::find(), OFFERS)
    }

    /// [`probe`](Self::probe), keeping the engine itself.
    pub fn find() -> Found<Self> {
        let [decoder, encoder] =
            external::locate(["heif-convert", "heif-enc"]).ok_or_else(|| {
                external::missing(
                    "libheif",
                    format!("heif-convert or heif-enc not found on the PATH; {INSTALL_HINT}"),
                )
            })?;
        let fence = external::fence_for(&encoder, "libheif");
        // `heif-enc --help` starts with ` heif-enc  libheif version: 1.15.1`.
        let version =
            external::probe_version(&fence, &encoder, &["--help"], Printed::Both, |text| {
                Some(
                    text.split("libheif version:")
                        .nth(1)?
                        .split_whitespace()
                        .next()?
                        .to_owned(),
                )
            })
            .map_err(|why| {
                external::missing(
                    "libheif",
                    format!("{} did not run ({why}); {INSTALL_HINT}", encoder.display()),
                )
            })?;
        let detail = format!("{}, {}", encoder.display(), fence.describe());
        let engine = Self {
            decoder,
            encoder,
            fence,
        };
        Ok((
            Arc::new(engine),
            external::found("libheif", version, detail, OFFERS),
        ))
    }

    /// Runs one tool fenced in the job's scratch folder.
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
        if run_for_job(&mut command, job, || ControlFlow::Continue(()))?.success() {
            Ok(())
        } else {
            Err(ConversionError::Failed(format!(
                "libheif could not convert this {} file (is it damaged?)",
                job.source.name()
            )))
        }
    }

    /// The job's input as upright pixels: decoded by libheif (HEIC, AVIF) or by the
    /// built-in decoders (other pictures).
    fn pixels(&self, job: &EngineJob<'_>) -> Result<DynamicImage, ConversionError> {
        if !matches!(job.source, Format::Heic | Format::Avif) {
            return crate::image::decode(job.input, job.source, false)
                .map(|picture| picture.pixels);
        }
        let input = format!("input.{}", job.source.extension());
        place_input(job, &input)?;
        // HEIC photos are lossy 4:2:0 pictures already: they come out of libheif as a
        // JPEG at quality 100, which libheif writes in a fraction of the time a PNG of
        // a 12-megapixel photo takes (0.8 s against 4 s here). AVIF may be lossless or
        // carry alpha: it comes out as a PNG.
        let (decoded, format, args) = match job.source {
            Format::Heic => (
                "decoded.jpg",
                Format::Jpeg,
                vec!["-q".to_owned(), "100".to_owned()],
            ),
            _ => ("decoded.png", Format::Png, Vec::new()),
        };
        let mut args = args;
        args.extend([input, decoded.to_owned()]);
        self.run_tool(job, &self.decoder, &args)?;
        // Upright already (libheif applied the photo's rotation); the checks of any
        // picture (size first) apply to what it wrote.
        crate::image::decode_as_stored(&job.scratch.join(decoded), format)
    }

    /// A HEIC or AVIF photo to JPEG in one step, as `heif-convert` writes it (as
    /// fast as calling it directly), its metadata then stripped.
    fn straight_to_jpeg(
        &self,
        job: &EngineJob<'_>,
        out: &mut BudgetWriter<'_>,
    ) -> Result<Format, ConversionError> {
        let input = format!("input.{}", job.source.extension());
        place_input(job, &input)?;
        let quality = job
            .options
            .quality
            .unwrap_or(u32::from(crate::image::DEFAULT_QUALITY));
        let args = [
            "-q".to_owned(),
            quality.to_string(),
            input,
            "output.jpg".to_owned(),
        ];
        self.run_tool(job, &self.decoder, &args)?;
        let written = std::fs::read(job.scratch.join("output.jpg")).map_err(ConversionError::Io)?;
        let stripped = crate::image::strip_jpeg_metadata(&written)
            .ok_or_else(|| ConversionError::Failed("libheif wrote a damaged JPEG".into()))?;
        job.budget.check_output(stripped.len() as u64)?;
        out.write_all(&stripped).map_err(ConversionError::Output)?;
        Ok(Format::Jpeg)
    }

    /// `picture` as AVIF into `out`, through a lossless PNG for heif-enc.
    fn encode_avif(
        &self,
        job: &EngineJob<'_>,
        picture: &DynamicImage,
        out: &mut BudgetWriter<'_>,
    ) -> Result<(), ConversionError> {
        let source = job.scratch.join("encode.png");
        picture
            .save_with_format(&source, ImageFormat::Png)
            .map_err(|error| {
                ConversionError::Failed(format!("preparing the picture failed ({error})"))
            })?;
        let mut args = Vec::new();
        if job.options.lossless == Some(true) {
            args.push("--lossless".to_owned());
        } else {
            let quality = job.options.quality.unwrap_or(DEFAULT_AVIF_QUALITY);
            args.extend(["-q".to_owned(), quality.to_string()]);
        }
        args.extend([
            "-A".to_owned(),
            "-o".to_owned(),
            "output.avif".to_owned(),
            "encode.png".to_owned(),
        ]);
        self.run_tool(job, &self.encoder, &args)?;
        deliver(&job.scratch.join("output.avif"), job, out)
    }
}

impl Engine for Libheif {
    fn name(&self) -> &'static str {
        "libheif"
    }

    fn offers(&self) -> &'static [Offer] {
        OFFERS
    }

    fn convert(
        &self,
        job: &EngineJob<'_>,
        out: &mut BudgetWriter<'_>,
    ) -> Result<Format, ConversionError> {
        let decodes_here = matches!(job.source, Format::Heic | Format::Avif);
        let resized = job.options.max_width.is_some() || job.options.max_height.is_some();
        if decodes_here && job.target == Format::Jpeg && !resized {
            return self.straight_to_jpeg(job, out);
        }
        let pixels = self.pixels(job)?;
        job.budget.check_time()?;
        if job.target == Format::Pdf {
            crate::pdf::from_image(&pixels, job.budget, out)?;
            return Ok(Format::Pdf);
        }
        let fitted = fit_within(&pixels, job.options.max_width, job.options.max_height);
        job.budget.check_time()?;
        if job.target == Format::Avif {
            self.encode_avif(job, &fitted, out)?;
        } else {
            let no_metadata = Metadata::default();
            let encoding = Encoding::from_options(job.options, &no_metadata);
            crate::image::encode(&fitted, job.target, &encoding, out)?;
        }
        Ok(job.target)
    }
}
