//! Authentication of SCIM requests: `Authorization: Bearer <key>` (Entra,
//! Okta) or `x-api-key: <key>` (JumpCloud style), resolved to an organisation
//! and a role. The role check for provisioning happens here, once.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use crate::logging::OrgSlot;
use directory::admin::{Authenticated, AuthenticatedRead};
use directory::{Actor, ChangeStamp, DirectoryError, Tx};
use scim::ScimError;

/// A caller allowed to provision.
pub struct ScimCaller(pub Actor);

fn token_from(parts: &Parts) -> Option<String> {
    if let Some(v) = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
        if scheme.eq_ignore_ascii_case("bearer") && !rest.trim().is_empty() {
            return Some(rest.trim().to_string());
        }
        return None;
    }
    parts.headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(|s| s.trim().to_string())
}

/// The key a request presents, before it is checked, and where the log line
/// learns the caller's organisation. Handlers that authenticate inside their
/// own read take this instead of [`ScimCaller`].
pub struct Credentials {
    pub(crate) token: String,
    pub(crate) log_slot: Option<OrgSlot>,
}

impl FromRequestParts<AppState> for Credentials {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(token) = token_from(parts) else {
            return Err(ApiError(ScimError::status(
                401,
                "Authentication required: send the Roster API key as \"Authorization: Bearer <key>\" (the Secret \
                 Token in Entra ID).",
            )));
        };
        Ok(Credentials { token, log_slot: parts.extensions.get::<OrgSlot>().cloned() })
    }
}

impl FromRequestParts<AppState> for ScimCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let credentials = Credentials::from_request_parts(parts, state).await?;
        state.caller(credentials).await.map(ScimCaller)
    }
}

impl AppState {
    /// Authenticates `credentials` for provisioning.
    pub(crate) async fn caller(&self, credentials: Credentials) -> Result<Actor, ApiError> {
        self.caller_hashed(directory::keys::hash_token(&credentials.token), credentials.log_slot.as_ref()).await
    }

    /// [`AppState::caller`] for a token already hashed.
    pub(crate) async fn caller_hashed(
        &self,
        token_hash: String,
        log_slot: Option<&OrgSlot>,
    ) -> Result<Actor, ApiError> {
        let found = self
            .point_read(move |dir| {
                directory::admin::authenticate_hashed(dir.store.as_ref(), &dir.auth_cache, &token_hash)
            })
            .await?;
        admit(found, log_slot)
    }

    /// Authenticates `credentials` for provisioning and runs the point read
    /// `work` for the caller's organisation, both in one read transaction.
    pub(crate) async fn authorized_point_read<T: Send + 'static>(
        &self,
        credentials: Credentials,
        work: impl FnMut(&mut dyn Tx, i64) -> Result<T, DirectoryError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let token_hash = directory::keys::hash_token(&credentials.token);
        let stamp = self.directory.store.change_stamp();
        let (value, _) = self.authorized_read(token_hash, stamp, credentials.log_slot.as_ref(), work).await?;
        Ok(value)
    }

    /// [`AppState::authorized_point_read`] for a hashed token and the change
    /// stamp read before it, also returning the caller's organisation.
    pub(crate) async fn authorized_read<T: Send + 'static>(
        &self,
        token_hash: String,
        stamp: Option<ChangeStamp>,
        log_slot: Option<&OrgSlot>,
        mut work: impl FnMut(&mut dyn Tx, i64) -> Result<T, DirectoryError> + Send + 'static,
    ) -> Result<(T, i64), ApiError> {
        let read = self
            .point_read(move |dir| {
                Ok(directory::admin::read_authenticated(
                    dir.store.as_ref(),
                    &dir.auth_cache,
                    &token_hash,
                    stamp,
                    |auth| auth.key.role.can_provision(),
                    |tx, auth| work(tx, auth.org.id),
                ))
            })
            .await?;
        let AuthenticatedRead { caller, result } = read;
        // A store failure before the key was checked is not a bad key.
        let result = match (&caller, result) {
            (None, Err(e)) => return Err(ApiError::from(e)),
            (_, result) => result,
        };
        admission(caller.as_ref(), log_slot)?;
        match (result, caller) {
            (Ok(Some(value)), Some(caller)) => Ok((value, caller.org.id)),
            (Err(e), _) => Err(ApiError::from(e)),
            // `admission` and the predicate above are the same rule.
            _ => Err(ApiError::internal()),
        }
    }
}

/// The caller a provisioning request acts as: 401 without a valid key, 403
/// for a role that may not provision (see [`admission`]).
fn admit(found: Option<Authenticated>, log_slot: Option<&OrgSlot>) -> Result<Actor, ApiError> {
    admission(found.as_ref(), log_slot)?;
    let auth = found.ok_or_else(ApiError::internal)?;
    Ok(Actor { org: auth.org, key_id: auth.key.id, key_name: auth.key.name, source: "scim".into() })
}

/// Whether a provisioning request by `found` comes in: 401 without a valid
/// key, 403 for a role that may not provision. Tells the log line the
/// organisation of a caller that comes in.
pub(crate) fn admission(found: Option<&Authenticated>, log_slot: Option<&OrgSlot>) -> Result<(), ApiError> {
    let Some(auth) = found else {
        return Err(ApiError(ScimError::status(
            401,
            "The API key is not valid: it is unknown, revoked or expired. Create a new key with `roster apikey \
             create` and paste it as the Secret Token.",
        )));
    };
    if !auth.key.role.can_provision() {
        return Err(ApiError(ScimError::status(
            403,
            format!(
                "This key has the role {}, which may not provision users. SCIM needs a key with the role \
                 admin-with-billing, administrator or manager.",
                auth.key.role.as_str()
            ),
        )));
    }
    if let Some(slot) = log_slot {
        let _ = slot.0.set(auth.org.name.clone());
    }
    Ok(())
}
