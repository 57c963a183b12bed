//! Writing PDFs: one page per image, or paginated plain text in Helvetica.

use std::io::Write;

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

/// An image PDF, built with lopdf (one page, so the whole document in memory is fine).
struct PdfBuilder {
    document: Document,
    pages_id: ObjectId,
    pages: Vec<Object>,
}

impl PdfBuilder {
    fn new() -> Self {
        let mut document = Document::with_version("1.5");
        let pages_id = document.new_object_id();
        Self {
            document,
            pages_id,
            pages: Vec::new(),
        }
    }

    fn add_page(
        &mut self,
        size: (f32, f32),
        resources: lopdf::Dictionary,
        operations: Vec<Operation>,
    ) -> Result<(), ConversionError> {
        let content = Content { operations }
            .encode()
            .map_err(|e| ConversionError::Failed(format!("pdf content: {e}")))?;
        let content_id = self
            .document
            .add_object(Stream::new(dictionary! {}, content));
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
    builder.add_page((w, h), resources, operations)?;
    builder.finish(budget)
}

/// Paginated text on A4 pages. Characters outside Latin-1 are shown as `?` (the
/// standard Helvetica font has no others).
///
/// Written straight to the output a page at a time by a small hand-written writer
/// rather than through lopdf: lopdf holds the whole document as objects (kilobytes per
/// page), which for a large text file cost the server gigabytes; this holds one page.
pub fn from_text(text: &str, budget: &Budget) -> Result<Vec<u8>, ConversionError> {
    let per_page = ((A4.1 - 2.0 * MARGIN) / LEADING) as usize;
    let mut pdf = TextPdf::start(budget.writer()).map_err(write_failed)?;
    let mut lines = wrapped_lines(text).peekable();
    let mut first = true;
    while first || lines.peek().is_some() {
        first = false;
        budget.check_time()?;
        let mut content = format!(
            "BT\n/F1 {FONT_SIZE} Tf\n{LEADING} TL\n{MARGIN} {} Td\n",
            A4.1 - MARGIN - FONT_SIZE
        )
        .into_bytes();
        for line in lines.by_ref().take(per_page) {
            content.push(b'(');
            for byte in latin1(&line) {
                if matches!(byte, b'(' | b')' | b'\\') {
                    content.push(b'\\');
                }
                content.push(byte);
            }
            content.extend_from_slice(b") Tj T*\n");
        }
        content.extend_from_slice(b"ET\n");
        pdf.add_page(&content).map_err(write_failed)?;
    }
    Ok(pdf.finish().map_err(write_failed)?.into_inner())
}

fn write_failed(error: std::io::Error) -> ConversionError {
    ConversionError::Failed(format!("writing pdf: {error}"))
}

/// A PDF of A4 text pages written as it goes: header and font first, then each page's
/// compressed content and page object, and at the end the page tree, the catalog and
/// the cross-reference table (objects may appear in any order; the table says where).
struct TextPdf<W: Write> {
    out: W,
    written: u64,
    /// Byte offset of each object, by id (index 0 unused).
    offsets: Vec<u64>,
    pages: Vec<usize>,
}

const CATALOG_ID: usize = 1;
const PAGES_ID: usize = 2;
const FONT_ID: usize = 3;

impl<W: Write> TextPdf<W> {
    fn start(out: W) -> std::io::Result<Self> {
        let mut pdf = Self {
            out,
            written: 0,
            offsets: vec![0; FONT_ID + 1],
            pages: Vec::new(),
        };
        pdf.raw(b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n")?;
        pdf.object(
            FONT_ID,
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        )?;
        Ok(pdf)
    }

    fn raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn object(&mut self, id: usize, body: &[u8]) -> std::io::Result<()> {
        if self.offsets.len() <= id {
            self.offsets.resize(id + 1, 0);
        }
        self.offsets[id] = self.written;
        self.raw(format!("{id} 0 obj\n").as_bytes())?;
        self.raw(body)?;
        self.raw(b"\nendobj\n")
    }

    fn next_id(&self) -> usize {
        self.offsets.len()
    }

    fn add_page(&mut self, content: &[u8]) -> std::io::Result<()> {
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(content)?;
        let compressed = encoder.finish()?;
        let content_id = self.next_id();
        let mut stream = format!(
            "<< /Length {} /Filter /FlateDecode >>\nstream\n",
            compressed.len()
        )
        .into_bytes();
        stream.extend_from_slice(&compressed);
        stream.extend_from_slice(b"\nendstream");
        self.object(content_id, &stream)?;
        let page_id = self.next_id();
        let page = format!(
            "<< /Type /Page /Parent {PAGES_ID} 0 R /MediaBox [0 0 {} {}] /Contents {content_id} 0 R \
             /Resources << /Font << /F1 {FONT_ID} 0 R >> >> >>",
            A4.0, A4.1
        );
        self.object(page_id, page.as_bytes())?;
        self.pages.push(page_id);
        Ok(())
    }

    fn finish(mut self) -> std::io::Result<W> {
        let mut kids = String::with_capacity(self.pages.len() * 10);
        for id in &self.pages {
            kids.push_str(&format!("{id} 0 R "));
        }
        let tree = format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.trim_end(),
            self.pages.len()
        );
        self.object(PAGES_ID, tree.as_bytes())?;
        self.object(
            CATALOG_ID,
            format!("<< /Type /Catalog /Pages {PAGES_ID} 0 R >>").as_bytes(),
        )?;
        let xref_at = self.written;
        let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", self.offsets.len());
        for offset in &self.offsets[1..] {
            table.push_str(&format!("{offset:010} 00000 n \n"));
        }
        table.push_str(&format!(
            "trailer\n<< /Size {} /Root {CATALOG_ID} 0 R >>\nstartxref\n{xref_at}\n%%EOF\n",
            self.offsets.len()
        ));
        self.raw(table.as_bytes())?;
        Ok(self.out)
    }
}

/// The text's lines, wrapped at [`LINE_CHARS`], produced one at a time.
fn wrapped_lines(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines().flat_map(Wrapped::new)
}

/// The lines of one paragraph, made one at a time: words joined by single spaces, a
/// word longer than a line cut into line-long pieces. Nothing but the current line is
/// held, whatever the paragraph's length.
struct Wrapped<'a> {
    words: std::str::SplitWhitespace<'a>,
    /// What is left of the word being placed.
    rest: &'a str,
    done: bool,
}

