//! The session store interface and its implementations.
//!
//! The HTTP layer only ever sees [`SessionStore`]; the concrete store is chosen by
//! configuration in [`open`]. Every method is a single round trip, and no method can
//! bring back a session another request deleted: updates only touch existing records.

mod memory;
mod sqlite;
mod sweeper;

use std::sync::Arc;

use async_trait::async_trait;

use crate::config::{ServerConfig, StoreKind};
use crate::crypto::{SessionKey, CSRF_NONCE_BYTES};
use crate::time::Timestamp;

pub use memory::MemoryStore;
pub use sqlite::SqliteStore;
pub use sweeper::spawn_sweeper;

/// File name of the embedded database inside the data directory.
pub const EMBEDDED_DB_FILE: &str = "trustyconvert.sqlite3";

/// A CSRF nonce that was current before the last rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviousNonce {
    /// The nonce of the previous token.
    pub nonce: [u8; CSRF_NONCE_BYTES],
    /// The end of its grace window.
    pub valid_until: Timestamp,
}

/// The CSRF part of a session: which token nonces are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsrfState {
    /// Nonce of the current token.
    pub current: [u8; CSRF_NONCE_BYTES],
    /// Nonce of the token before the last rotation, inside its grace window.
    pub previous: Option<PreviousNonce>,
}

/// One session as the store keeps it. The secret id is not in here, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Hash of the secret id; the primary key.
    pub key: SessionKey,
    /// Public handle, safe for bodies and logs.
    pub public_id: String,
    /// When the session was created.
    pub created_at: Timestamp,
    /// End of the idle timeout; moved forward by activity.
    pub idle_expires_at: Timestamp,
    /// End of the absolute timeout; never moves.
    pub absolute_expires_at: Timestamp,
    /// Which CSRF tokens are accepted.
    pub csrf: CsrfState,
}

impl SessionRecord {
    /// The earlier of the idle and the absolute expiry.
    pub fn expires_at(&self) -> Timestamp {
        self.idle_expires_at.min(self.absolute_expires_at)
    }

    /// Whether the session is still valid at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        now < self.expires_at()
    }
}

/// A store failure. The HTTP layer answers every one with 503, never fails open.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or did not answer.
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    /// A record could not be decoded.
    #[error("session store returned a corrupt record: {0}")]
    Corrupt(String),
    /// A new session collided with an existing key (practically impossible at 256 bits).
    #[error("session key already exists")]
    Duplicate,
}

/// Where sessions live. Implementations must be safe to share between requests and,
/// for shared stores, between server instances.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Adds a new session; fails with [`StoreError::Duplicate`] if the key exists.
    async fn insert(&self, record: &SessionRecord) -> Result<(), StoreError>;

    /// Reads one session. Expired records may be returned; callers check [`SessionRecord::is_live`].
    async fn load(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError>;

    /// Moves the idle expiry of an existing session. Returns `false` if it is gone.
    async fn touch(&self, key: &SessionKey, idle_expires_at: Timestamp)
        -> Result<bool, StoreError>;

    /// Replaces the CSRF state of an existing session. Returns `false` if it is gone.
    async fn set_csrf(&self, key: &SessionKey, csrf: &CsrfState) -> Result<bool, StoreError>;

    /// Deletes a session. Returns whether it existed.
    async fn delete(&self, key: &SessionKey) -> Result<bool, StoreError>;

    /// Deletes every session expired at `now`; returns how many.
    async fn sweep_expired(&self, now: Timestamp) -> Result<u64, StoreError>;

    /// A cheap round trip proving the store answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The store itself failed to open.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens the store the configuration asks for.
pub async fn open(config: &ServerConfig) -> Result<Arc<dyn SessionStore>, OpenError> {
    match config.store {
        StoreKind::Memory => Ok(Arc::new(MemoryStore::default())),
        StoreKind::Embedded => {
            crate::private_fs::create_dir_all(&config.data_dir).map_err(|source| {
                OpenError::DataDir {
                    path: config.data_dir.clone(),
                    source,
                }
            })?;
            let store = SqliteStore::open(config.data_dir.join(EMBEDDED_DB_FILE)).await?;
            Ok(Arc::new(store))
        }
    }
}

#[cfg(test)]
pub(crate) mod contract {
    //! One behavioural contract every store must pass.

    use super::*;
    use crate::crypto::{generate_csrf_nonce, generate_public_id, SessionSecret};
    use std::time::Duration;

    pub fn record(now: Timestamp, idle: Duration) -> SessionRecord {
        SessionRecord {
            key: SessionSecret::generate().store_key(),
            public_id: generate_public_id(),
            created_at: now,
            idle_expires_at: now.plus(idle),
            absolute_expires_at: now.plus(idle * 10),
            csrf: CsrfState {
                current: generate_csrf_nonce(),
                previous: None,
            },
        }
    }

    pub async fn check(store: &dyn SessionStore) {
        let now = Timestamp::now();
        let live = record(now, Duration::from_secs(60));
        store.insert(&live).await.unwrap();
        assert!(matches!(
            store.insert(&live).await,
            Err(StoreError::Duplicate)
        ));
        assert_eq!(store.load(&live.key).await.unwrap(), Some(live.clone()));

        let later = now.plus(Duration::from_secs(120));
        assert!(store.touch(&live.key, later).await.unwrap());
        assert_eq!(
            store
                .load(&live.key)
                .await
                .unwrap()
                .unwrap()
                .idle_expires_at,
            later
        );

        let csrf = CsrfState {
            current: generate_csrf_nonce(),
            previous: Some(PreviousNonce {
                nonce: live.csrf.current,
                valid_until: later,
            }),
        };
        assert!(store.set_csrf(&live.key, &csrf).await.unwrap());
        assert_eq!(store.load(&live.key).await.unwrap().unwrap().csrf, csrf);

        let expired = record(now, Duration::from_millis(1));
        store.insert(&expired).await.unwrap();
        let swept = store
            .sweep_expired(now.plus(Duration::from_secs(1)))
            .await
            .unwrap();
        assert_eq!(swept, 1);
        assert_eq!(store.load(&expired.key).await.unwrap(), None);

        assert!(store.delete(&live.key).await.unwrap());
        assert!(!store.delete(&live.key).await.unwrap());
        // Item 23: updates never resurrect a deleted session.
        assert!(!store.touch(&live.key, later).await.unwrap());
        assert!(!store.set_csrf(&live.key, &csrf).await.unwrap());
        assert_eq!(store.load(&live.key).await.unwrap(), None);
        store.ping().await.unwrap();
    }
}
