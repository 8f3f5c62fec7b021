//! Answers of point reads (`GET /Users/{id}`, a `userName eq` lookup), kept
//! while the store reports that nothing was committed since they were read.
//!
//! The store's [`ChangeStamp`] changes with every COMMIT by any process (a
//! second server, `roster apikey revoke`, an import), so a kept answer is
//! served only while it is exactly what a fresh read would return: every
//! entry belongs to the stamp the whole cache was filled at, and a request
//! that sees another stamp empties it. Who the caller is comes from the
//! directory's [`AuthCache`](directory::admin::AuthCache), under the same
//! rule (an entry confirmed at the current stamp); key expiry is checked on
//! every request. Stores without a stamp (PostgreSQL) never reuse answers.

use crate::auth::{admission, Credentials};
use crate::error::{scim_bytes, ApiError};
use crate::AppState;
use axum::body::Bytes;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use directory::{ChangeStamp, DirectoryError, Tx};
use std::collections::HashMap;
use std::sync::Mutex;

/// A successful read's answer: a SCIM JSON body and the resource's ETag.
#[derive(Clone)]
pub(crate) struct Answer {
    pub body: Bytes,
    pub etag: Option<HeaderValue>,
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut resp = scim_bytes(StatusCode::OK, self.body);
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
    pub(crate) token_hash: String,
    target: String,
}

pub(crate) struct ReadCache {
    entries: Mutex<Entries>,
    /// Bytes of answers kept at most; beyond, the cache starts over. 0: off.
    max_bytes: usize,
}

#[derive(Default)]
struct Entries {
    /// The stamp every answer below was read at.
    stamp: Option<ChangeStamp>,
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

    fn is_off(&self) -> bool {
        self.max_bytes == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, stamp: &ChangeStamp, org_id: i64, target: &str) -> Option<Answer> {
        let mut entries = self.lock();
        entries.at(stamp).answers.get(&org_id)?.get(target).cloned()
    }

    fn put(&self, stamp: ChangeStamp, org_id: i64, target: String, answer: Answer) {
        if answer.body.len() > self.max_bytes {
            return;
        }
        let mut entries = self.lock();
        let entries = entries.at(&stamp);
        if entries.answer_bytes + answer.body.len() > self.max_bytes {
            *entries = Entries { stamp: Some(stamp), ..Entries::default() };
        }
        entries.answer_bytes += answer.body.len();
        entries.answers.entry(org_id).or_default().insert(target, answer);
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

    /// The answer kept for `key`, if it is still current and its caller,
    /// unchanged since, still comes in (then it is admitted as usual).
    pub(crate) fn kept_answer(&self, key: &ReadKey, credentials: &Credentials) -> Option<Answer> {
        let stamp = key.stamp.as_ref().filter(|_| !self.reads.is_off())?;
        let org_id = self.directory.auth_cache.with_unchanged(&key.token_hash, stamp, |caller| {
            admission(Some(caller), credentials.log_slot.as_ref()).ok().map(|()| caller.org.id)
        })??;
        self.reads.get(stamp, org_id, &key.target)
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
        let ReadKey { stamp, token_hash, target } = key;
        let (value, org_id) = self.authorized_read(token_hash, stamp, credentials.log_slot.as_ref(), work).await?;
        let answer = render(value);
        if let Some(stamp) = stamp.filter(|_| !self.reads.is_off()) {
            self.reads.put(stamp, org_id, target, answer.clone());
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S1: ChangeStamp = ChangeStamp([1; 48]);
    const S2: ChangeStamp = ChangeStamp([2; 48]);

    fn answer(body: &'static str) -> Answer {
        Answer { body: Bytes::from_static(body.as_bytes()), etag: None }
    }

    fn body(a: Option<Answer>) -> Option<Bytes> {
        a.map(|a| a.body)
    }

    #[test]
    fn an_answer_is_kept_only_for_its_stamp_and_target() {
        let cache = ReadCache::new(1 << 20);
        cache.put(S1, 7, "/Users/a".into(), answer("a"));
        assert_eq!(body(cache.get(&S1, 7, "/Users/a")), Some(Bytes::from_static(b"a")));
        assert!(cache.get(&S1, 7, "/Users/b").is_none(), "another target");
        // Another stamp (a commit happened) empties the cache, also for the old stamp.
        assert!(cache.get(&S2, 7, "/Users/a").is_none());
        assert!(cache.get(&S1, 7, "/Users/a").is_none());
    }

    #[test]
    fn organisations_do_not_share_answers() {
        let cache = ReadCache::new(1 << 20);
        cache.put(S1, 7, "/Users/a".into(), answer("org 7"));
        cache.put(S1, 8, "/Users/b".into(), answer("org 8"));
        assert!(cache.get(&S1, 8, "/Users/a").is_none(), "org 8 must not see org 7's answer");
        assert_eq!(body(cache.get(&S1, 8, "/Users/b")), Some(Bytes::from_static(b"org 8")));
    }

    #[test]
    fn a_cache_of_no_bytes_keeps_nothing() {
        let cache = ReadCache::new(0);
        assert!(cache.is_off());
        cache.put(S1, 1, "/1".into(), answer("a"));
        assert!(cache.get(&S1, 1, "/1").is_none());
    }

    #[test]
    fn the_cache_starts_over_when_full() {
        let cache = ReadCache::new(1 << 20);
        let big = Bytes::from(vec![b'x'; (1 << 19) + 1]);
        cache.put(S1, 1, "/1".into(), Answer { body: big.clone(), etag: None });
        cache.put(S1, 1, "/2".into(), Answer { body: big, etag: None });
        assert!(cache.get(&S1, 1, "/1").is_none());
        assert!(cache.get(&S1, 1, "/2").is_some());
    }
}
