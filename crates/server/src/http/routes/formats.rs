//! `GET /api/convert/formats` (and its other name, `GET /api/supported-conversions`):
//! exactly the conversions the engines found at startup perform.

use axum::extract::State;
use trustyconvert_protocol::{paths, Format, FormatGroup};

use crate::http::AppState;
use trustyconvert_session::ApiJson;

/// Canonical names, with `jpg` after `jpeg` (clients that match on extensions find it).
fn names(formats: &[Format]) -> Vec<String> {
    let mut names: Vec<String> = formats.iter().map(|f| f.name().to_owned()).collect();
    if let Some(at) = names.iter().position(|n| n == "jpeg") {
        names.insert(at + 1, "jpg".to_owned());
    }
    names
}

/// The handler.
#[utoipa::path(
    get,
    path = paths::FORMATS,
    tag = "conversion",
    description = "Exactly the conversions this server performs: in each group every input converts to every output. Groups depend on the engines installed (office documents need LibreOffice).",
    responses((status = 200, description = "The format groups.", body = crate::http::openapi::Success<Vec<FormatGroup>>))
)]
pub async fn formats(State(state): State<AppState>) -> ApiJson<Vec<FormatGroup>> {
    ApiJson::ok(format_groups(&state))
}

/// The same answer at the name earlier backends used.
#[utoipa::path(
    get,
    path = paths::SUPPORTED_CONVERSIONS,
    tag = "conversion",
    description = "The same answer as GET /api/convert/formats, at the name earlier TrustyConvert backends (and the frontends written for them) use.",
    responses((status = 200, description = "The format groups.", body = crate::http::openapi::Success<Vec<FormatGroup>>))
)]
pub async fn supported_conversions(State(state): State<AppState>) -> ApiJson<Vec<FormatGroup>> {
    ApiJson::ok(format_groups(&state))
}

/// One group per engine offer, from the engines found at startup.
fn format_groups(state: &AppState) -> Vec<FormatGroup> {
    let max_size = state.jobs.limits().max_upload_bytes;
    state
        .jobs
        .engines()
        .offers()
        .into_iter()
        .map(|offer| FormatGroup {
            id: offer.id.to_owned(),
            name: offer.name.to_owned(),
            description: offer.description.to_owned(),
            input_formats: names(offer.inputs),
            output_formats: names(offer.outputs),
            max_size,
            features: offer.features.iter().map(|f| (*f).to_owned()).collect(),
        })
        .collect()
}
