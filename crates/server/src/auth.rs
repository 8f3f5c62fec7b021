//! Authentication of SCIM requests: `Authorization: Bearer <key>` (Entra,
//! Okta) or `x-api-key: <key>` (JumpCloud style), resolved to an organisation
//! and a role. The role check for provisioning happens here, once.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use directory::Actor;
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

impl FromRequestParts<AppState> for ScimCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(token) = token_from(parts) else {
            return Err(ApiError(ScimError::status(
                401,
                "Authentication required: send the Roster API key as \"Authorization: Bearer <key>\" (the Secret \
                 Token in Entra ID).",
            )));
        };
        let authenticated =
            state.point_read(move |dir| directory::admin::authenticate(dir.store.as_ref(), &dir.auth_cache, &token)).await?;
        let Some(auth) = authenticated else {
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
        if let Some(slot) = parts.extensions.get::<crate::logging::OrgSlot>() {
            let _ = slot.0.set(auth.org.name.clone());
        }
        Ok(ScimCaller(Actor { org: auth.org, key_id: auth.key.id, key_name: auth.key.name, source: "scim".into() }))
    }
}
