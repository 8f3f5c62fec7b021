//! The directory's error type. The HTTP layer alone turns it into a status.

use scim::ScimError;

/// What can go wrong in a directory operation.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The request is wrong: a SCIM error with a status and a detail for the admin.
    #[error(transparent)]
    Invalid(#[from] ScimError),
    /// No such resource in the caller's organisation.
    #[error("{0}")]
    NotFound(String),
    /// A uniqueness rule was broken; the detail names the attribute.
    #[error("{0}")]
    Conflict(String),
    /// The storage failed. The detail is for logs, not for clients.
    #[error("storage error: {0}")]
    Store(String),
    /// The storage is busy (lock timeout); the client may retry.
    #[error("storage busy: {0}")]
    Busy(String),
}

impl DirectoryError {
    /// The SCIM error a client should see.
    pub fn to_scim(&self) -> ScimError {
        match self {
            DirectoryError::Invalid(e) => e.clone(),
            DirectoryError::NotFound(d) => ScimError::not_found(d.clone()),
            DirectoryError::Conflict(d) => ScimError::uniqueness(d.clone()),
            DirectoryError::Store(_) => ScimError::status(500, "Internal storage error; the request was not applied."),
            DirectoryError::Busy(_) => {
                ScimError::status(503, "The directory is busy; the request was not applied. Retry shortly.")
            }
        }
    }
}
