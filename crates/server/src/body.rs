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
            Err(e) => return Err(ApiError(body_error(&e, limit, state.config.header_read_timeout))),
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError(ScimError::invalid_syntax("The request body is empty; a JSON object was expected.")));
        }
        serde_json::from_slice(&bytes)
            .map(ScimJson)
            .map_err(|e| ApiError(ScimError::invalid_syntax(format!("The request body is not valid JSON: {e}."))))
    }
}

/// Why a body could not be read: too long, too slow, or broken on the way.
fn body_error(e: &axum::Error, limit: usize, timeout: std::time::Duration) -> ScimError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return ScimError::status(413, format!("The request body is larger than {limit} bytes."));
        }
        if err.is::<tower_http::timeout::TimeoutError>() {
            return ScimError::status(
                408,
                format!("The request body stopped arriving for {} seconds; send it again.", timeout.as_secs()),
            );
        }
        source = err.source();
    }
    ScimError::invalid_syntax(format!("The request body could not be read: {e}."))
}
