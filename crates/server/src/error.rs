//! SCIM errors as HTTP responses.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use directory::DirectoryError;
use scim::ScimError;

/// The media type of every SCIM answer.
pub const SCIM_JSON: &str = "application/scim+json";

/// An error answered as a SCIM error body.
#[derive(Debug)]
pub struct ApiError(pub ScimError);

impl ApiError {
    /// A failure of the server itself (a panicked task, a broken invariant):
    /// the client learns only that nothing was applied.
    pub fn internal() -> ApiError {
        ApiError(ScimError::status(500, "Internal error; the request was not applied."))
    }
}

impl From<ScimError> for ApiError {
    fn from(e: ScimError) -> Self {
        ApiError(e)
    }
}

impl From<DirectoryError> for ApiError {
    fn from(e: DirectoryError) -> Self {
        if matches!(e, DirectoryError::Store(_) | DirectoryError::Busy(_)) {
            tracing::error!(error = %e, "storage failure");
        }
        ApiError(e.to_scim())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = scim_json(status, &self.0.to_json());
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"roster\""));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

/// A JSON body with the SCIM media type.
pub fn scim_json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    scim_bytes(status, serde_json::to_vec(body).unwrap_or_default())
}

/// A SCIM answer already serialised.
pub fn scim_bytes(status: StatusCode, bytes: impl Into<axum::body::Bytes>) -> Response {
    let mut resp = (status, bytes.into()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    resp
}

/// Unknown routes.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError(ScimError::not_found(format!("No such endpoint: {}", uri.path())))
}

/// Known route, wrong method.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError(ScimError::status(405, format!("{method} is not supported on {}.", uri.path())))
}
