//! What each LibreOffice run starts from: a profile with macros off, links never
//! updated and every proxy at a closed port, and HTML stripped of everything that
//! could point outside the document.

use std::path::Path;

use crate::convert::ConversionError;

/// `user/registrymodifications.xcu` of every run's fresh profile. Writer's link update
/// mode 0 and Calc's 1 both mean "never"; proxy type 2 is "manual".
pub const PROFILE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>3</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="DisableMacrosExecution" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="BlockUntrustedRefererLinks" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Writer/Content/Update"><prop oor:name="Link" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Content/Update"><prop oor:name="Link" oor:op="fuse"><value>1</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings"><prop oor:name="ooInetProxyType" oor:op="fuse"><value>2</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings"><prop oor:name="ooInetHTTPProxyName" oor:op="fuse"><value>127.0.0.1</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings"><prop oor:name="ooInetHTTPProxyPort" oor:op="fuse"><value>9</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings"><prop oor:name="ooInetHTTPSProxyName" oor:op="fuse"><value>127.0.0.1</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings"><prop oor:name="ooInetHTTPSProxyPort" oor:op="fuse"><value>9</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings"><prop oor:name="ooInetFTPProxyName" oor:op="fuse"><value>127.0.0.1</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings"><prop oor:name="ooInetFTPProxyPort" oor:op="fuse"><value>9</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings"><prop oor:name="ooInetNoProxy" oor:op="fuse"><value></value></prop></item>
</oor:items>
"#;

/// HTML with only what a document needs: no scripts, styles, frames or forms; no URL
/// but `http(s)` and `mailto` links and `data:` raster images (a relative, `file:` or
/// SVG reference would make LibreOffice look for other files).
pub fn sanitize_html(html: &[u8]) -> Result<Vec<u8>, ConversionError> {
    let text = std::str::from_utf8(html.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(html))
        .map_err(|_| ConversionError::Invalid("the HTML file is not UTF-8".into()))?;
    let body = ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto", "data"].into())
        .url_relative(ammonia::UrlRelative::Deny)
        .attribute_filter(|_, _, value| {
            let raster = ["png", "jpeg", "gif", "webp"]
                .iter()
                .any(|kind| value.starts_with(&format!("data:image/{kind};")));
            (!value.starts_with("data:") || raster).then_some(value.into())
        })
        .clean(text)
        .to_string();
    Ok(format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>{body}</body></html>\n"
    )
    .into_bytes())
}

/// `path` as a `file://` URL, every byte outside the unreserved set escaped.
pub fn file_url(path: &Path) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const PATH: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.');
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    format!(
        "file://{}",
        utf8_percent_encode(&absolute.to_string_lossy(), PATH)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_loses_scripts_and_references_to_local_files_and_svg() {
        let html = br#"<p>Hi</p><script>alert(1)</script><img src="/etc/hostname"><img src="file:///etc/passwd"><img src="data:image/svg+xml;base64,PHN2Zz4="><img src="data:image/png;base64,iVBO"><a href="https://example.com/">x</a>"#;
        let clean = String::from_utf8(sanitize_html(html).unwrap()).unwrap();
        assert!(clean.contains("<p>Hi</p>"));
        assert!(!clean.contains("script"));
        assert!(!clean.contains("/etc/"), "{clean}");
        assert!(!clean.contains("svg+xml"), "{clean}");
        assert!(clean.contains("data:image/png;base64,iVBO"), "{clean}");
        assert!(clean.contains("https://example.com/"));
    }

    #[test]
    fn profile_paths_become_escaped_file_urls() {
        assert_eq!(file_url(Path::new("/tmp/a b/p")), "file:///tmp/a%20b/p");
    }
}
