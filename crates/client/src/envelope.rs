//! The JSON envelope every answer comes in, decoded into data or a typed error. Used
//! by the manager (session answers) and the API client (every other call).
//!
//! The envelope and the protocol's types are read with the protocol's small codec
//! ([`trustyconvert_protocol::json`]), which keeps `serde_json` out of the browser
//! bundle; `serde` is used only for an application's own types
//! ([`ApiClient::call`](crate::ApiClient::call)).

use serde::de::DeserializeOwned;
use trustyconvert_protocol::json::{FromJson, Json, JsonError, Object};
use trustyconvert_protocol::ErrorType;

use crate::error::ClientError;
use crate::transport::HttpResponse;

/// Decodes an envelope: `data` on success, the typed error otherwise.
pub(crate) fn decode_envelope<T: FromJson>(response: HttpResponse) -> Result<T, ClientError> {
    let status = response.status;
    let data = envelope_data(&response)?;
    T::from_json(data).map_err(|error| not_envelope(status, &error))
}

/// [`decode_envelope`] for a type read with `serde`: the envelope (and any error in it)
/// is read as always, then `data` by `serde_json`.
pub(crate) fn decode_envelope_serde<T: DeserializeOwned>(
    response: HttpResponse,
) -> Result<T, ClientError> {
    let status = response.status;
    envelope_data(&response)?;
    if status == 204 {
        return serde_json::from_slice(b"null").map_err(|_| no_content(status));
    }
    #[derive(serde::Deserialize)]
    struct Data<T> {
        data: T,
    }
    serde_json::from_slice::<Data<T>>(&response.body)
        .map(|envelope| envelope.data)
        .map_err(|error| ClientError::Protocol {
            status,
            detail: format!("not a TrustyConvert envelope: {error}"),
        })
}

/// The envelope's `data` on success (`null` for a 204), its typed error otherwise.
fn envelope_data(response: &HttpResponse) -> Result<Json, ClientError> {
    let status = response.status;
    if status == 204 {
        // No content (a deletion): only a caller expecting nothing accepts it.
        return Ok(Json::Null);
    }
    let malformed = |error: JsonError| not_envelope(status, &error);
    let mut envelope = Json::parse(&response.body)
        .and_then(Json::into_object)
        .map_err(malformed)?;
    let success: bool = envelope.field("success").map_err(malformed)?;
    let correlation_id: String = envelope.field("correlation_id").map_err(malformed)?;
    match (success, envelope.take("data"), envelope.take("error")) {
        (true, data, _) if data != Json::Null && (200..300).contains(&status) => Ok(data),
        (false, _, Json::Object(mut error)) => {
            let kind: ErrorType = error.field("type").map_err(malformed)?;
            let message: String = error.field("message").map_err(malformed)?;
            let details: Option<Object> = error.field("details").map_err(malformed)?;
            Err(ClientError::Api {
                status,
                kind,
                message,
                details: details.unwrap_or_default(),
                correlation_id: Some(correlation_id),
                retry_after_secs: response
                    .header("retry-after")
                    .and_then(|v| v.trim().parse().ok()),
            })
        }
        _ => Err(ClientError::Protocol {
            status,
            detail: "inconsistent envelope".to_owned(),
        }),
    }
}

fn not_envelope(status: u16, error: &JsonError) -> ClientError {
    if status == 204 {
        return no_content(status);
    }
    ClientError::Protocol {
        status,
        detail: format!("not a TrustyConvert envelope: {error}"),
    }
}

fn no_content(status: u16) -> ClientError {
    ClientError::Protocol {
        status,
        detail: "no content where a result was expected".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use trustyconvert_protocol::{ErrorType, UploadResponse};

    use super::*;

    fn answer(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![("retry-after".into(), " 7 ".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    const UPLOADED: &str =
        r#"{"success":true,"data":{"job_id":"j","status":"uploaded"},"correlation_id":"c"}"#;
    const TOO_MANY: &str = r#"{"success":false,"error":{"message":"slow down","type":"RateLimitExceeded","details":{"limit":10}},"correlation_id":"c-9"}"#;

    #[test]
    fn a_success_envelope_yields_its_data_either_way() {
        let expected = UploadResponse {
            job_id: "j".into(),
            status: trustyconvert_protocol::JobStatus::Uploaded,
        };
        assert_eq!(
            decode_envelope::<UploadResponse>(answer(200, UPLOADED)).unwrap(),
            expected
        );
        assert_eq!(
            decode_envelope_serde::<UploadResponse>(answer(200, UPLOADED)).unwrap(),
            expected
        );
    }

    #[test]
    fn an_error_envelope_is_the_typed_error_either_way() {
        for error in [
            decode_envelope::<UploadResponse>(answer(429, TOO_MANY)).unwrap_err(),
            decode_envelope_serde::<UploadResponse>(answer(429, TOO_MANY)).unwrap_err(),
        ] {
            let ClientError::Api {
                status,
                kind,
                message,
                details,
                correlation_id,
                retry_after_secs,
            } = error
            else {
                panic!("not an API error: {error:?}");
            };
            assert_eq!((status, kind), (429, ErrorType::RateLimitExceeded));
            assert_eq!(message, "slow down");
            assert_eq!(details.get("limit").and_then(Json::as_u64), Some(10));
            assert_eq!(correlation_id.as_deref(), Some("c-9"));
            assert_eq!(retry_after_secs, Some(7));
        }
    }

    #[test]
    fn anything_but_the_agreed_envelope_is_a_protocol_error() {
        let cases = [
            (502, "<html>Bad Gateway</html>"),
            (200, r#"{"success":true,"data":null,"correlation_id":"c"}"#),
            (
                200,
                r#"{"success":true,"data":{"job_id":"j"},"correlation_id":"c"}"#,
            ),
            (
                200,
                r#"{"data":{"job_id":"j","status":"uploaded"},"correlation_id":"c"}"#,
            ),
            (
                500,
                r#"{"success":true,"data":{"job_id":"j","status":"uploaded"},"correlation_id":"c"}"#,
            ),
            (
                400,
                r#"{"success":false,"error":{"message":"x","type":"NoSuchType"},"correlation_id":"c"}"#,
            ),
            (204, ""),
        ];
        for (status, body) in cases {
            for error in [
                decode_envelope::<UploadResponse>(answer(status, body)).unwrap_err(),
                decode_envelope_serde::<UploadResponse>(answer(status, body)).unwrap_err(),
            ] {
                assert!(
                    matches!(error, ClientError::Protocol { .. }),
                    "{body}: {error:?}"
                );
            }
        }
    }

    #[test]
    fn no_content_is_success_only_for_a_call_expecting_nothing() {
        decode_envelope::<()>(answer(204, "")).unwrap();
        decode_envelope_serde::<()>(answer(204, "")).unwrap();
    }
}
