//! Paginated text on A4 pages, in the bundled Unicode font, written a page at a time.
//!
//! Hand-written rather than built with lopdf or krilla: both hold the whole document
//! as objects until the end (kilobytes per page), which for a large text file costs
//! the server gigabytes; this holds one page, plus one entry per distinct character.
//!
//! Every distinct character gets its own character id (CID), so the ToUnicode map
//! gives back exactly the source text when the PDF is read (two characters drawn by
//! the same glyph still extract as themselves). The font is embedded as a subset with
//! only the glyphs used; `CIDToGIDMap` maps character ids to the subset's glyphs.

use std::collections::HashMap;
use std::io::Write;

use subsetter::GlyphRemapper;

use crate::font::{self, text_font};
use crate::{Budget, BudgetWriter, ConversionError};

const A4: (f32, f32) = (595.0, 842.0);
const MARGIN: f32 = 56.0;
const FONT_SIZE: f32 = 11.0;
const LEADING: f32 = 14.0;
/// The width a line may take, in thousandths of an em at [`FONT_SIZE`].
const LINE_WIDTH: f32 = (A4.0 - 2.0 * MARGIN) / FONT_SIZE * 1000.0;
/// Most characters on one line, whatever their width.
const MAX_LINE_CHARS: usize = 400;
/// Character ids are two bytes; characters past this many distinct ones are drawn
/// as the missing glyph (id 0).
const MAX_DISTINCT_CHARS: usize = u16::MAX as usize;

/// Paginated text on A4 pages in an embedded Unicode font.
pub fn from_text(
    text: &str,
    budget: &Budget,
    out: &mut BudgetWriter<'_>,
) -> Result<(), ConversionError> {
    let per_page = ((A4.1 - 2.0 * MARGIN) / LEADING) as usize;
    let mut pdf = TextPdf::start(out).map_err(write_failed)?;
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
            content.push(b'<');
            for c in line.chars() {
                let cid = pdf.characters.cid(c);
                content.extend_from_slice(format!("{cid:04X}").as_bytes());
            }
            content.extend_from_slice(b"> Tj T*\n");
        }
        content.extend_from_slice(b"ET\n");
        pdf.add_page(&content).map_err(write_failed)?;
    }
    budget.check_time()?;
    pdf.finish()
}

fn write_failed(error: std::io::Error) -> ConversionError {
    ConversionError::Failed(format!("writing pdf: {error}"))
}

/// The distinct characters drawn so far, by character id (id 0 is the missing glyph).
struct Characters {
    ids: HashMap<char, u16>,
    by_id: Vec<char>,
}

impl Characters {
    fn new() -> Self {
        Self {
            ids: HashMap::new(),
            by_id: vec!['\0'],
        }
    }

    fn cid(&mut self, c: char) -> u16 {
        if let Some(id) = self.ids.get(&c) {
            return *id;
        }
        if self.by_id.len() > MAX_DISTINCT_CHARS || text_font().glyph(c) == 0 {
            return 0;
        }
        let id = self.by_id.len() as u16;
        self.ids.insert(c, id);
        self.by_id.push(c);
        id
    }
}

