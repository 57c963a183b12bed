//! How an application learns that sessions ended, to remove what it keeps with them.

use async_trait::async_trait;

use crate::crypto::SessionKey;

/// Told when sessions end, after their records are gone from the store: from then on
/// nothing can be attached to them (an application's writes are conditional on the
/// session existing), so whatever the application deletes here stays deleted.
///
/// Remove here what lives outside the store, such as a session's files; rows or keys
/// kept in the store itself are best deleted with the session record, in the same
/// step (`SqliteTables`, or a store of your own). A hook that fails to clean up should leave the rest to a sweep of its
/// own ("data whose session no longer exists"), as the calls are not retried.
///
/// ```
/// use trustyconvert_session::{async_trait, SessionHooks, SessionKey};
///
/// struct SessionFolders;
///
/// #[async_trait]
/// impl SessionHooks for SessionFolders {
///     async fn on_close(&self, session: &SessionKey) {
///         // delete the folder kept for this session
///         # let _ = session;
///     }
/// }
/// ```
#[async_trait]
pub trait SessionHooks: Send + Sync + 'static {
    /// A session was closed by its client (or replaced by a forced initialization).
    async fn on_close(&self, _session: &SessionKey) {}

    /// The sweep deleted these expired sessions.
    async fn on_expired(&self, sessions: &[SessionKey]) {
        for session in sessions {
            self.on_close(session).await;
        }
    }
}

/// Hooks that do nothing: for an application that keeps nothing with its sessions.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHooks;

impl SessionHooks for NoHooks {}