impl<'a> Wrapped<'a> {
    fn new(paragraph: &'a str) -> Self {
        Self {
            words: paragraph.split_whitespace(),
            rest: "",
            done: false,
        }
    }
}

impl Iterator for Wrapped<'_> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        if self.done {
            return None;
        }
        let mut line = String::new();
        let mut chars = 0;
        loop {
            if self.rest.is_empty() {
                match self.words.next() {
                    Some(word) => self.rest = word,
                    None => {
                        self.done = true;
                        return Some(line);
                    }
                }
            }
            let end = self
                .rest
                .char_indices()
                .nth(LINE_CHARS)
                .map_or(self.rest.len(), |(at, _)| at);
            let piece = &self.rest[..end];
            let piece_chars = piece.chars().count();
            if chars > 0 && chars + 1 + piece_chars > LINE_CHARS {
                return Some(line);
            }
            if chars > 0 {
                line.push(' ');
                chars += 1;
            }
            line.push_str(piece);
            chars += piece_chars;
            self.rest = &self.rest[end..];
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_wrap_at_word_boundaries_and_long_words_are_cut() {
        let long = "x".repeat(LINE_CHARS + 10);
        let text = format!("one two\n\n{long} tail");
        let lines: Vec<String> = wrapped_lines(&text).collect();
        assert_eq!(
            lines,
            vec![
                "one two".to_owned(),
                String::new(),
                "x".repeat(LINE_CHARS),
                "x".repeat(10) + " tail",
            ]
        );
        let words = "word ".repeat(100);
        assert!(wrapped_lines(&words).all(|l| l.chars().count() <= LINE_CHARS));
    }
}
