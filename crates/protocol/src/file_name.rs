//! The one rule for file names: what is kept of an uploaded file's name, and what a
//! converted file is called (the server's `Content-Disposition`, the page's download
//! name and the CLI's default output all use [`output_file_name`]).
//!
//! ```
//! use trustyconvert_protocol::{output_file_name, Format};
//! assert_eq!(output_file_name("holiday/photo.png", Format::Webp), "photo.webp");
//! assert_eq!(output_file_name("photo.jpg", Format::Jpeg), "photo-converted.jpg");
//! ```

use crate::Format;

/// The longest file name kept, in characters.
pub const MAX_FILE_NAME_CHARS: usize = 200;

/// The name used when nothing of the given one is left.
const FALLBACK: &str = "upload";

/// What is kept of a file name a client sent: only its last path component (`/` or
/// `\`), without control characters, at most [`MAX_FILE_NAME_CHARS`] characters, and
/// never empty, `.` or `..` (those become `upload`).
pub fn safe_file_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_FILE_NAME_CHARS)
        .collect();
    match cleaned.trim() {
        "" | "." | ".." => FALLBACK.to_owned(),
        name => name.to_owned(),
    }
}

/// The name of `original` converted to `target`: the [safe](safe_file_name) name's
/// stem (everything before its last `.`) with the target's extension. A file already
/// in the target format gets `-converted` before the extension, so the result never
/// takes the original's name.
pub fn output_file_name(original: &str, target: Format) -> String {
    let name = safe_file_name(original);
    let (stem, source) = match name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => (stem, Format::parse(extension)),
        // A name without an extension, or a dotfile (`.profile`), is all stem.
        _ => (name.as_str(), None),
    };
    let extension = target.extension();
    if source == Some(target) {
        format!("{stem}-converted.{extension}")
    } else {
        format!("{stem}.{extension}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_names_are_never_paths_nor_control_characters() {
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("C:\\Users\\x\\photo.png"), "photo.png");
        assert_eq!(safe_file_name(".."), "upload");
        assert_eq!(safe_file_name("dir/"), "upload");
        assert_eq!(safe_file_name("a\u{0}b\r\n.txt"), "ab.txt");
        assert_eq!(safe_file_name("  "), "upload");
        let long = "x".repeat(MAX_FILE_NAME_CHARS + 50);
        assert_eq!(safe_file_name(&long).chars().count(), MAX_FILE_NAME_CHARS);
    }

    #[test]
    fn the_output_is_the_stem_with_the_targets_extension() {
        assert_eq!(output_file_name("photo.png", Format::Webp), "photo.webp");
        assert_eq!(output_file_name("notes.md", Format::Html), "notes.html");
        assert_eq!(output_file_name("scan.tif", Format::Jpeg), "scan.jpg");
        assert_eq!(output_file_name("sheet.csv", Format::Markdown), "sheet.md");
    }

    #[test]
    fn a_name_without_extension_keeps_all_of_it() {
        assert_eq!(output_file_name("README", Format::Pdf), "README.pdf");
        assert_eq!(output_file_name(".profile", Format::Pdf), ".profile.pdf");
    }

    #[test]
    fn only_the_last_of_double_extensions_is_replaced() {
        assert_eq!(
            output_file_name("archive.tar.gz", Format::Pdf),
            "archive.tar.pdf"
        );
        assert_eq!(
            output_file_name("photo.png.jpg", Format::Png),
            "photo.png.png"
        );
    }

    #[test]
    fn the_same_format_as_the_target_never_yields_the_original_name() {
        assert_eq!(
            output_file_name("photo.png", Format::Png),
            "photo-converted.png"
        );
        // Aliases and case name the same format.
        assert_eq!(
            output_file_name("photo.JPEG", Format::Jpeg),
            "photo-converted.jpg"
        );
        assert_eq!(
            output_file_name("notes.markdown", Format::Markdown),
            "notes-converted.md"
        );
    }

    #[test]
    fn unicode_names_are_kept() {
        assert_eq!(
            output_file_name("résumé 履歴書.docx", Format::Pdf),
            "résumé 履歴書.pdf"
        );
    }

    #[test]
    fn paths_and_control_characters_never_reach_the_output_name() {
        assert_eq!(
            output_file_name("../../etc/passwd.txt", Format::Pdf),
            "passwd.pdf"
        );
        assert_eq!(
            output_file_name("C:\\temp\\evil\u{7}.png", Format::Gif),
            "evil.gif"
        );
        assert_eq!(output_file_name("..", Format::Pdf), "upload.pdf");
        assert_eq!(output_file_name("", Format::Pdf), "upload.pdf");
    }
}