/// A PDF of A4 text pages written as it goes: header first, then each page's
/// compressed content and page object, and at the end the font (now that the
/// characters are known), the page tree, the catalog and the cross-reference table
/// (objects may appear in any order; the table says where).
struct TextPdf<W: Write> {
    out: W,
    written: u64,
    /// Byte offset of each object, by id (index 0 unused).
    offsets: Vec<u64>,
    pages: Vec<usize>,
    characters: Characters,
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
            characters: Characters::new(),
        };
        pdf.raw(b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n")?;
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

    /// A compressed stream object; `extra` goes into its dictionary.
    fn stream(&mut self, data: &[u8], extra: &str) -> std::io::Result<usize> {
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data)?;
        let compressed = encoder.finish()?;
        let id = self.next_id();
        let mut body = format!(
            "<< /Length {} /Filter /FlateDecode {extra}>>\nstream\n",
            compressed.len()
        )
        .into_bytes();
        body.extend_from_slice(&compressed);
        body.extend_from_slice(b"\nendstream");
        self.object(id, &body)?;
        Ok(id)
    }

    fn add_page(&mut self, content: &[u8]) -> std::io::Result<()> {
        let content_id = self.stream(content, "")?;
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

    /// The font: a Type 0 font over a CIDFontType2 with the subset embedded, its
    /// widths, the character-id-to-glyph map and the ToUnicode map.
    fn write_font(&mut self) -> Result<(), ConversionError> {
        let font = text_font();
        let chars = std::mem::take(&mut self.characters.by_id);
        let mut remapper = GlyphRemapper::new();
        let glyphs: Vec<u16> = chars
            .iter()
            .enumerate()
            .map(|(cid, c)| if cid == 0 { 0 } else { font.glyph(*c) })
            .collect();
        let new_glyphs: Vec<u16> = glyphs.iter().map(|g| remapper.remap(*g)).collect();
        let subset = subsetter::subset(font::data(), 0, &remapper)
            .map_err(|e| ConversionError::Failed(format!("subsetting the font: {e}")))?;
        let name = format!("{}+{}", subset_tag(&chars), font::POSTSCRIPT_NAME);

        let file_id = self
            .stream(&subset, &format!("/Length1 {} ", subset.len()))
            .map_err(write_failed)?;
        let (ascent, descent, cap_height) = font.vertical_metrics();
        let [x0, y0, x1, y1] = font.bounding_box();
        let descriptor_id = self.next_id();
        let descriptor = format!(
            "<< /Type /FontDescriptor /FontName /{name} /Flags 32 /FontBBox [{x0} {y0} {x1} {y1}] \
             /ItalicAngle 0 /Ascent {ascent} /Descent {descent} /CapHeight {cap_height} \
             /StemV 80 /FontFile2 {file_id} 0 R >>"
        );
        self.object(descriptor_id, descriptor.as_bytes())
            .map_err(write_failed)?;

        let gid_map: Vec<u8> = new_glyphs.iter().flat_map(|g| g.to_be_bytes()).collect();
        let gid_map_id = self.stream(&gid_map, "").map_err(write_failed)?;
        let widths: Vec<String> = chars
            .iter()
            .map(|c| {
                // Id 0 stands for characters the font lacks: the missing glyph's
                // width, as the line breaking measured them.
                format!("{}", font.advance(*c))
            })
            .collect();
        let cid_font_id = self.next_id();
        let cid_font = format!(
            "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{name} \
             /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> \
             /FontDescriptor {descriptor_id} 0 R /DW 1000 /W [0 [{}]] /CIDToGIDMap {gid_map_id} 0 R >>",
            widths.join(" ")
        );
        self.object(cid_font_id, cid_font.as_bytes())
            .map_err(write_failed)?;

        let to_unicode_id = self
            .stream(to_unicode_cmap(&chars).as_bytes(), "")
            .map_err(write_failed)?;
        let type0 = format!(
            "<< /Type /Font /Subtype /Type0 /BaseFont /{name} /Encoding /Identity-H \
             /DescendantFonts [{cid_font_id} 0 R] /ToUnicode {to_unicode_id} 0 R >>"
        );
        self.object(FONT_ID, type0.as_bytes()).map_err(write_failed)
    }

    fn finish(mut self) -> Result<(), ConversionError> {
        self.write_font()?;
        let mut kids = String::with_capacity(self.pages.len() * 10);
        for id in &self.pages {
            kids.push_str(&format!("{id} 0 R "));
        }
        let tree = format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.trim_end(),
            self.pages.len()
        );
        self.object(PAGES_ID, tree.as_bytes())
            .map_err(write_failed)?;
        self.object(
            CATALOG_ID,
            format!("<< /Type /Catalog /Pages {PAGES_ID} 0 R >>").as_bytes(),
        )
        .map_err(write_failed)?;
        let xref_at = self.written;
        let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", self.offsets.len());
        for offset in &self.offsets[1..] {
            table.push_str(&format!("{offset:010} 00000 n \n"));
        }
        table.push_str(&format!(
            "trailer\n<< /Size {} /Root {CATALOG_ID} 0 R >>\nstartxref\n{xref_at}\n%%EOF\n",
            self.offsets.len()
        ));
        self.raw(table.as_bytes()).map_err(write_failed)
    }
}

/// Six capital letters naming this subset (PDF requires a tag on subset fonts),
/// derived from the characters so the same text gives the same file.
fn subset_tag(chars: &[char]) -> String {
    let mut hash: u32 = 2_166_136_261;
    for c in chars {
        hash = (hash ^ *c as u32).wrapping_mul(16_777_619);
    }
    (0..6)
        .map(|i| char::from(b'A' + ((hash >> (i * 5)) % 26) as u8))
        .collect()
}

