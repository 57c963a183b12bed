//! A JSON body extractor whose rejection is a `ValidationError` envelope.

use axum::extract::{FromRequest, Request};
use axum::Json;
use serde::de::DeserializeOwned;

use super::SlowBody;
use trustyconvert_session::ApiError;

/// Like [`axum::Json`], but a missing or wrong content type, bad JSON or a missing
/// field is a 400 `ValidationError` in the envelope.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ValidJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(match SlowBody::cause_of(&rejection) {
                Some(slow) => slow.api_error(),
                None => {
                    ApiError::validation(format!("Invalid request body: {}", rejection.body_text()))
                }
            }),
        }
    }
}
