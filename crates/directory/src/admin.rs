//! Organisations and API keys: what `roster org …` and `roster apikey …` do,
//! and what `roster serve` does on an empty database.

use crate::keys::{self, ApiKeyRecord};
use crate::model::{Org, Role, UserState, UsernamePolicy};
use crate::store::{self, ChangeStamp, Store, Tx};
use crate::{now_rfc3339, DirectoryError};
use scim::ScimError;
use std::collections::HashMap;
use std::sync::Mutex;

/// Creates an organisation. Names are unique.
pub fn create_org(
    store: &dyn Store,
    name: &str,
    policy: UsernamePolicy,
    scim_default_state: UserState,
) -> Result<Org, DirectoryError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ScimError::invalid_value("An organisation needs a name.").into());
    }
    store::write(store, |tx| insert_org(tx, name, policy, scim_default_state))
}

fn insert_org(tx: &mut dyn Tx, name: &str, policy: UsernamePolicy, state: UserState) -> Result<Org, DirectoryError> {
    if tx.org_by_name(name)?.is_some() {
        return Err(DirectoryError::Conflict(format!("An organisation named \"{name}\" already exists.")));
    }
    let mut org = Org {
        id: 0,
        name: name.to_string(),
        username_policy: policy,
        scim_default_state: state,
        created: now_rfc3339(),
    };
    org.id = tx.insert_org(&org)?;
    Ok(org)
}

/// Changes an organisation's settings.
pub fn update_org(
    store: &dyn Store,
    name: &str,
    policy: Option<UsernamePolicy>,
    scim_default_state: Option<UserState>,
) -> Result<Org, DirectoryError> {
    store::write(store, |tx| {
        let mut org = find_org(tx, name)?;
        if let Some(p) = policy {
            org.username_policy = p;
        }
        if let Some(s) = scim_default_state {
            org.scim_default_state = s;
        }
        tx.update_org(&org)?;
        Ok(org)
    })
}

pub fn list_orgs(store: &dyn Store) -> Result<Vec<Org>, DirectoryError> {
    store::read(store, |tx| tx.list_orgs())
}

fn find_org(tx: &mut dyn Tx, name: &str) -> Result<Org, DirectoryError> {
    tx.org_by_name(name)?.ok_or_else(|| DirectoryError::NotFound(format!("No organisation named \"{name}\".")))
}

/// A new key and the token, which is shown once and never stored.
pub struct IssuedKey {
    pub record: ApiKeyRecord,
    pub token: String,
}

/// Issues a service-account key for `org_name`. `token` overrides the random
/// token (for automated deployments); it must be at least 16 characters.
pub fn create_api_key(
    store: &dyn Store,
    org_name: &str,
    role: Role,
    label: Option<&str>,
    expires_at: Option<String>,
    token: Option<String>,
) -> Result<IssuedKey, DirectoryError> {
    let token = token.unwrap_or_else(keys::generate_token);
    store::write(store, |tx| {
        let org = find_org(tx, org_name)?;
        issue(tx, &org, role, label, expires_at.clone(), &token)
    })
}

fn issue(
    tx: &mut dyn Tx,
    org: &Org,
    role: Role,
    label: Option<&str>,
    expires_at: Option<String>,
    token: &str,
) -> Result<IssuedKey, DirectoryError> {
    if token.len() < 16 {
        return Err(ScimError::invalid_value("A token must be at least 16 characters long.").into());
    }
    let id = keys::generate_key_id();
    let name = label.unwrap_or("service account").to_string();
    let record = ApiKeyRecord {
        principal: format!("service-account:{name}"),
        id,
        org_id: org.id,
        name,
        role,
        token_hash: keys::hash_token(token),
        token_hint: keys::token_hint(token),
        created: now_rfc3339(),
        expires_at,
        revoked_at: None,
    };
    tx.insert_api_key(&record)?;
    Ok(IssuedKey { record, token: token.to_string() })
}

pub fn list_api_keys(store: &dyn Store, org_name: &str) -> Result<Vec<ApiKeyRecord>, DirectoryError> {
    store::read(store, |tx| {
        let org = find_org(tx, org_name)?;
        tx.list_api_keys(org.id)
    })
}

pub fn revoke_api_key(store: &dyn Store, org_name: &str, key_id: &str) -> Result<(), DirectoryError> {
    store::write(store, |tx| {
        let org = find_org(tx, org_name)?;
        if tx.revoke_api_key(org.id, key_id, &now_rfc3339())? {
            Ok(())
        } else {
            Err(DirectoryError::NotFound(format!("No active key {key_id} in organisation \"{org_name}\".")))
        }
    })
}

