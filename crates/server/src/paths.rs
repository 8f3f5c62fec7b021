//! Path tolerance: Entra appends `/Users` to whatever base the admin typed,
//! so `/scim/v2//Users` and `/scim/v2/Users/` must route like `/scim/v2/Users`.

use axum::extract::Request;
use axum::http::Uri;

/// The path with `//` collapsed and a trailing `/` removed.
pub fn clean_path(path: &str) -> Option<String> {
    if !path.contains("//") && (path.len() <= 1 || !path.ends_with('/')) {
        return None;
    }
    let mut out = String::with_capacity(path.len());
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        out.push_str(seg);
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
    }
}
