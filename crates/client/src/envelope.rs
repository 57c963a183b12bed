//! The JSON envelope every answer comes in, decoded into data or a typed error. Used
//! by the manager (session answers) and the API client (every other call).

use serde::de::DeserializeOwned;
use trustyconvert_protocol::Envelope;

use crate::error::ClientError;
use crate::transport::HttpResponse;

/// Decodes an envelope: `data` on success, the typed error otherwise.
pub(crate) fn decode_envelope<T: DeserializeOwned>(
    response: HttpResponse,
) -> Result<T, ClientError> {
    let status = response.status;
    if status == 204 {
        // No content (a deletion): only a caller expecting nothing accepts it.
        return serde_json::from_slice(b"null").map_err(|_| ClientError::Protocol {
            status,
            detail: "no content where a result was expected".to_owned(),
        });
    }
    let envelope: Envelope<T> =
        serde_json::from_slice(&response.body).map_err(|error| ClientError::Protocol {
            status,
            detail: format!("not a TrustyConvert envelope: {error}"),
        })?;
    match (envelope.success, envelope.data, envelope.error) {
        (true, Some(data), _) if (200..300).contains(&status) => Ok(data),
        (false, _, Some(error)) => Err(ClientError::Api {
            status,
            kind: error.kind,
            message: error.message,
            details: error.details,
            correlation_id: Some(envelope.correlation_id),
            retry_after_secs: response
                .header("retry-after")
                .and_then(|v| v.trim().parse().ok()),
        }),
        _ => Err(ClientError::Protocol {
            status,
            detail: "inconsistent envelope".to_owned(),
        }),
    }
}
