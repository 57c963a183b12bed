//! The in-process store: a hash map behind a lock, swept like the others.

use std::collections::HashMap;
use std::sync::RwLock;

use async_trait::async_trait;

use super::{CsrfState, SessionRecord, SessionStore, StoreError};
use crate::crypto::SessionKey;
use crate::time::Timestamp;

/// Sessions held in memory; lost on restart. Expired records are swept, so memory
/// stays bounded by the number of live sessions.
#[derive(Debug, Default)]
pub struct MemoryStore {
    sessions: RwLock<HashMap<SessionKey, SessionRecord>>,
}

impl MemoryStore {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<SessionKey, SessionRecord>> {
        // A poisoned lock only means a panic elsewhere; the map itself is still consistent
        // because every mutation below is a single map operation.
        self.sessions
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<SessionKey, SessionRecord>> {
        self.sessions
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn insert(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let mut sessions = self.write();
        if sessions.contains_key(&record.key) {
            return Err(StoreError::Duplicate);
        }
        sessions.insert(record.key, record.clone());
        Ok(())
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.read().get(key).cloned())
    }

    async fn touch(
        &self,
        key: &SessionKey,
        idle_expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        Ok(self
            .write()
            .get_mut(key)
            .map(|record| record.idle_expires_at = idle_expires_at)
            .is_some())
    }

    async fn set_csrf(&self, key: &SessionKey, csrf: &CsrfState) -> Result<bool, StoreError> {
        Ok(self
            .write()
            .get_mut(key)
            .map(|record| record.csrf = *csrf)
            .is_some())
    }

    async fn delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
        Ok(self.write().remove(key).is_some())
    }

    async fn sweep_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        let mut sessions = self.write();
        let before = sessions.len();
        sessions.retain(|_, record| record.is_live(now));
        Ok((before - sessions.len()) as u64)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn memory_store_meets_the_store_contract() {
        super::super::contract::check(&super::MemoryStore::default()).await;
    }
}
