//! Answers of point reads (`GET /Users/{id}`, a `userName eq` lookup), kept
//! while the store reports that nothing was committed since they were read.
//!
//! The store's [`ChangeStamp`] changes with every COMMIT by any process (a
//! second server, `roster apikey revoke`, an import), so a kept answer is
//! served only while it is exactly what a fresh read would return: every
//! entry belongs to the stamp the whole cache was filled at, and a request
//! that sees another stamp empties it. The key was checked when the answer
//! was read; revoking it is a commit, and its expiry is checked again on
//! every request. Stores without a stamp (PostgreSQL) never reuse answers.

use crate::auth::{admit, Credentials};
use crate::error::ApiError;
use crate::AppState;
use axum::body::Bytes;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use directory::admin::Authenticated;
use directory::{ChangeStamp, DirectoryError, Tx};
use std::collections::HashMap;
use std::sync::Mutex;

/// Keys remembered at most; beyond, the cache starts over.
const MAX_CALLERS: usize = 1024;

/// A successful read's answer: a SCIM JSON body and the resource's ETag.
#[derive(Clone)]
pub(crate) struct Answer {
    pub body: Bytes,
    pub etag: Option<HeaderValue>,
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut resp = (StatusCode::OK, self.body).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(crate::error::SCIM_JSON));
        if let Some(etag) = self.etag {
            resp.headers_mut().insert(header::ETAG, etag);
        }
        resp
    }
}

/// What identifies a point read's answer: who asks (a key, by its hash), what
/// (the request target, path and query as sent) and when (the stamp read
/// before anything else, so the read that follows is at least that new).
pub(crate) struct ReadKey {
    stamp: Option<ChangeStamp>,
    token_hash: String,
    target: String,
}

pub(crate) struct ReadCache {
    entries: Mutex<Entries>,
    /// Bytes of answers kept at most; beyond, the cache starts over. 0: off.
    max_bytes: usize,
}

#[derive(Default)]
struct Entries {
    /// The stamp every entry below was read at.
    stamp: Option<ChangeStamp>,
    /// Key hash → the caller it authenticated.
    callers: HashMap<String, Authenticated>,
    /// Organisation → request target → answer.
    answers: HashMap<i64, HashMap<String, Answer>>,
    answer_bytes: usize,
}

impl Entries {
    /// Entries for `stamp`: kept if they were read at it, else dropped.
    fn at(&mut self, stamp: &ChangeStamp) -> &mut Entries {
        if self.stamp.as_ref() != Some(stamp) {
            *self = Entries { stamp: Some(*stamp), ..Entries::default() };
        }
        self
    }
}

impl ReadCache {
    pub(crate) fn new(max_bytes: usize) -> ReadCache {
        ReadCache { entries: Mutex::default(), max_bytes }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, key: &ReadKey) -> Option<(Authenticated, Answer)> {
        if self.max_bytes == 0 {
            return None;
        }
        let stamp = key.stamp.as_ref()?;
        let mut entries = self.lock();
        let entries = entries.at(stamp);
        let caller = entries.callers.get(&key.token_hash)?;
        let answer = entries.answers.get(&caller.org.id)?.get(&key.target)?;
        Some((caller.clone(), answer.clone()))
    }

    fn put(&self, key: ReadKey, caller: Authenticated, answer: Answer) {
        let Some(stamp) = key.stamp else { return };
        if answer.body.len() > self.max_bytes {
            return;
        }
        let mut entries = self.lock();
        let entries = entries.at(&stamp);
        if entries.answer_bytes + answer.body.len() > self.max_bytes || entries.callers.len() >= MAX_CALLERS {
            *entries = Entries { stamp: Some(stamp), ..Entries::default() };
        }
        entries.answer_bytes += answer.body.len();
        let org_id = caller.org.id;
        entries.callers.insert(key.token_hash, caller);
        entries.answers.entry(org_id).or_default().insert(key.target, answer);
    }
}

impl AppState {
    /// The key of a point read of `uri` by `credentials`.
    pub(crate) fn read_key(&self, credentials: &Credentials, uri: &Uri) -> ReadKey {
        ReadKey {
            stamp: self.directory.store.change_stamp(),
            token_hash: directory::keys::hash_token(&credentials.token),
            target: uri.path_and_query().map_or_else(|| uri.path().to_string(), |pq| pq.as_str().to_string()),
        }
    }

