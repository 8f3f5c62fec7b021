//! The JSON body extractor: size-limited, any JSON media type, and every
//! failure a SCIM error that says what is wrong.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{FromRequest, Request};
use scim::ScimError;
use serde_json::Value;

/// A request body parsed as JSON.
pub struct ScimJson(pub Value);

impl FromRequest<AppState> for ScimJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.config.max_body_bytes;
        let bytes = match axum::body::to_bytes(req.into_body(), limit).await {
            Ok(b) => b,
            Err(_) => {
                return Err(ApiError(ScimError::status(413, format!("The request body is larger than {limit} bytes."))))
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError(ScimError::invalid_syntax("The request body is empty; a JSON object was expected.")));
        }
        serde_json::from_slice(&bytes)
            .map(ScimJson)
            .map_err(|e| ApiError(ScimError::invalid_syntax(format!("The request body is not valid JSON: {e}."))))
    }
}
