//! Session lifecycle: create, resolve from a cookie, extend, rotate CSRF, close.
//!
//! [`SessionService`] is the only place that turns store records into sessions and
//! back; the routes and the layer never touch the store directly. Closing a session
//! deletes its record, then tells the application's [`SessionHooks`].

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;

use crate::config::Timeouts;
use crate::cookies::{find_cookie, CookieWriter};
use crate::crypto::{
    generate_csrf_nonce, FreshSession, Keyring, SessionKey, SessionSecret, CSRF_NONCE_BYTES,
};
use crate::csrf;
use crate::error::ApiError;
use crate::hooks::SessionHooks;
use crate::store::{
    CsrfState, CsrfSwap, PreviousNonce, ResolvedSwap, SessionRecord, SessionStore, StoreError,
};
use crate::time::Timestamp;
use trustyconvert_protocol::SessionInfo;

/// Most time between two idle-expiry writes for one session; the actual step is the
/// smaller of this and a tenth of the idle timeout.
const MAX_TOUCH_STEP: Duration = Duration::from_secs(60);

/// A live session attached to the current request.
#[derive(Debug, Clone)]
pub struct ActiveSession {
    /// The secret id from the cookie (never logged).
    pub secret: SessionSecret,
    /// The stored record, with the idle expiry as extended by this request.
    pub record: SessionRecord,
    /// The nonce of the CSRF token the request presented, once the CSRF check
    /// accepted it (unsafe requests only).
    pub presented_csrf: Option<[u8; CSRF_NONCE_BYTES]>,
    /// Whether the token was already rotated while the session was resolved (the
    /// layer does so for `POST /api/session/csrf`, in one store round trip);
    /// `record.csrf` is then the state to answer with.
    pub csrf_rotated: bool,
}

/// What [`SessionService::resolve_and_rotate`] found.
#[derive(Debug)]
pub enum Rotation {
    /// No live session: 401.
    NoSession,
    /// The presented token is neither the current one nor the previous one inside
    /// its grace window: 403.
    StaleToken,
    /// The session, its token rotated (or, if the token presented was already
    /// rotated by a concurrent request or is the previous one inside its grace, the
    /// state stored): `record.csrf` is the state to answer with.
    Rotated(ActiveSession),
}

impl ActiveSession {
    fn new(secret: SessionSecret, record: SessionRecord) -> Self {
        Self {
            secret,
            record,
            presented_csrf: None,
            csrf_rotated: false,
        }
    }
}

/// Creates, finds, extends, rotates and deletes sessions.
#[derive(Clone)]
pub struct SessionService {
    store: Arc<dyn SessionStore>,
    hooks: Arc<dyn SessionHooks>,
    keyring: Keyring,
    timeouts: Timeouts,
    cookies: CookieWriter,
}

impl SessionService {
    /// A service over `store`; `hooks` learn which sessions ended.
    pub fn new(
        store: Arc<dyn SessionStore>,
        hooks: Arc<dyn SessionHooks>,
        keyring: Keyring,
        timeouts: Timeouts,
        cookies: CookieWriter,
    ) -> Self {
        Self {
            store,
            hooks,
            keyring,
            timeouts,
            cookies,
        }
    }

    /// The cookie writer (names and attributes).
    pub fn cookies(&self) -> &CookieWriter {
        &self.cookies
    }

    /// Finds the live session named by the request's cookie and extends its idle
    /// expiry when due (at most one write per touch step): one store round trip.
    /// Unknown, expired, malformed or oversized cookies are "no session" and write
    /// nothing.
    pub async fn resolve(
        &self,
        headers: &HeaderMap,
        now: Timestamp,
    ) -> Result<Option<ActiveSession>, ApiError> {
        let Some(secret) = self.presented_secret(headers) else {
            return Ok(None);
        };
        let record = self
            .store
            .resolve_session(
                &secret.store_key(),
                now,
                self.timeouts.idle,
                self.touch_step(),
            )
            .await?;
        Ok(record
            .filter(|record| record.is_live(now))
            .map(|record| ActiveSession::new(secret, record)))
    }

    /// The session a CSRF rotation request names, resolved and its token rotated in
    /// one store step (one round trip where the store can). `key` is the secret's
    /// store key and `presented` the nonce of the request's token, whose MAC the
    /// caller verified for that key. Rotates as [`rotate_csrf`](Self::rotate_csrf)
    /// does; a token neither current nor inside its grace is [`Rotation::StaleToken`].
    /// Racing rotations are judged in the order the store runs them: the one that
    /// loses the race presents what is by then the previous token, accepted inside
    /// the grace window (with a grace of zero, refused).
    pub async fn resolve_and_rotate(
        &self,
        secret: SessionSecret,
        key: &SessionKey,
        presented: [u8; CSRF_NONCE_BYTES],
        now: Timestamp,
    ) -> Result<Rotation, ApiError> {
        let next = self.rotated_state(presented, now);
        let found = self
            .store
            .resolve_and_swap_csrf(
                key,
                now,
                self.timeouts.idle,
                self.touch_step(),
                &presented,
                &next,
            )
            .await?;
        let ResolvedSwap::Found { record, swapped } = found else {
            return Ok(Rotation::NoSession);
        };
        if !record.is_live(now) {
            return Ok(Rotation::NoSession);
        }
        if !swapped && !csrf::accepts(&record.csrf, &presented, now) {
            return Ok(Rotation::StaleToken);
        }
        let mut session = ActiveSession::new(secret, record);
        session.presented_csrf = Some(presented);
        session.csrf_rotated = true;
        Ok(Rotation::Rotated(session))
    }

