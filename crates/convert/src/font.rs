//! The one font the built-in engine writes text with: DejaVu Sans, compiled into the
//! binary (it covers Latin with its extensions, Greek and Cyrillic, among others), so
//! converted text never depends on what fonts a server has installed.

use std::sync::LazyLock;

use ttf_parser::Face;

/// The font's file.
pub fn data() -> &'static [u8] {
    dejavu::sans::regular()
}

/// The PostScript name written into PDFs.
pub const POSTSCRIPT_NAME: &str = "DejaVuSans";
/// The family name SVG text falls back to.
pub const FAMILY: &str = "DejaVu Sans";

/// The parsed font and the metrics PDFs need, in thousandths of an em.
pub struct TextFont {
    face: Face<'static>,
    units_per_em: f32,
}

static FONT: LazyLock<TextFont> = LazyLock::new(|| {
    let face = Face::parse(data(), 0).expect("the bundled font parses");
    let units_per_em = f32::from(face.units_per_em());
    TextFont { face, units_per_em }
});

/// The bundled font.
pub fn text_font() -> &'static TextFont {
    &FONT
}

impl TextFont {
    /// The glyph drawing `c` (0, the "missing" glyph, when the font has none).
    pub fn glyph(&self, c: char) -> u16 {
        self.face.glyph_index(c).map_or(0, |glyph| glyph.0)
    }

    /// How far `c` advances the pen, in thousandths of an em.
    pub fn advance(&self, c: char) -> f32 {
        let glyph = ttf_parser::GlyphId(self.glyph(c));
        self.scale(self.face.glyph_hor_advance(glyph).unwrap_or(0).into())
    }

    /// Ascent, descent (negative) and cap height, in thousandths of an em.
    pub fn vertical_metrics(&self) -> (f32, f32, f32) {
        (
            self.scale(self.face.ascender().into()),
            self.scale(self.face.descender().into()),
            self.scale(
                self.face
                    .capital_height()
                    .unwrap_or(self.face.ascender())
                    .into(),
            ),
        )
    }

    /// The bounding box of all glyphs (x0, y0, x1, y1), in thousandths of an em.
    pub fn bounding_box(&self) -> [f32; 4] {
        let rect = self.face.global_bounding_box();
        [
            self.scale(rect.x_min.into()),
            self.scale(rect.y_min.into()),
            self.scale(rect.x_max.into()),
            self.scale(rect.y_max.into()),
        ]
    }

    fn scale(&self, units: f32) -> f32 {
        (units * 1000.0 / self.units_per_em).round()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_font_covers_latin_extended_greek_and_cyrillic() {
        let font = text_font();
        for c in "Zażółć gęślą jaźń Съешь же ещё Ωμέγα".chars() {
            assert_ne!(font.glyph(c), 0, "no glyph for {c:?}");
        }
        assert!(font.advance('W') > font.advance('i'));
    }
}
