//! SVG drawings: to PNG with resvg, to a vector PDF with krilla.
//!
//! An SVG may point at other files (`<image href="file:///etc/passwd">`,
//! `href="http://…"`); nothing outside the uploaded file is ever read or fetched:
//! only `data:` URLs inside the file are resolved. Text is set in the bundled font,
//! whatever fonts the server has. usvg refuses documents of more than a million
//! elements (`<use>` expansions included), and the drawing's size is bounded like any
//! image's before a pixel is allocated.

use std::sync::{Arc, LazyLock};

use image::{DynamicImage, RgbaImage};
use krilla::geom::Size as PageSize;
use krilla::page::PageSettings;
use krilla::Document;
use krilla_svg::{SurfaceExt, SvgSettings};
use resvg::tiny_skia::{Pixmap, Transform};
use resvg::usvg::{self, fontdb, ImageHrefResolver, Tree};

use super::image::{check_pixels, encode};
use super::{font, Budget, ConversionError, Format};

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

/// Parse options that never leave the file: `data:` images only, no resources folder.
fn options() -> usvg::Options<'static> {
    usvg::Options {
        resources_dir: None,
        font_family: font::FAMILY.to_owned(),
        fontdb: Arc::clone(&FONTS),
        image_href_resolver: ImageHrefResolver {
            resolve_data: ImageHrefResolver::default_data_resolver(),
            resolve_string: Box::new(|_, _| None),
        },
        ..usvg::Options::default()
    }
}

/// Parses an SVG and checks its size (at one pixel per user unit).
pub fn parse(bytes: &[u8]) -> Result<Tree, ConversionError> {
    let tree = Tree::from_data(bytes, &options())
        .map_err(|error| ConversionError::Invalid(format!("not a readable SVG ({error})")))?;
    let size = tree.size().to_int_size();
    check_pixels(size.width(), size.height())?;
    Ok(tree)
}

/// The drawing as a PNG at its own size, transparent where it draws nothing.
pub fn to_png(bytes: &[u8], budget: &Budget) -> Result<Vec<u8>, ConversionError> {
    let tree = parse(bytes)?;
    budget.check_time()?;
    let size = tree.size().to_int_size();
    let mut pixmap = Pixmap::new(size.width(), size.height())
        .ok_or_else(|| ConversionError::Invalid("the drawing has no pixels".into()))?;
    resvg::render(&tree, Transform::default(), &mut pixmap.as_mut());
    budget.check_time()?;
    let rgba = RgbaImage::from_raw(size.width(), size.height(), pixmap.take_demultiplied())
        .ok_or_else(|| ConversionError::Failed("rendering the drawing failed".into()))?;
    encode(&DynamicImage::ImageRgba8(rgba), Format::Png, budget)
}

/// The drawing as a one-page vector PDF the size of the drawing (1 user unit = 1 pt);
/// its text stays text.
pub fn to_pdf(bytes: &[u8], budget: &Budget) -> Result<Vec<u8>, ConversionError> {
    let tree = parse(bytes)?;
    budget.check_time()?;
    let (width, height) = (tree.size().width(), tree.size().height());
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
    budget.check_output(pdf.len() as u64)?;
    Ok(pdf)
}
