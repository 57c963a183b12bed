//! `data:` URLs judged by what they hold: a picture is kept only when its decoded bytes
//! are a PNG, JPEG, GIF or WebP, whatever type or spelling the URL declares, and is
//! written back in one canonical form. LibreOffice trusts content, not the declared
//! type, so an SVG (which may point at files) labelled `image/png` must not pass.

use base64::Engine as _;

use crate::format::matches_magic;
use crate::Format;

/// The picture formats a document may carry inline.
const KEPT: [Format; 4] = [Format::Png, Format::Jpeg, Format::Gif, Format::Webp];

/// `value` rewritten as `data:image/<detected>;base64,<bytes>` when it is a `data:`
/// URL (scheme in any case, surrounded by any whitespace) whose decoded bytes are a
/// kept raster format; `None` for anything else: other schemes, relative URLs, SVG,
/// undecodable or unrecognised content.
pub fn canonical_raster(value: &str) -> Option<String> {
    let bytes = decode(value)?;
    let format = KEPT
        .into_iter()
        .find(|format| matches_magic(*format, &bytes))?;
    Some(format!(
        "data:{};base64,{}",
        format.mime(),
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// Whether `value` is a `data:` URL, as a browser or LibreOffice would read it:
/// surrounding whitespace and control characters ignored, tabs and line breaks inside
/// ignored, the scheme in any case.
pub fn is_data_url(value: &str) -> bool {
    let normalized = normalize(value);
    normalized
        .get(..5)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("data:"))
}

/// The URL as URL parsers read it: leading and trailing C0 controls and spaces
/// trimmed, ASCII tabs and line breaks removed.
fn normalize(value: &str) -> String {
    value
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect()
}

/// The bytes a `data:` URL holds (base64 or percent-encoded), or `None` when it is not
/// one or does not decode.
fn decode(value: &str) -> Option<Vec<u8>> {
    let normalized = normalize(value);
    if !is_data_url(&normalized) {
        return None;
    }
    let (header, payload) = normalized[5..].split_once(',')?;
    let payload: Vec<u8> = percent_encoding::percent_decode_str(payload).collect();
    let base64 = header
        .rsplit(';')
        .next()
        .is_some_and(|last| last.trim().eq_ignore_ascii_case("base64"));
    if !base64 {
        return Some(payload);
    }
    let compact: Vec<u8> = payload
        .into_iter()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(&compact))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG_HEAD: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const SVG: &[u8] =
        br#"<svg xmlns="http://www.w3.org/2000/svg"><image href="file:///etc/x.png"/></svg>"#;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn a_png_is_kept_in_canonical_form_whatever_its_label_or_scheme_spelling() {
        let canonical = format!("data:image/png;base64,{}", b64(PNG_HEAD));
        for url in [
            format!("data:image/png;base64,{}", b64(PNG_HEAD)),
            format!("DATA:image/svg+xml;BASE64,{}", b64(PNG_HEAD)),
            format!(
                " \n Da\tta:application/octet-stream;base64,{} ",
                b64(PNG_HEAD)
            ),
            format!("data:,{}", "%89PNG%0D%0A%1A%0A%00%00%00%0DIHDR"),
        ] {
            assert_eq!(
                canonical_raster(&url).as_deref(),
                Some(&*canonical),
                "{url}"
            );
        }
    }

    #[test]
    fn svg_is_refused_however_it_is_labelled_spelled_or_encoded() {
        for url in [
            format!("data:image/svg+xml;base64,{}", b64(SVG)),
            format!("DATA:image/svg+xml;base64,{}", b64(SVG)),
            format!("data:image/png;base64,{}", b64(SVG)),
            format!("  dAtA:image/jpeg;base64,{}", b64(SVG)),
            "data:image/png,%3Csvg%3E%3C/svg%3E".to_owned(),
            format!("data:image/png,{}", String::from_utf8_lossy(SVG)),
        ] {
            assert_eq!(canonical_raster(&url), None, "{url}");
        }
    }

    #[test]
    fn other_references_and_broken_data_urls_are_refused() {
        for url in [
            "file:///usr/share/pixmaps/debian-logo.png",
            "https://example.com/a.png",
            "//example.com/a.png",
            "picture.png",
            "/etc/hostname",
            "data:image/png;base64",
            "data:image/png;base64,!!!!",
            "data:image/png;base64,",
        ] {
            assert_eq!(canonical_raster(url), None, "{url}");
        }
    }

    #[test]
    fn data_urls_are_recognised_however_the_scheme_is_spelled() {
        assert!(is_data_url("DATA:x"));
        assert!(is_data_url("\u{1}  da\nta:x"));
        assert!(!is_data_url("https://data:x"));
        assert!(!is_data_url("dat"));
    }
}