/// On an empty database, creates the first organisation and an Administrator
/// service-account key, in one transaction (two instances starting at once
/// cannot both bootstrap). Returns `None` when the database is not empty.
pub fn bootstrap(store: &dyn Store, token: Option<String>) -> Result<Option<(Org, IssuedKey)>, DirectoryError> {
    let token = token.unwrap_or_else(keys::generate_token);
    store::write(store, |tx| {
        if !tx.list_orgs()?.is_empty() {
            return Ok(None);
        }
        let org = insert_org(tx, "default", UsernamePolicy::Strict, UserState::Activated)?;
        let key = issue(tx, &org, Role::Administrator, Some("Entra ID provisioning"), None, &token)?;
        Ok(Some((org, key)))
    })
}

/// What a presented token resolves to.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub org: Org,
    pub key: ApiKeyRecord,
}

/// Keys and organisations this process has read for authentication, each
/// with the [`Tx::auth_generation`] it was read at. An entry is used only
/// while the database still reports that generation, so a key revoked or an
/// organisation changed anywhere (another instance, the CLI) is read afresh
/// by the next request: one integer is read per request instead of a key and
/// an organisation. Where the store has a [`Store::change_stamp`], an entry
/// also remembers the last stamp it was confirmed at: while the store still
/// reports that stamp nothing at all was committed, so the entry holds
/// without any read ([`AuthCache::with_unchanged`]).
#[derive(Debug, Default)]
pub struct AuthCache {
    entries: Mutex<HashMap<String, AuthEntry>>,
}

#[derive(Debug)]
struct AuthEntry {
    generation: i64,
    confirmed_at: Option<ChangeStamp>,
    auth: Authenticated,
}

/// Tokens remembered at most; beyond, the cache starts over.
const AUTH_CACHE_ENTRIES: usize = 1024;

impl AuthCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, AuthEntry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Calls `f` with the caller of `token_hash` if its entry was confirmed
    /// at `stamp` (nothing committed since) and it may still come in (see
    /// [`is_usable`]); `None` otherwise. Nothing is read or copied.
    pub fn with_unchanged<R>(
        &self,
        token_hash: &str,
        stamp: &ChangeStamp,
        f: impl FnOnce(&Authenticated) -> R,
    ) -> Option<R> {
        let entries = self.lock();
        let entry = entries.get(token_hash).filter(|e| e.confirmed_at.as_ref() == Some(stamp))?;
        is_usable(&entry.auth, token_hash).then(|| f(&entry.auth))
    }

    /// The entry read at `generation`, now confirmed at `stamp`.
    fn get(&self, hash: &str, generation: i64, stamp: Option<ChangeStamp>) -> Option<Authenticated> {
        let mut entries = self.lock();
        let entry = entries.get_mut(hash).filter(|e| e.generation == generation)?;
        entry.confirmed_at = stamp;
        Some(entry.auth.clone())
    }

    fn put(&self, hash: String, generation: i64, stamp: Option<ChangeStamp>, auth: Authenticated) {
        let mut entries = self.lock();
        if entries.len() >= AUTH_CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(hash, AuthEntry { generation, confirmed_at: stamp, auth });
    }
}

/// Resolves a bearer token: `Ok(None)` when it is unknown, revoked or expired.
pub fn authenticate(store: &dyn Store, cache: &AuthCache, token: &str) -> Result<Option<Authenticated>, DirectoryError> {
    authenticate_hashed(store, cache, &keys::hash_token(token))
}

/// [`authenticate`] for a token already hashed with [`keys::hash_token`].
pub fn authenticate_hashed(
    store: &dyn Store,
    cache: &AuthCache,
    hash: &str,
) -> Result<Option<Authenticated>, DirectoryError> {
    let stamp = store.change_stamp();
    // The store may know the generation of the state it is in (its own
    // latest commit): then a cached entry read at that generation holds
    // without a transaction. Under writes the stamp changes with every
    // commit, so this is what spares each write's caller a read.
    if let Some(stamp) = stamp {
        let known = store.auth_generation_at(&stamp).and_then(|generation| cache.get(hash, generation, Some(stamp)));
        if let Some(auth) = known {
            return Ok(Some(auth).filter(|a| is_usable(a, hash)));
        }
    }
    // No common snapshot needed: the generation is read first, so whatever
    // is read after it is at least as new as what it stands for.
    store::read_latest(store, |tx| authenticate_in(tx, cache, hash, stamp))
}

/// [`authenticate`] inside a transaction the caller holds, for a token
/// hashed with [`keys::hash_token`]. `stamp` is the store's change stamp,
/// read before the transaction began (what it reads is at least that new).
pub fn authenticate_in(
    tx: &mut dyn Tx,
    cache: &AuthCache,
    token_hash: &str,
    stamp: Option<ChangeStamp>,
) -> Result<Option<Authenticated>, DirectoryError> {
    if let Some(auth) = stamp.as_ref().and_then(|s| cache.with_unchanged(token_hash, s, Authenticated::clone)) {
        return Ok(Some(auth));
    }
    let generation = tx.auth_generation()?;
    let found = match cache.get(token_hash, generation, stamp) {
        Some(auth) => Some(auth),
        None => match tx.api_key_by_hash(token_hash)? {
            None => None,
            Some(key) => tx.org_by_id(key.org_id)?.map(|org| {
                let auth = Authenticated { org, key };
                cache.put(token_hash.to_string(), generation, stamp, auth.clone());
                auth
            }),
        },
    };
    Ok(found.filter(|a| is_usable(a, token_hash)))
}

