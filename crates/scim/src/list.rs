//! Query parameters and the ListResponse (RFC 7644 §3.4.2).
