//! Text conversions: markdown → html / plain text, csv ↔ json.

use pulldown_cmark::{html, Event, Options, Parser, Tag, TagEnd};
use serde_json::{Map, Value};

use std::collections::HashSet;
use std::io::Write as _;

use crate::{Budget, BudgetWriter, ConversionError};

fn utf8(bytes: &[u8]) -> Result<&str, ConversionError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes)
        .map_err(|_| ConversionError::Invalid("the file is not UTF-8 text".into()))
}

/// The file as text.
pub fn as_text(bytes: &[u8]) -> Result<&str, ConversionError> {
    utf8(bytes)
}

/// A complete HTML document. Raw HTML in the markdown is escaped, not passed through,
/// and the result is sanitized (ammonia): links and images keep only `http`, `https`,
/// `mailto` and relative URLs, so a converted file cannot carry scripts.
pub fn markdown_to_html(
    bytes: &[u8],
    title: &str,
    out: &mut BudgetWriter<'_>,
) -> Result<(), ConversionError> {
    let source = utf8(bytes)?;
    let events = Parser::new_ext(source, Options::all()).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        other => other,
    });
    let mut rendered = String::new();
    html::push_html(&mut rendered, events);
    let body = ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto"].into())
        .url_relative(ammonia::UrlRelative::PassThrough)
        .clean(&rendered)
        .to_string();
    let title_escaped = escape_html(title);
    let document = format!(
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>{title_escaped}</title>\n</head>\n<body>\n{body}</body>\n</html>\n"
    );
    out.write_all(document.as_bytes()).map_err(write_failed)
}

/// The readable text of a markdown document (markup removed), for PDF output.
pub fn markdown_to_plain(bytes: &[u8]) -> Result<String, ConversionError> {
    let source = utf8(bytes)?;
    let mut out = String::new();
    for event in Parser::new_ext(source, Options::all()) {
        match event {
            Event::Text(text) | Event::Code(text) | Event::Html(text) | Event::InlineHtml(text) => {
                out.push_str(&text)
            }
            Event::SoftBreak => out.push(' '),
            Event::HardBreak | Event::Rule => out.push('\n'),
            Event::Start(Tag::Item) => out.push_str("• "),
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::Item
                | TagEnd::CodeBlock
                | TagEnd::TableRow,
            ) => {
                out.push('\n');
                if !out.ends_with("\n\n") {
                    out.push('\n');
                }
            }
            Event::End(TagEnd::TableCell) => out.push('\t'),
            _ => {}
        }
    }
    Ok(out)
}

/// An array of objects keyed by the header row; every value a string. Written row by
/// row as it is read, so only one row is ever held.
pub fn csv_to_json(
    bytes: &[u8],
    budget: &Budget,
    out: &mut BudgetWriter<'_>,
) -> Result<(), ConversionError> {
    let text = utf8(bytes)?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| ConversionError::Invalid(format!("the CSV header row cannot be read ({e})")))?
        .clone();
    out.write_all(b"[").map_err(write_failed)?;
    for (index, record) in reader.records().enumerate() {
        budget.check_time()?;
        let record = record.map_err(|e| {
            ConversionError::Invalid(format!("CSV row {} is malformed ({e})", index + 2))
        })?;
        let row: Map<String, Value> = headers
            .iter()
            .zip(record.iter())
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect();
        out.write_all(if index == 0 { b"\n  " } else { b",\n  " })
            .map_err(write_failed)?;
        serde_json::to_writer(&mut *out, &row)
            .map_err(|e| ConversionError::Failed(e.to_string()))?;
    }
    out.write_all(b"\n]\n").map_err(write_failed)
}

fn write_failed(error: std::io::Error) -> ConversionError {
    ConversionError::Failed(error.to_string())
}

/// A JSON array of flat objects as CSV; the header is every key, in first-seen order.
pub fn json_to_csv(
    bytes: &[u8],
    budget: &Budget,
    out: &mut BudgetWriter<'_>,
) -> Result<(), ConversionError> {
    let value: Value = serde_json::from_slice(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
        .map_err(|e| ConversionError::Invalid(format!("the file is not valid JSON ({e})")))?;
    let Value::Array(items) = value else {
        return Err(ConversionError::Invalid(
            "JSON → CSV needs an array of objects".into(),
        ));
    };
    let mut headers: Vec<&String> = Vec::new();
    let mut seen: HashSet<&String> = HashSet::new();
    for (index, item) in items.iter().enumerate() {
        let Value::Object(object) = item else {
            return Err(ConversionError::Invalid(format!(
                "item {index} is not an object"
            )));
        };
        for (key, value) in object {
            if value.is_object() || value.is_array() {
                return Err(ConversionError::Invalid(format!(
                    "item {index}, field {key:?} is nested; only flat objects convert to CSV"
                )));
            }
            if seen.insert(key) {
                headers.push(key);
            }
        }
    }
    let mut writer = csv::Writer::from_writer(out);
    let failed = |e: csv::Error| ConversionError::Failed(e.to_string());
    writer.write_record(&headers).map_err(failed)?;
    for item in &items {
        budget.check_time()?;
        let row = headers.iter().map(|key| match item.get(key.as_str()) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        });
        writer.write_record(row).map_err(failed)?;
    }
    writer
        .into_inner()
        .map(drop)
        .map_err(|e| ConversionError::Failed(e.to_string()))
}

fn escape_html(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            other => other.to_string(),
        })
        .collect()
}