    /// At most one idle-expiry write per this much time and session.
    fn touch_step(&self) -> Duration {
        (self.timeouts.idle / 10).min(MAX_TOUCH_STEP)
    }

    /// The state after rotating away from `presented`: a fresh current nonce, the
    /// presented one valid for the grace window.
    fn rotated_state(&self, presented: [u8; CSRF_NONCE_BYTES], now: Timestamp) -> CsrfState {
        CsrfState {
            current: generate_csrf_nonce(),
            previous: Some(PreviousNonce {
                nonce: presented,
                valid_until: now.plus(self.timeouts.csrf_grace),
            }),
        }
    }

    /// The session id the request's cookie names, if it has the shape of one.
    pub(crate) fn presented_secret(&self, headers: &HeaderMap) -> Option<SessionSecret> {
        find_cookie(headers, self.cookies.session_name()).and_then(SessionSecret::parse)
    }

    /// Moves the idle expiry to `now + idle` unconditionally (used by init).
    pub async fn extend_now(
        &self,
        session: &mut ActiveSession,
        now: Timestamp,
    ) -> Result<bool, ApiError> {
        self.extend(session, now.plus(self.timeouts.idle)).await
    }

    async fn extend(
        &self,
        session: &mut ActiveSession,
        target: Timestamp,
    ) -> Result<bool, ApiError> {
        let alive = self
            .store
            .touch_session(&session.record.key, target)
            .await?;
        session.record.idle_expires_at = target;
        Ok(alive)
    }

    /// Creates and stores a new session.
    pub async fn create(&self, now: Timestamp) -> Result<ActiveSession, ApiError> {
        // A collision of 256-bit ids will not happen; retrying once keeps the code honest.
        for _ in 0..2 {
            let fresh = FreshSession::generate();
            let secret = fresh.secret;
            let record = SessionRecord {
                key: secret.store_key(),
                public_id: fresh.public_id,
                created_at: now,
                idle_expires_at: now.plus(self.timeouts.idle),
                absolute_expires_at: now.plus(self.timeouts.absolute),
                csrf: CsrfState {
                    current: fresh.csrf_nonce,
                    previous: None,
                },
            };
            match self.store.insert_session(&record).await {
                Ok(()) => return Ok(ActiveSession::new(secret, record)),
                Err(StoreError::Duplicate) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        tracing::error!("two session id collisions in a row; the CSPRNG is suspect");
        Err(ApiError::internal())
    }

    /// Rotates the CSRF token the request presented: a new current nonce, the
    /// presented one valid for the grace window. A compare-and-swap: if the presented
    /// nonce is no longer current (a concurrent rotation won, or the request presented
    /// the previous token), nothing rotates and the session keeps the state stored,
    /// whose current token is the one to hand out — never a token already dead.
    /// `session.record.csrf` is the state to answer with afterwards. Returns `false`
    /// if the session was deleted meanwhile. A session whose token the layer already
    /// rotated ([`ActiveSession::csrf_rotated`]) is left as it is.
    pub async fn rotate_csrf(
        &self,
        session: &mut ActiveSession,
        now: Timestamp,
    ) -> Result<bool, ApiError> {
        if session.csrf_rotated {
            return Ok(true);
        }
        let presented = session
            .presented_csrf
            .unwrap_or(session.record.csrf.current);
        let next = self.rotated_state(presented, now);
        match self
            .store
            .swap_csrf(&session.record.key, &presented, &next)
            .await?
        {
            CsrfSwap::Swapped => session.record.csrf = next,
            CsrfSwap::Superseded(stored) => session.record.csrf = stored,
            CsrfSwap::Gone => return Ok(false),
        }
        Ok(true)
    }

    /// Ends a session: its record leaves the store, then the hooks remove what the
    /// application kept with it. Returns whether it still existed.
    pub async fn close(&self, key: &SessionKey) -> Result<bool, ApiError> {
        let existed = self.store.delete_session(key).await?;
        self.hooks.on_close(key).await;
        Ok(existed)
    }

    /// Removes every session expired at `now` and tells the hooks. Returns how many
    /// were removed.
    pub async fn sweep_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
        let swept = self.store.sweep_expired(now).await?;
        if !swept.is_empty() {
            self.hooks.on_expired(&swept).await;
        }
        Ok(swept.len())
    }

    /// The session lifetimes this service applies.
    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// The current CSRF token of a session.
    pub fn csrf_token(&self, record: &SessionRecord) -> String {
        self.keyring.sign(&record.key, &record.csrf.current)
    }

    /// The public view of a session at `now`.
    pub fn info(&self, record: &SessionRecord, now: Timestamp) -> SessionInfo {
        SessionInfo {
            id: record.public_id.clone(),
            csrf_token: self.csrf_token(record),
            expires_at: record.expires_at().to_rfc3339(),
            expires_in: now.until(record.expires_at()).as_secs(),
        }
    }

    /// `Set-Cookie` values for both cookies of `session` (its current `csrf_token`, as
    /// in its [`info`](Self::info)), living until its absolute expiry.
    pub fn issue_cookies(
        &self,
        session: &ActiveSession,
        csrf_token: &str,
        now: Timestamp,
    ) -> [axum::http::HeaderValue; 2] {
        self.cookies.issue(
            session.secret.expose(),
            csrf_token,
            now.until(session.record.absolute_expires_at),
        )
    }
}
