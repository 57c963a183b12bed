//! `GET /api/convert/formats`: exactly the conversions this build performs.

use axum::extract::State;
use trustyconvert_protocol::FormatGroup;

use crate::convert::{targets, Format, RASTER_FORMATS};
use crate::error::ApiJson;
use crate::http::AppState;

fn names(formats: &[Format]) -> Vec<String> {
    let mut names: Vec<String> = formats.iter().map(|f| f.name().to_owned()).collect();
    if formats.contains(&Format::Jpeg) {
        names.insert(
            names.iter().position(|n| n == "jpeg").map_or(0, |i| i + 1),
            "jpg".to_owned(),
        );
    }
    names
}

/// The handler.
#[utoipa::path(
    get,
    path = "/api/convert/formats",
    tag = "conversion",
    description = "Exactly the conversions this server performs: in each group every input converts to every output.",
    responses((status = 200, description = "The format groups.", body = crate::http::openapi::Success<Vec<FormatGroup>>))
)]
pub async fn formats(State(state): State<AppState>) -> ApiJson<Vec<FormatGroup>> {
    let max_size = state.jobs.limits().max_upload_bytes;
    let group = |id: &str, name: &str, description: &str, inputs: &[Format], features: &[&str]| {
        FormatGroup {
            id: id.to_owned(),
            name: name.to_owned(),
            description: description.to_owned(),
            input_formats: names(inputs),
            output_formats: names(targets(inputs[0])),
            max_size,
            features: features.iter().map(|f| (*f).to_owned()).collect(),
        }
    };
    ApiJson::ok(vec![
        group(
            "image",
            "Images",
            "Raster images to any other raster format, or to a one-page PDF.",
            &RASTER_FORMATS,
            &[
                "dimensions preserved",
                "metadata stripped",
                "alpha flattened where the target has none",
            ],
        ),
        group(
            "markdown",
            "Markdown",
            "Markdown to a standalone HTML page or to PDF.",
            &[Format::Markdown],
            &["raw HTML escaped"],
        ),
        group(
            "text",
            "Plain text",
            "Plain text to paginated PDF.",
            &[Format::Txt],
            &["A4 pages"],
        ),
        group(
            "csv",
            "CSV",
            "CSV with a header row to a JSON array of objects.",
            &[Format::Csv],
            &["values kept as strings"],
        ),
        group(
            "json",
            "JSON",
            "A JSON array of flat objects to CSV.",
            &[Format::Json],
            &["header is the union of keys"],
        ),
    ])
}
