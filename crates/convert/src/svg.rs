//! SVG drawings: to PNG with resvg, to a vector PDF with krilla.
//!
//! An SVG may point at other files (`<image href="file:///etc/passwd">`,
//! `href="http://…"`); nothing outside the uploaded file is ever read or fetched:
//! only `data:` URLs inside the file are resolved, and only to raster images (a nested
//! SVG would be parsed again for every `<use>` of it). Text is set in the bundled
//! font, whatever fonts the server has.
//!
//! Rendering runs in-process and cannot be interrupted mid-step, so the work a file
//! can ask for is bounded before it starts: usvg refuses more than a million elements
//! (`<use>` expansions included); the drawing's size is bounded like any image's; the
//! embedded images together may hold at most [`MAX_PIXELS`] pixels; and filters (each
//! a pass over its region, at most the canvas) at most [`MAX_FILTER_PIXELS`] pixels.

use std::io::{Cursor, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use image::{DynamicImage, RgbaImage};
use krilla::geom::Size as PageSize;
use krilla::page::PageSettings;
use krilla::Document;
use krilla_svg::{SurfaceExt, SvgSettings};
use resvg::tiny_skia::{Pixmap, Transform};
use resvg::usvg::{self, fontdb, ImageHrefResolver, ImageKind, Node, Tree};

use crate::image::{check_pixels, encode, fitted_size, Encoding, MAX_PIXELS};

/// The largest page side PDF viewers accept, in points.
const MAX_PAGE_SIDE: f32 = 14_400.0;
/// Most pixels all filter passes of one drawing may cover together.
pub const MAX_FILTER_PIXELS: u64 = 10 * MAX_PIXELS;
use crate::{font, Budget, BudgetWriter, ConversionError, Format};
use trustyconvert_protocol::ConversionOptions;

/// The fonts SVG text may use: the bundled one, under every generic family name.
static FONTS: LazyLock<Arc<fontdb::Database>> = LazyLock::new(|| {
    let mut database = fontdb::Database::new();
    database.load_font_data(font::data().to_vec());
    database.set_serif_family(font::FAMILY);
    database.set_sans_serif_family(font::FAMILY);
    database.set_monospace_family(font::FAMILY);
    database.set_cursive_family(font::FAMILY);
    database.set_fantasy_family(font::FAMILY);
    Arc::new(database)
});

/// Parse options that never leave the file: no resources folder, no string hrefs, and
/// `data:` URLs only as raster images of bounded size (all of them together at most
/// [`MAX_PIXELS`]; each `<use>` copy counts again).
fn options() -> usvg::Options<'static> {
    let pixels_left = Arc::new(AtomicU64::new(MAX_PIXELS));
    usvg::Options {
        resources_dir: None,
        font_family: font::FAMILY.to_owned(),
        fontdb: Arc::clone(&FONTS),
        image_href_resolver: ImageHrefResolver {
            resolve_data: Box::new(move |_, data, _| embedded_image(data, &pixels_left)),
            resolve_string: Box::new(|_, _| None),
        },
        ..usvg::Options::default()
    }
}

/// A raster image from a `data:` URL, judged by its bytes (not its declared type), if
/// its size fits in what is left of the drawing's pixel budget.
fn embedded_image(data: Arc<Vec<u8>>, pixels_left: &AtomicU64) -> Option<ImageKind> {
    let format = image::guess_format(&data).ok()?;
    let (width, height) = image::ImageReader::with_format(Cursor::new(&data[..]), format)
        .into_dimensions()
        .ok()?;
    check_pixels(width, height).ok()?;
    let pixels = u64::from(width) * u64::from(height);
    pixels_left
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
            left.checked_sub(pixels)
        })
        .ok()?;
    Some(match format {
        image::ImageFormat::Png => ImageKind::PNG(data),
        image::ImageFormat::Jpeg => ImageKind::JPEG(data),
        image::ImageFormat::Gif => ImageKind::GIF(data),
        image::ImageFormat::WebP => ImageKind::WEBP(data),
        _ => return None,
    })
}