    /// The answer kept for `key`, if it is still current and its key still
    /// lets the caller in (then the caller is admitted as usual).
    pub(crate) fn kept_answer(&self, key: &ReadKey, credentials: &Credentials) -> Option<Answer> {
        let (caller, answer) = self.reads.get(key)?;
        if !directory::admin::is_usable(&caller, &key.token_hash) {
            return None;
        }
        admit(Some(caller), credentials.log_slot.as_ref()).ok()?;
        Some(answer)
    }

    /// [`AppState::authorized_point_read`], answered by `render`, and kept
    /// for the next identical request while nothing is committed.
    pub(crate) async fn read_and_keep<T: Send + 'static>(
        &self,
        key: ReadKey,
        credentials: Credentials,
        work: impl FnMut(&mut dyn Tx, i64) -> Result<T, DirectoryError> + Send + 'static,
        render: impl FnOnce(T) -> Answer,
    ) -> Result<Answer, ApiError> {
        let (value, caller) = self.authorized_read(key.token_hash.clone(), credentials.log_slot.as_ref(), work).await?;
        let answer = render(value);
        self.reads.put(key, caller, answer.clone());
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use directory::keys::ApiKeyRecord;

    fn caller(org_id: i64) -> Authenticated {
        let org = directory::Org {
            id: org_id,
            name: format!("org{org_id}"),
            username_policy: directory::UsernamePolicy::default(),
            scim_default_state: directory::UserState::Activated,
            created: String::new(),
        };
        let key = ApiKeyRecord {
            id: "k".into(),
            org_id,
            name: "k".into(),
            role: directory::Role::Administrator,
            principal: "p".into(),
            token_hash: String::new(),
            token_hint: String::new(),
            created: String::new(),
            expires_at: None,
            revoked_at: None,
        };
        Authenticated { org, key }
    }

    fn key(stamp: u8, token: &str, target: &str) -> ReadKey {
        ReadKey { stamp: Some(ChangeStamp([stamp; 48])), token_hash: token.into(), target: target.into() }
    }

    fn answer(body: &'static str) -> Answer {
        Answer { body: Bytes::from_static(body.as_bytes()), etag: None }
    }

    #[test]
    fn an_answer_is_kept_only_for_its_stamp_caller_and_target() {
        let cache = ReadCache::new(1 << 20);
        cache.put(key(1, "k1", "/Users/a"), caller(7), answer("a"));
        assert_eq!(cache.get(&key(1, "k1", "/Users/a")).map(|(_, a)| a.body), Some(Bytes::from_static(b"a")));
        assert!(cache.get(&key(1, "k1", "/Users/b")).is_none(), "another target");
        assert!(cache.get(&key(1, "k2", "/Users/a")).is_none(), "an unknown key");
        // Another stamp (a commit happened) empties the cache, also for the old stamp.
        assert!(cache.get(&key(2, "k1", "/Users/a")).is_none());
        assert!(cache.get(&key(1, "k1", "/Users/a")).is_none());
        // No stamp: nothing is kept or found.
        let unstamped = ReadKey { stamp: None, token_hash: "k1".into(), target: "/Users/a".into() };
        cache.put(unstamped, caller(7), answer("a"));
        assert!(cache.get(&ReadKey { stamp: None, token_hash: "k1".into(), target: "/Users/a".into() }).is_none());
    }

    #[test]
    fn organisations_do_not_share_answers() {
        let cache = ReadCache::new(1 << 20);
        cache.put(key(1, "k1", "/Users/a"), caller(7), answer("org 7"));
        cache.put(key(1, "k2", "/Users/b"), caller(8), answer("org 8"));
        assert!(cache.get(&key(1, "k2", "/Users/a")).is_none(), "org 8's key must not see org 7's answer");
        assert_eq!(cache.get(&key(1, "k2", "/Users/b")).map(|(c, _)| c.org.id), Some(8));
    }

    #[test]
    fn a_cache_of_no_bytes_keeps_nothing() {
        let cache = ReadCache::new(0);
        cache.put(key(1, "k", "/1"), caller(1), answer("a"));
        assert!(cache.get(&key(1, "k", "/1")).is_none());
    }

    #[test]
    fn the_cache_starts_over_when_full() {
        let cache = ReadCache::new(1 << 20);
        let big = Bytes::from(vec![b'x'; (1 << 19) + 1]);
        cache.put(key(1, "k", "/1"), caller(1), Answer { body: big.clone(), etag: None });
        cache.put(key(1, "k", "/2"), caller(1), Answer { body: big, etag: None });
        assert!(cache.get(&key(1, "k", "/1")).is_none());
        assert!(cache.get(&key(1, "k", "/2")).is_some());
    }
}