/// Whether a key read earlier for `token_hash` still lets its holder in.
/// Expiry moves with the clock, so it is checked on every request (the
/// clock is read only for a key that expires).
pub fn is_usable(auth: &Authenticated, token_hash: &str) -> bool {
    keys::hashes_match(token_hash, &auth.key.token_hash)
        && !auth.key.is_revoked()
        && !(auth.key.expires_at.is_some() && auth.key.is_expired(&now_rfc3339()))
}

/// What [`read_authenticated`] found: who the token belongs to (`None`:
/// unknown, revoked or expired) and the read's result (`Ok(None)`: the
/// caller was not admitted, so nothing was read).
#[derive(Debug)]
pub struct AuthenticatedRead<T> {
    pub caller: Option<Authenticated>,
    pub result: Result<Option<T>, DirectoryError>,
}

/// Authenticates a token (hashed with [`keys::hash_token`]) and, when
/// `admit` lets the caller in, runs `work` for it in the same read snapshot.
/// A request's authentication and its read then cost one transaction instead
/// of two (on SQLite a transaction's file locking is a large part of a GET).
/// `stamp` is the store's change stamp, read by the caller before this.
pub fn read_authenticated<T>(
    store: &dyn Store,
    cache: &AuthCache,
    token_hash: &str,
    stamp: Option<ChangeStamp>,
    admit: impl Fn(&Authenticated) -> bool,
    mut work: impl FnMut(&mut dyn Tx, &Authenticated) -> Result<T, DirectoryError>,
) -> AuthenticatedRead<T> {
    let mut caller = None;
    let result = store::read(store, |tx| {
        caller = authenticate_in(tx, cache, token_hash, stamp)?;
        match &caller {
            Some(auth) if admit(auth) => work(tx, auth).map(Some),
            _ => Ok(None),
        }
    });
    AuthenticatedRead { caller, result }
}

/// The newest provisioning log entries of an organisation, newest first.
pub fn recent_events(
    store: &dyn Store,
    org_name: &str,
    limit: u64,
) -> Result<Vec<crate::events::Event>, DirectoryError> {
    store::read(store, |tx| {
        let org = find_org(tx, org_name)?;
        tx.recent_events(org.id, limit)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(token_hash: &str, expires_at: Option<&str>) -> Authenticated {
        let org = Org {
            id: 7,
            name: "acme".into(),
            username_policy: UsernamePolicy::Strict,
            scim_default_state: UserState::Activated,
            created: String::new(),
        };
        let key = ApiKeyRecord {
            id: "k".into(),
            org_id: 7,
            name: "k".into(),
            role: Role::Administrator,
            principal: "p".into(),
            token_hash: token_hash.into(),
            token_hint: String::new(),
            created: String::new(),
            expires_at: expires_at.map(str::to_string),
            revoked_at: None,
        };
        Authenticated { org, key }
    }

    #[test]
    fn an_entry_holds_without_a_read_only_at_the_stamp_it_was_confirmed_at() {
        let (s1, s2) = (ChangeStamp([1; 48]), ChangeStamp([2; 48]));
        let cache = AuthCache::default();
        cache.put("h1".into(), 5, Some(s1), caller("h1", None));
        let org_of = |hash: &str, stamp: &ChangeStamp| cache.with_unchanged(hash, stamp, |a| a.org.id);
        assert_eq!(org_of("h1", &s1), Some(7));
        assert_eq!(org_of("h2", &s1), None, "an unknown key");
        assert_eq!(org_of("h1", &s2), None, "something was committed since");
        // Confirmed again (the generation is unchanged) at the new stamp.
        assert!(cache.get("h1", 5, Some(s2)).is_some());
        assert_eq!(org_of("h1", &s2), Some(7));
        assert_eq!(org_of("h1", &s1), None);
        // Read at another generation: not confirmed, and not returned.
        assert!(cache.get("h1", 6, Some(s1)).is_none());
        // Stores without stamps never skip the read.
        cache.put("h3".into(), 5, None, caller("h3", None));
        assert_eq!(org_of("h3", &s1), None);
    }

    #[test]
    fn an_expired_key_is_refused_though_nothing_changed() {
        let s1 = ChangeStamp([1; 48]);
        let cache = AuthCache::default();
        cache.put("h1".into(), 5, Some(s1), caller("h1", Some("2000-01-01T00:00:00.000Z")));
        assert_eq!(cache.with_unchanged("h1", &s1, |a| a.org.id), None);
    }
}
