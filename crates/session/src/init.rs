//! The rules of `GET /api/session/init`: join the request's live session, replace it,
//! or create one — and which of those count against the init rate limit.

use crate::error::ApiError;
use crate::http::ClientAddr;
use crate::service::ActiveSession;
use crate::store::RateAction;
use crate::time::Timestamp;
use crate::Sessions;

/// What an init request brings.
#[derive(Debug)]
pub struct InitRequest {
    /// The live session its cookie names, if any.
    pub current: Option<ActiveSession>,
    /// Whether it asks to replace that session (`?force=true`).
    pub force: bool,
    /// Whether it proves it comes from the application's own origin (or an allowed
    /// one): `Ok`, or the reason it does not (logged).
    pub proof_of_origin: Result<(), &'static str>,
    /// Who sent it, for the rate limit.
    pub client: ClientAddr,
}

impl Sessions {
    /// The session an init request gets at `now`:
    ///
    /// - a forced init with proof of origin closes the current session (the hooks
    ///   run) and creates a new one; without proof it is a plain init (a link on
    ///   another site must not be able to destroy a visitor's session and files);
    /// - a live session is extended and joined — free, not counted;
    /// - one closed meanwhile by a concurrent request is never resurrected: a new one
    ///   is created;
    /// - every creation counts against the init rate limit (429 over it), checked
    ///   before anything changes, so a refused replacement leaves the old session.
    pub async fn initialize(
        &self,
        request: InitRequest,
        now: Timestamp,
    ) -> Result<ActiveSession, ApiError> {
        let force = match (request.force, request.proof_of_origin) {
            (true, Ok(())) => true,
            (true, Err(reason)) => {
                tracing::warn!(
                    event = "force_ignored",
                    reason,
                    session = request
                        .current
                        .as_ref()
                        .map(|s| tracing::field::display(&s.record.public_id)),
                    "a request without proof of coming from this site asked to replace the session; treated as a plain init"
                );
                false
            }
            (false, _) => false,
        };
        match request.current {
            Some(old) if force => {
                self.count_creation(request.client).await?;
                self.service().close(&old.record.key).await?;
                tracing::info!(event = "session_replaced", old = %old.record.public_id, "forced re-initialization");
                self.create(now).await
            }
            Some(mut existing) => {
                if self.service().extend_now(&mut existing, now).await? {
                    return Ok(existing);
                }
                // Closed by a concurrent request: never resurrected; a new one counts
                // like any other.
                self.count_creation(request.client).await?;
                self.create(now).await
            }
            None => {
                self.count_creation(request.client).await?;
                self.create(now).await
            }
        }
    }

    /// Counts one new session by `client` against the init limit.
    async fn count_creation(&self, client: ClientAddr) -> Result<(), ApiError> {
        self.rate_limits()
            .check(RateAction::INIT, self.config().init_per_minute, client)
            .await
    }

    async fn create(&self, now: Timestamp) -> Result<ActiveSession, ApiError> {
        let session = self.service().create(now).await?;
        self.events().session_created();
        // Per-session lines are for debugging; operators count sessions in metrics.
        tracing::debug!(event = "session_created", session = %session.record.public_id, "session created");
        Ok(session)
    }
}
