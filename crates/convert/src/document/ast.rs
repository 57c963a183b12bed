//! Pandoc's document tree (its JSON form), made safe to hand to a writer that runs
//! outside Pandoc's sandbox: every picture it would fetch must be one the reader
//! extracted from the input itself (`media/…`) or a `data:` URL; any other picture
//! becomes its description, and raw HTML or LaTeX (which a writer may read pictures
//! from) is dropped.

use serde_json::Value;

/// Where the reader extracts a document's own pictures (`--extract-media`), relative
/// to the run's folder.
pub const MEDIA_DIR: &str = "media";

/// Whether a picture reference points at the document's own extracted media or is
/// inline data.
fn is_own_picture(url: &str) -> bool {
    if url.starts_with("data:") {
        return true;
    }
    url.strip_prefix(MEDIA_DIR)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|rest| {
            !rest.is_empty()
                && !rest.contains(':')
                && !rest.contains('\\')
                && rest
                    .split('/')
                    .all(|part| !part.is_empty() && part != "." && part != "..")
        })
}

/// The element that replaces a node, if it must go.
fn replacement(node: &serde_json::Map<String, Value>) -> Option<Value> {
    let content = node.get("c");
    match node.get("t")?.as_str()? {
        // Image: [attributes, description inlines, [url, title]].
        "Image" => {
            let url = content?.get(2)?.get(0)?.as_str().unwrap_or("");
            if is_own_picture(url) {
                return None;
            }
            let description = content?.get(1).cloned().unwrap_or(Value::Array(Vec::new()));
            Some(serde_json::json!({"t": "Span", "c": [["", [], []], description]}))
        }
        "RawInline" => Some(serde_json::json!({"t": "Str", "c": ""})),
        "RawBlock" => Some(serde_json::json!({"t": "Null"})),
        _ => None,
    }
}

/// Rewrites `tree` (a whole document or any part of it) in place.
pub fn make_safe(tree: &mut Value) {
    match tree {
        Value::Array(items) => items.iter_mut().for_each(make_safe),
        Value::Object(node) => {
            if let Some(replaced) = replacement(node) {
                *tree = replaced;
                if let Value::Object(node) = tree {
                    node.values_mut().for_each(make_safe);
                }
                return;
            }
            node.values_mut().for_each(make_safe);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn image(url: &str) -> Value {
        json!({"t": "Image", "c": [["", [], []], [{"t": "Str", "c": "alt"}], [url, ""]]})
    }

    #[test]
    fn only_the_documents_own_pictures_survive() {
        let mut tree = json!({"blocks": [{"t": "Para", "c": [
            image("media/image1.png"),
            image("data:image/png;base64,AAAA"),
            image("/etc/passwd"),
            image("media/../../etc/passwd"),
            image("file:///etc/passwd"),
            image("http://127.0.0.1/x.png"),
            image("media/"),
            {"t": "RawInline", "c": ["html", "<img src=\"/etc/passwd\">"]},
        ]}, {"t": "RawBlock", "c": ["latex", "\\input{/etc/passwd}"]}]});
        make_safe(&mut tree);
        let para = tree["blocks"][0]["c"].as_array().unwrap();
        assert_eq!(para[0], image("media/image1.png"));
        assert_eq!(para[1], image("data:image/png;base64,AAAA"));
        for replaced in &para[2..7] {
            assert_eq!(replaced["t"], "Span", "{replaced}");
            assert_eq!(replaced["c"][1][0]["c"], "alt", "the description stays");
        }
        assert_eq!(para[7], json!({"t": "Str", "c": ""}));
        assert_eq!(tree["blocks"][1], json!({"t": "Null"}));
        assert!(!tree.to_string().contains("/etc/passwd"));
    }

    #[test]
    fn pictures_inside_a_description_are_checked_too() {
        let mut outer = image("/etc/passwd");
        outer["c"][1] = json!([image("/etc/shadow")]);
        make_safe(&mut outer);
        assert_eq!(outer["t"], "Span");
        assert_eq!(outer["c"][1][0]["t"], "Span");
    }
}
