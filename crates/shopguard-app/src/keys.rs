//! API keys: create, list, revoke, and authenticate a presented key.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_utils::sync::ShardedLock;
use shopguard_core::audit::RecordClass;
use shopguard_storage::api_keys::{self, split_token};
use shopguard_storage::{ApiKeyRecord, GeneratedKey, Scope, Store};

use crate::actor::{Actor, Principal};
use crate::audit::AuditService;
use crate::clock::now_ms;
use crate::error::{ServiceError, ServiceResult};

/// How long a looked-up API key is trusted before it is read again: a revocation made
/// through another node takes effect within this time.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(1);
/// Keys held in the cache before it is cleared.
const KEY_CACHE_LIMIT: usize = 10_000;

/// Keys recently looked up, by key id, with when they were read. Every request reads it,
/// so it sits behind a sharded lock: a reader locks only its own thread's shard.
type KeyCache = ShardedLock<HashMap<String, (Arc<ApiKeyRecord>, Arc<Principal>, Instant)>>;

/// The API key service.
pub struct KeyService {
    store: Arc<dyn Store>,
    audit: Arc<AuditService>,
    cache: KeyCache,
}

impl std::fmt::Debug for KeyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyService").finish_non_exhaustive()
    }
}

/// The actor a key stands for.
pub fn key_actor(key: &ApiKeyRecord) -> Actor {
    Actor::ApiKey {
        id: key.key_id.clone(),
        name: key.name.clone(),
    }
}

fn principal_of(key: &ApiKeyRecord) -> Principal {
    let scopes = if key.revoked_at_ms.is_none() {
        key.scopes.clone()
    } else {
        Vec::new()
    };
    Principal::new(key_actor(key), scopes)
}

impl KeyService {
    /// A service over the store and the audit service.
    pub fn new(store: Arc<dyn Store>, audit: Arc<AuditService>) -> KeyService {
        KeyService {
            store,
            audit,
            cache: ShardedLock::new(HashMap::new()),
        }
    }

    /// Makes a key with `scopes`; returns it with its token, which is shown once.
    pub fn create(
        &self,
        name: &str,
        scopes: Vec<Scope>,
        actor: &Actor,
    ) -> ServiceResult<GeneratedKey> {
        if name.trim().is_empty() || name.len() > 128 {
            return Err(ServiceError::invalid("name", "name: 1 to 128 characters"));
        }
        if scopes.is_empty() {
            return Err(ServiceError::invalid("scopes", "scopes: give at least one"));
        }
        let key = api_keys::generate(name, scopes, now_ms());
        let scope_names: Vec<&str> = key
            .record
            .scopes
            .iter()
            .map(|scope| scope.as_str())
            .collect();
        let entry = self.audit.entry(
            RecordClass::AccessControl,
            actor,
            "key.create",
            format!("key:{}", key.record.key_id),
            serde_json::json!({ "name": name, "scopes": scope_names }),
        );
        self.store.insert_api_key(&key.record, &entry)?;
        self.audit.settle()?;
        Ok(key)
    }

    /// Every key, revoked or not.
    pub fn list(&self) -> ServiceResult<Vec<ApiKeyRecord>> {
        Ok(self.store.api_keys()?)
    }

    /// Whether any key exists.
    pub fn any(&self) -> ServiceResult<bool> {
        Ok(!self.store.api_keys()?.is_empty())
    }

    /// Revokes a key; `NotFound` when there is no unrevoked key with that id.
    pub fn revoke(&self, key_id: &str, actor: &Actor) -> ServiceResult<()> {
        let entry = self.audit.entry(
            RecordClass::AccessControl,
            actor,
            "key.revoke",
            format!("key:{key_id}"),
            serde_json::Value::Null,
        );
        if !self.store.revoke_api_key(key_id, now_ms(), &entry)? {
            return Err(ServiceError::NotFound(format!(
                "no active key with id {key_id}"
            )));
        }
        self.audit.settle()?;
        self.cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key_id);
        Ok(())
    }

    /// The principal behind a presented API key (`sg_<id>_<secret>`); `None` when the key
    /// is malformed, unknown, revoked or its secret wrong (compared in constant time).
    pub fn authenticate(&self, token: &str) -> ServiceResult<Option<Arc<Principal>>> {
        let Some((key_id, secret)) = split_token(token) else {
            return Ok(None);
        };
        let Some((record, principal)) = self.lookup(key_id)? else {
            return Ok(None);
        };
        if record.revoked_at_ms.is_some() || !record.secret_matches(secret) {
            return Ok(None);
        }
        Ok(Some(principal))
    }

    /// The key with this id and the principal it stands for, from the cache while fresh.
    fn lookup(&self, key_id: &str) -> ServiceResult<Option<(Arc<ApiKeyRecord>, Arc<Principal>)>> {
        {
            let cache = self
                .cache
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((record, principal, fetched)) = cache.get(key_id) {
                if fetched.elapsed() < KEY_CACHE_TTL {
                    return Ok(Some((record.clone(), principal.clone())));
                }
            }
        }
        let Some(record) = self.store.api_key(key_id)?.map(Arc::new) else {
            return Ok(None);
        };
        let principal = Arc::new(principal_of(&record));
        let mut cache = self
            .cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() > KEY_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(
            key_id.to_owned(),
            (record.clone(), principal.clone(), Instant::now()),
        );
        Ok(Some((record, principal)))
    }

    /// Whether a fresh cached entry answers for this key id without storage (the server
    /// asks before it decides to look the key up on a blocking thread).
    pub fn is_cached(&self, token: &str) -> bool {
        let Some((key_id, _)) = split_token(token) else {
            return true;
        };
        let cache = self
            .cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache
            .get(key_id)
            .is_some_and(|(_, _, fetched)| fetched.elapsed() < KEY_CACHE_TTL)
    }
}
