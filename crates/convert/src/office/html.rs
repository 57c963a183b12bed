//! HTML as LibreOffice may see it: only what a document needs, and nothing that points
//! outside it. Every attribute is on an allow-list; the only one LibreOffice would
//! load is `<img src>`, kept only as a `data:` picture whose bytes are a raster image.

use std::borrow::Cow;

use super::data_url::{canonical_raster, is_data_url};
use crate::ConversionError;

/// Attributes that hold no reference: kept as they are wherever ammonia allows them.
const TEXT_ATTRIBUTES: [&str; 21] = [
    "abbr", "align", "alt", "char", "charoff", "colspan", "datetime", "dir", "headers", "height",
    "hreflang", "lang", "rowspan", "scope", "size", "span", "start", "summary", "title", "valign",
    "width",
];

/// HTML with only what a document needs: no scripts, styles, frames, forms or objects;
/// links only to `http(s)` and `mailto` (a link is never followed); pictures only as
/// `data:` URLs whose decoded bytes are a PNG, JPEG, GIF or WebP, rewritten as
/// `data:image/<detected>;base64,…`. Every other reference (relative, `file:`,
/// `http(s)`, SVG, `srcset`, `cite`, …) is dropped: LibreOffice would load it.
pub fn sanitize_html(html: &[u8]) -> Result<Vec<u8>, ConversionError> {
    let text = std::str::from_utf8(html.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(html))
        .map_err(|_| ConversionError::Invalid("the HTML file is not UTF-8".into()))?;
    let body = ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto", "data"].into())
        .url_relative(ammonia::UrlRelative::Deny)
        .attribute_filter(kept_attribute)
        .clean(text)
        .to_string();
    Ok(format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>{body}</body></html>\n"
    )
    .into_bytes())
}

/// The value an attribute keeps, or `None` to drop it.
fn kept_attribute<'a>(element: &str, attribute: &str, value: &'a str) -> Option<Cow<'a, str>> {
    match (element, attribute) {
        ("img", "src") => canonical_raster(value).map(Cow::Owned),
        ("a", "href") => (!is_data_url(value)).then_some(Cow::Borrowed(value)),
        (_, attribute) if TEXT_ATTRIBUTES.contains(&attribute) => Some(Cow::Borrowed(value)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn clean(html: &str) -> String {
        String::from_utf8(sanitize_html(html.as_bytes()).unwrap()).unwrap()
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    const PNG_HEAD: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const SVG: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><image xlink:href="file:///usr/share/x.png"/></svg>"#;

    #[test]
    fn html_loses_scripts_and_references_to_local_files_and_svg() {
        let html = r#"<p>Hi</p><script>alert(1)</script><img src="/etc/hostname"><img src="file:///etc/passwd"><img src="data:image/svg+xml;base64,PHN2Zz4="><a href="https://example.com/">x</a>"#;
        let clean = clean(html);
        assert!(clean.contains("<p>Hi</p>"));
        assert!(!clean.contains("script"));
        assert!(!clean.contains("/etc/"), "{clean}");
        assert!(!clean.contains("svg+xml"), "{clean}");
        assert!(clean.contains("https://example.com/"));
    }

    #[test]
    fn svg_pictures_are_dropped_whatever_their_scheme_spelling_or_declared_type() {
        let svg = b64(SVG.as_bytes());
        for src in [
            format!("DATA:image/svg+xml;base64,{svg}"),
            format!("data:image/png;base64,{svg}"),
            format!("&#x44;ATA:image/png;base64,{svg}"),
            format!(" d&#x0A;ata:image/png;base64,{svg}"),
            format!("data:image/png,{}", SVG.replace('"', "&quot;")),
            "data:image/png,%3Csvg%3E%3C/svg%3E".to_owned(),
        ] {
            let clean = clean(&format!(r#"<p>x</p><img alt="a" src="{src}">"#));
            assert!(!clean.contains("src="), "{src} → {clean}");
            assert!(clean.contains(r#"alt="a""#), "{clean}");
        }
    }

    #[test]
    fn raster_pictures_are_kept_rewritten_to_their_detected_type() {
        let src = format!("DATA:image/svg+xml;base64,{}", b64(PNG_HEAD));
        let clean = clean(&format!(r#"<img src="{src}">"#));
        assert!(
            clean.contains(&format!(r#"src="data:image/png;base64,{}""#, b64(PNG_HEAD))),
            "{clean}"
        );
    }

    #[test]
    fn every_reference_libreoffice_would_load_is_dropped() {
        let png = format!("data:image/png;base64,{}", b64(PNG_HEAD));
        let html = format!(
            r#"<img src="https://example.com/a.png"><img src="//example.com/b.png"><img src="c.png">
<img srcset="file:///d.png 1x, {png} 2x"><table background="file:///e.png"><tr><td background="f.png">t</td></tr></table>
<p style="background:url(file:///g.png)">s</p><style>p{{background:url(h.png)}}</style>
<link rel="stylesheet" href="i.css"><object data="file:///j.svg"></object><embed src="k.svg">
<iframe src="file:///etc/passwd"></iframe><svg><image href="file:///l.png"/></svg>
<blockquote cite="file:///m">q</blockquote><a href="data:text/html,hi">n</a><a href="o.html">o</a>
<a href="file:///p">p</a><body background="q.png">"#
        );
        let clean = clean(&html);
        for reference in [
            "example.com",
            "c.png",
            "d.png",
            "e.png",
            "f.png",
            "g.png",
            "h.png",
            "i.css",
            "j.svg",
            "k.svg",
            "passwd",
            "l.png",
            "file:",
            "data:",
            "o.html",
            "q.png",
        ] {
            assert!(!clean.contains(reference), "{reference} kept: {clean}");
        }
    }

    #[test]
    fn plain_links_to_the_web_and_mail_stay() {
        let clean = clean(
            r#"<a href="https://example.com/x" title="t">w</a> <a href="mailto:a@example.com">m</a>"#,
        );
        assert!(clean.contains(r#"href="https://example.com/x""#), "{clean}");
        assert!(clean.contains(r#"title="t""#), "{clean}");
        assert!(clean.contains(r#"href="mailto:a@example.com""#), "{clean}");
    }
}