/// A CMap from each character id to the character it stands for.
fn to_unicode_cmap(chars: &[char]) -> String {
    let mut cmap = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
         /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    let entries: Vec<(usize, char)> = chars.iter().copied().enumerate().skip(1).collect();
    // At most 100 entries per block, as the CMap format requires.
    for block in entries.chunks(100) {
        cmap.push_str(&format!("{} beginbfchar\n", block.len()));
        for (cid, c) in block {
            let mut units = [0u16; 2];
            let utf16: String = c
                .encode_utf16(&mut units)
                .iter()
                .map(|unit| format!("{unit:04X}"))
                .collect();
            cmap.push_str(&format!("<{cid:04X}> <{utf16}>\n"));
        }
        cmap.push_str("endbfchar\n");
    }
    cmap.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    cmap
}

/// The text's lines, wrapped to the page width, produced one at a time.
fn wrapped_lines(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines().flat_map(Wrapped::new)
}

/// The lines of one paragraph, made one at a time: words joined by single spaces, a
/// word wider than a line cut into line-wide pieces. Nothing but the current line is
/// held, whatever the paragraph's length. Control characters are left out.
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

/// How much of `word` fits in `room`: its byte length and width (at least one
/// character, so a line always advances; at most [`MAX_LINE_CHARS`], so characters
/// without width cannot make a line, and the page holding it, grow without end).
fn fitting(word: &str, room: f32) -> (usize, f32) {
    let font = text_font();
    let mut width = 0.0;
    for (n, (at, c)) in word.char_indices().enumerate() {
        let advance = font.advance(c);
        if at > 0 && (width + advance > room || n == MAX_LINE_CHARS) {
            return (at, width);
        }
        width += advance;
    }
    (word.len(), width)
}

impl Iterator for Wrapped<'_> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        if self.done {
            return None;
        }
        let space = text_font().advance(' ');
        let mut line = String::new();
        let (mut width, mut chars) = (0.0, 0);
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
            let (end, piece_width) = fitting(self.rest, LINE_WIDTH);
            let piece = &self.rest[..end];
            let piece_chars = piece.chars().count();
            if !line.is_empty()
                && (width + space + piece_width > LINE_WIDTH
                    || chars + 1 + piece_chars > MAX_LINE_CHARS)
            {
                return Some(line);
            }
            if !line.is_empty() {
                line.push(' ');
                width += space;
                chars += 1;
            }
            line.extend(piece.chars().filter(|c| !c.is_control()));
            width += piece_width;
            chars += piece_chars;
            self.rest = &self.rest[end..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn width(line: &str) -> f32 {
        line.chars().map(|c| text_font().advance(c)).sum()
    }

    #[test]
    fn lines_wrap_at_word_boundaries_within_the_page_width() {
        let long = "x".repeat(400);
        let text = format!("one two\n\n{long} tail");
        let lines: Vec<String> = wrapped_lines(&text).collect();
        assert_eq!(lines[0], "one two");
        assert_eq!(lines[1], "");
        assert!(lines.len() > 3, "the long word is cut: {lines:?}");
        assert_eq!(
            lines.concat().replace(' ', "").len(),
            "onetwo".len() + 400 + 4
        );
        assert!(lines.iter().all(|line| width(line) <= LINE_WIDTH));
        let words = "word ".repeat(100);
        assert!(wrapped_lines(&words).all(|line| width(&line) <= LINE_WIDTH));
        // Characters without width still end lines.
        let invisible = "\u{200B}".repeat(2000) + " " + &"\u{200B} ".repeat(2000);
        assert!(wrapped_lines(&invisible).all(|line| line.chars().count() <= MAX_LINE_CHARS));
    }

    #[test]
    fn each_distinct_character_gets_its_own_id_and_unknown_ones_none() {
        let mut characters = Characters::new();
        let a = characters.cid('ż');
        assert_eq!(characters.cid('ż'), a);
        assert_ne!(characters.cid('Ω'), a);
        assert_eq!(characters.cid('\u{10FFFD}'), 0, "no glyph, no id");
        let cmap = to_unicode_cmap(&characters.by_id);
        assert!(cmap.contains("<0001> <017C>"), "{cmap}");
    }
}
