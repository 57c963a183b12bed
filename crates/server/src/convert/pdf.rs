//! Writing PDFs: one page per image, or paginated plain text in Helvetica.

use image::DynamicImage;
use lopdf::content::{Content, Operation};
use lopdf::{dictionary, Document, Object, ObjectId, Stream};

use super::{Budget, ConversionError};

const A4: (f32, f32) = (595.0, 842.0);
const MARGIN: f32 = 56.0;
const FONT_SIZE: f32 = 11.0;
const LEADING: f32 = 14.0;
/// Characters per line at 11 pt Helvetica within the margins (conservative).
const LINE_CHARS: usize = 90;

struct PdfBuilder {
    document: Document,
    pages_id: ObjectId,
    pages: Vec<Object>,
    /// Bytes the finished file will take, about (compressed content plus overhead):
    /// checked against the output limit page by page, not only at the end.
    approximate_size: u64,
}

/// What a page object costs in the file besides its content.
const PAGE_OVERHEAD: u64 = 200;

impl PdfBuilder {
    fn new() -> Self {
        let mut document = Document::with_version("1.5");
        let pages_id = document.new_object_id();
        Self {
            document,
            pages_id,
            pages: Vec::new(),
            approximate_size: 0,
        }
    }

    /// Adds a page; its content is compressed at once so the document never holds the
    /// uncompressed text of every page.
    fn add_page(
        &mut self,
        size: (f32, f32),
        resources: lopdf::Dictionary,
        operations: Vec<Operation>,
        budget: &Budget,
    ) -> Result<(), ConversionError> {
        let content = Content { operations }
            .encode()
            .map_err(|e| ConversionError::Failed(format!("pdf content: {e}")))?;
        let mut stream = Stream::new(dictionary! {}, content);
        let _ = stream.compress();
        self.approximate_size += stream.content.len() as u64 + PAGE_OVERHEAD;
        budget.check_output(self.approximate_size)?;
        let content_id = self.document.add_object(stream);
        let page_id = self.document.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => self.pages_id,
            "MediaBox" => vec![0.into(), 0.into(), size.0.into(), size.1.into()],
            "Contents" => content_id,
            "Resources" => resources,
        });
        self.pages.push(page_id.into());
        Ok(())
    }

    fn finish(mut self, budget: &Budget) -> Result<Vec<u8>, ConversionError> {
        let count = self.pages.len() as i64;
        self.document.objects.insert(
            self.pages_id,
            Object::Dictionary(
                dictionary! { "Type" => "Pages", "Kids" => self.pages, "Count" => count },
            ),
        );
        let catalog_id = self
            .document
            .add_object(dictionary! { "Type" => "Catalog", "Pages" => self.pages_id });
        self.document.trailer.set("Root", catalog_id);
        self.document.compress();
        budget.check_time()?;
        let mut out = budget.writer();
        self.document
            .save_to(&mut out)
            .map_err(|e| ConversionError::Failed(format!("writing pdf: {e}")))?;
        Ok(out.into_inner())
    }
}

/// One page exactly the size of the image (1 px = 1 pt), the image filling it.
pub fn from_image(image: &DynamicImage, budget: &Budget) -> Result<Vec<u8>, ConversionError> {
    let rgb = image.to_rgb8();
    let (width, height) = rgb.dimensions();
    let mut builder = PdfBuilder::new();
    let image_stream = Stream::new(
        dictionary! {
            "Type" => "XObject",
            "Subtype" => "Image",
            "Width" => width as i64,
            "Height" => height as i64,
            "ColorSpace" => "DeviceRGB",
            "BitsPerComponent" => 8,
        },
        rgb.into_raw(),
    );
    let image_id = builder.document.add_object(image_stream);
    let resources = dictionary! { "XObject" => dictionary! { "Im1" => image_id } };
    let (w, h) = (width as f32, height as f32);
    let operations = vec![
        Operation::new("q", vec![]),
        Operation::new(
            "cm",
            vec![w.into(), 0.into(), 0.into(), h.into(), 0.into(), 0.into()],
        ),
        Operation::new("Do", vec!["Im1".into()]),
        Operation::new("Q", vec![]),
    ];
    builder.add_page((w, h), resources, operations, budget)?;
    builder.finish(budget)
}

/// Paginated text on A4 pages. Characters outside Latin-1 are shown as `?` (the
/// standard Helvetica font has no others).
pub fn from_text(text: &str, budget: &Budget) -> Result<Vec<u8>, ConversionError> {
    let per_page = ((A4.1 - 2.0 * MARGIN) / LEADING) as usize;
    let mut builder = PdfBuilder::new();
    let font_id = builder.document.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let resources = dictionary! { "Font" => dictionary! { "F1" => font_id } };
    // Lines are wrapped lazily and laid out a page at a time: only one page of text is
    // held besides the input.
    let mut lines = wrapped_lines(text).peekable();
    let mut first = true;
    while first || lines.peek().is_some() {
        first = false;
        budget.check_time()?;
        let mut operations = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), FONT_SIZE.into()]),
            Operation::new("TL", vec![LEADING.into()]),
            Operation::new(
                "Td",
                vec![MARGIN.into(), (A4.1 - MARGIN - FONT_SIZE).into()],
            ),
        ];
        for line in lines.by_ref().take(per_page) {
            operations.push(Operation::new(
                "Tj",
                vec![Object::String(latin1(&line), lopdf::StringFormat::Literal)],
            ));
            operations.push(Operation::new("T*", vec![]));
        }
        operations.push(Operation::new("ET", vec![]));
        builder.add_page(A4, resources.clone(), operations, budget)?;
    }
    builder.finish(budget)
}

/// The text's lines, wrapped at [`LINE_CHARS`], produced one at a time.
fn wrapped_lines(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines().flat_map(wrap_paragraph)
}

fn wrap_paragraph(paragraph: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in paragraph.split_whitespace() {
        for piece in word.chars().collect::<Vec<_>>().chunks(LINE_CHARS) {
            let piece: String = piece.iter().collect();
            if !line.is_empty() && line.chars().count() + 1 + piece.chars().count() > LINE_CHARS {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&piece);
        }
    }
    lines.push(line);
    lines
}

fn latin1(line: &str) -> Vec<u8> {
    line.chars()
        .map(|c| {
            if (c as u32) < 256 && !c.is_control() {
                c as u8
            } else {
                b'?'
            }
        })
        .collect()
}