/// Filter passes in `group` and below.
fn filter_count(group: &usvg::Group) -> u64 {
    let own = group.filters().len() as u64;
    own + group
        .children()
        .iter()
        .map(|node| match node {
            Node::Group(child) => filter_count(child),
            _ => 0,
        })
        .sum::<u64>()
}

/// Parses an SVG and checks its size (at one pixel per user unit).
pub fn parse(bytes: &[u8]) -> Result<Tree, ConversionError> {
    let tree = Tree::from_data(bytes, &options())
        .map_err(|error| ConversionError::Invalid(format!("not a readable SVG ({error})")))?;
    let size = tree.size().to_int_size();
    check_pixels(size.width(), size.height())?;
    let canvas = u64::from(size.width()) * u64::from(size.height());
    let filters = filter_count(tree.root());
    if filters.saturating_mul(canvas) > MAX_FILTER_PIXELS {
        return Err(ConversionError::Invalid(format!(
            "the drawing asks for too much work ({filters} filter passes over {canvas} pixels)"
        )));
    }
    Ok(tree)
}

/// The drawing as a PNG at its own size, or scaled down (drawn smaller, not resampled)
/// to fit the options' `max_width` / `max_height`; transparent where it draws nothing.
pub fn to_png(
    bytes: &[u8],
    options: &ConversionOptions,
    budget: &Budget,
    out: &mut BudgetWriter<'_>,
) -> Result<(), ConversionError> {
    let tree = parse(bytes)?;
    budget.check_time()?;
    let size = tree.size().to_int_size();
    let (width, height) = fitted_size(
        size.width(),
        size.height(),
        options.max_width.unwrap_or(u32::MAX),
        options.max_height.unwrap_or(u32::MAX),
    );
    let mut pixmap = Pixmap::new(width, height)
        .ok_or_else(|| ConversionError::Invalid("the drawing has no pixels".into()))?;
    let scale = Transform::from_scale(
        width as f32 / size.width() as f32,
        height as f32 / size.height() as f32,
    );
    resvg::render(&tree, scale, &mut pixmap.as_mut());
    budget.check_time()?;
    let rgba = RgbaImage::from_raw(width, height, pixmap.take_demultiplied())
        .ok_or_else(|| ConversionError::Failed("rendering the drawing failed".into()))?;
    encode(
        &DynamicImage::ImageRgba8(rgba),
        Format::Png,
        &Encoding::default(),
        out,
    )
}

/// The drawing as a one-page vector PDF the size of the drawing (1 user unit = 1 pt);
/// its text stays text.
pub fn to_pdf(
    bytes: &[u8],
    budget: &Budget,
    out: &mut BudgetWriter<'_>,
) -> Result<(), ConversionError> {
    let tree = parse(bytes)?;
    budget.check_time()?;
    let (width, height) = (tree.size().width(), tree.size().height());
    // PDF viewers refuse pages past 200 inches (14 400 pt): larger drawings are scaled
    // down to fit.
    let scale = (MAX_PAGE_SIDE / width.max(height)).min(1.0);
    let (width, height) = (width * scale, height * scale);
    let too_small = || ConversionError::Invalid("the drawing has no area".into());
    let mut document = Document::new();
    let mut page =
        document.start_page_with(PageSettings::from_wh(width, height).ok_or_else(too_small)?);
    let mut surface = page.surface();
    surface
        .draw_svg(
            &tree,
            PageSize::from_wh(width, height).ok_or_else(too_small)?,
            SvgSettings::default(),
        )
        .ok_or_else(|| ConversionError::Failed("drawing the SVG into the PDF failed".into()))?;
    surface.finish();
    page.finish();
    budget.check_time()?;
    let pdf = document
        .finish()
        .map_err(|error| ConversionError::Failed(format!("writing pdf: {error:?}")))?;
    out.write_all(&pdf)
        .map_err(|error| ConversionError::Failed(format!("writing pdf: {error}")))
}
