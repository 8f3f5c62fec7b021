//! Path tolerance: Entra appends `/Users` to whatever base the admin typed,
//! so `/scim/v2//Users` and `/scim/v2/Users/` must route like `/scim/v2/Users`.

use axum::extract::Request;
use axum::http::Uri;

/// SCIM endpoint names, matched case-insensitively (`/scim/v2/users` works).
const ENDPOINTS: &[&str] = &["Users", "Groups", "Schemas", "ResourceTypes", "ServiceProviderConfig"];

/// The path with `//` collapsed, a trailing `/` removed and SCIM endpoint
/// names in their canonical case; `None` when it is already clean.
pub fn clean_path(path: &str) -> Option<String> {
    let needs_case = |seg: &str| ENDPOINTS.iter().any(|e| e.eq_ignore_ascii_case(seg) && *e != seg);
    if !path.contains("//") && (path.len() <= 1 || !path.ends_with('/')) && !path.split('/').any(needs_case) {
        return None;
    }
    let mut out = String::with_capacity(path.len());
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        match ENDPOINTS.iter().find(|e| e.eq_ignore_ascii_case(seg)) {
            Some(canonical) => out.push_str(canonical),
            None => out.push_str(seg),
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Some(out)
}

/// Rewrites the request URI before routing.
pub fn rewrite(mut req: Request) -> Request {
    if let Some(clean) = clean_path(req.uri().path()) {
        let pq = match req.uri().query() {
            Some(q) => format!("{clean}?{q}"),
            None => clean,
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(p) = pq.parse() {
            parts.path_and_query = Some(p);
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

#[cfg(test)]
mod tests {
    use super::clean_path;

    #[test]
    fn slashes_are_normalised() {
        assert_eq!(clean_path("/scim/v2//Users").as_deref(), Some("/scim/v2/Users"));
        assert_eq!(clean_path("/scim/v2/Users/").as_deref(), Some("/scim/v2/Users"));
        assert_eq!(clean_path("/scim/v2/Users"), None);
        assert_eq!(clean_path("/"), None);
        assert_eq!(clean_path("/scim/v2/users").as_deref(), Some("/scim/v2/Users"));
        assert_eq!(clean_path("/scim/v2/SCHEMAS/x").as_deref(), Some("/scim/v2/Schemas/x"));
    }
}
