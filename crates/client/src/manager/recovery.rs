//! Repairing a refused token or a dead session, and keeping in step with other holders
//! of the same session (other browser tabs, other managers sharing a cookie jar).
//!
//! Every repair is tied to the token that failed: if that token is no longer the one
//! held, somebody already repaired it and the held session is returned without I/O.
//! A repair on behalf of a request is also tied to the request's epoch: a response from
//! before a reset or close never starts an init.

use trustyconvert_protocol::CsrfTokenResponse;

use super::flight::{is_no_session, Flight, Job};
use super::{Core, SessionEvent, SessionManager, SessionSnapshot, Ticket};
use crate::error::ClientError;

/// How the visible CSRF cookie compares with the token held (see
/// [`SessionManager::check_cookie`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieCheck {
    /// The cookie carries the held token.
    Matches,
    /// The cookie carries another token (rotated, or a new session, elsewhere).
    Changed(String),
    /// A token is held but no cookie is visible (the session was closed elsewhere, or
    /// the cookie expired).
    Missing,
    /// No token is held.
    NothingHeld,
}

/// Who asks for a repair.
#[derive(Debug, Clone, Copy)]
enum Origin {
    /// An API call that was sent in this epoch.
    Request { epoch: u64 },
    /// Someone outside the manager (a `csrf:error` event): acts only on the token held.
    Outside,
}

impl Origin {
    /// The origin of a request sent with `ticket`.
    fn of(ticket: &Ticket) -> Self {
        Self::Request {
            epoch: ticket.epoch,
        }
    }
}

/// The next step of a repair, decided under the lock.
enum Step {
    Done(Result<SessionSnapshot, ClientError>),
    Wait(Flight),
}

impl SessionManager {
    /// After a 403 for `failed_token`: if that token is still the one held, repairs it
    /// (adopting a newer visible cookie, else one `GET /api/session` shared by every
    /// caller; a session found dead hands over to the single init flight) and returns
    /// the repaired session. If another token is held, returns that session at once.
    /// If none is held (reset or closed meanwhile), returns `Superseded` without I/O.
    ///
    /// This is what a browser's `csrf:error` event handler calls.
    pub async fn recover_csrf(&self, failed_token: &str) -> Result<SessionSnapshot, ClientError> {
        self.recover_csrf_from(Origin::Outside, failed_token).await
    }

    /// After a 401 for `failed_token`: if that token is still the one held, drops the
    /// session and joins or starts the single re-initialization. Same rules as
    /// [`recover_csrf`](Self::recover_csrf) otherwise.
    pub async fn recover_session(
        &self,
        failed_token: &str,
    ) -> Result<SessionSnapshot, ClientError> {
        self.recover_session_from(Origin::Outside, failed_token)
            .await
    }

    /// [`recover_csrf`](Self::recover_csrf) for a request sent with `ticket`.
    pub(crate) async fn recover_csrf_for(
        &self,
        ticket: &Ticket,
    ) -> Result<SessionSnapshot, ClientError> {
        self.recover_csrf_from(Origin::of(ticket), &ticket.session.csrf_token)
            .await
    }

    /// [`recover_session`](Self::recover_session) for a request sent with `ticket`.
    pub(crate) async fn recover_session_for(
        &self,
        ticket: &Ticket,
    ) -> Result<SessionSnapshot, ClientError> {
        self.recover_session_from(Origin::of(ticket), &ticket.session.csrf_token)
            .await
    }

    async fn recover_csrf_from(
        &self,
        origin: Origin,
        failed: &str,
    ) -> Result<SessionSnapshot, ClientError> {
        let step = self.update(|core| {
            if let Some(done) = settled(core, origin, failed) {
                return done;
            }
            if core.session.is_none() {
                // A re-init (after a 401) is under way or just failed: that flight, or
                // a new one in this same epoch, is the repair.
                return Step::Wait(self.join_or_start_init(core, false).0);
            }
            let visible = self
                .inner
                .transport
                .cookie(&self.inner.config.csrf_cookie_name)
                .filter(|visible| visible != failed);
            if let (Some(visible), Some(session)) = (visible, core.session.as_mut()) {
                // Another tab or request already received the newer token.
                session.csrf_token = visible.into();
                return Step::Done(Ok(session.clone()));
            }
            if let Some(slot) = &core.refresh {
                return Step::Wait(slot.flight.clone());
            }
            self.inner.events.publish(SessionEvent::CsrfRejected {
                token: failed.to_owned(),
            });
            let slot = self.start_flight(core, Job::Refresh);
            let flight = slot.flight.clone();
            core.refresh = Some(slot);
            Step::Wait(flight)
        });
        let refreshed = match step {
            Step::Done(outcome) => return outcome,
            Step::Wait(flight) => flight.await,
        };
        match refreshed {
            // The session itself is gone: the one re-initialization repairs it.
            Err(error) if is_no_session(&error) => self.recover_session_from(origin, failed).await,
            other => other,
        }
    }

    async fn recover_session_from(
        &self,
        origin: Origin,
        failed: &str,
    ) -> Result<SessionSnapshot, ClientError> {
        let step = self.update(|core| {
            if let Some(done) = settled(core, origin, failed) {
                return done;
            }
            // Not throttled: the session is known bad.
            core.session = None;
            core.sync_first = false;
            Step::Wait(self.join_or_start_init(core, false).0)
        });
        match step {
            Step::Done(outcome) => outcome,
            Step::Wait(flight) => flight.await,
        }
    }

    /// Takes over a session another holder obtained (a message from another tab),
    /// under the generation rules: it counts as the newest result, so an older flight
    /// still in progress can never overwrite it. Returns whether it was taken. Emits
    /// no event.
    ///
    /// Never revives a closed session. Ignored (returns `false`):
    /// - while a close is in progress;
    /// - if it was obtained (`obtained_at_millis`) at or before the moment the current
    ///   epoch began (a reset or close here) or the last close settled: it may be the
    ///   very session closed, announced late. This compares the announcer's clock with
    ///   this one; the tabs of one browser share `Date.now()`;
    /// - if it is a session this manager closed (whatever its clock says);
    /// - if it is what is held already, older than what is held, or expired.
    ///
    /// A live session refused this way is still found through the server (its cookie)
    /// by the next initialization.
    pub fn adopt(&self, session: SessionSnapshot) -> bool {
        let now = self.inner.clock.now_millis();
        self.update(|core| {
            if !core.admits(&session, now) {
                return false;
            }
            core.applied_generation = core.next_generation;
            core.next_generation += 1;
            core.session = Some(session);
            core.last_success_at = Some(now);
            core.last_error = None;
            core.sync_first = false;
            true
        })
    }

    /// Compares the visible CSRF cookie with the held token, without I/O (a browser
    /// tab coming back into view calls this first).
    pub fn check_cookie(&self) -> CookieCheck {
        let visible = self
            .inner
            .transport
            .cookie(&self.inner.config.csrf_cookie_name);
        match (self.csrf_token(), visible) {
            (None, _) => CookieCheck::NothingHeld,
            (Some(_), None) => CookieCheck::Missing,
            (Some(held), Some(visible)) if held == visible => CookieCheck::Matches,
            (Some(_), Some(visible)) => CookieCheck::Changed(visible),
        }
    }

    /// Adopts the token of an explicit rotation (`POST /api/session/csrf`) that was
    /// sent at `sent_at` with `ticket`, into that same session only; a reset or a
    /// close meanwhile wins.
    pub(crate) fn adopt_rotated(&self, ticket: &Ticket, rotated: &CsrfTokenResponse, sent_at: i64) {
        let lifetime = i64::try_from(rotated.expires_in.saturating_mul(1000)).unwrap_or(i64::MAX);
        self.update(|core| {
            if core.epoch != ticket.epoch || core.closing.is_some() {
                return;
            }
            let Some(session) = core.session.as_mut() else {
                return;
            };
            if session.id != ticket.session.id || *session.csrf_token == *rotated.csrf_token {
                return;
            }
            session.csrf_token = rotated.csrf_token.as_str().into();
            session.expires_at = rotated.expires_at.as_str().into();
            session.expires_at_millis = sent_at.saturating_add(lifetime);
            session.obtained_at_millis = sent_at;
            let event = SessionEvent::Rotated(session.clone());
            self.inner.events.publish(event);
        });
    }

    /// The token to present when no session may be created: the one held, or the one
    /// visible in the cookie.
    pub(crate) fn held_token(&self) -> Option<String> {
        self.csrf_token().or_else(|| {
            self.inner
                .transport
                .cookie(&self.inner.config.csrf_cookie_name)
        })
    }
}

/// A repair that needs no work: the request is from an older epoch (`Superseded`), the
/// failed token was already replaced (the held session), or, asked from outside, no
/// session is held at all (`Superseded`: it was reset or closed).
fn settled(core: &Core, origin: Origin, failed: &str) -> Option<Step> {
    if let Origin::Request { epoch } = origin {
        if epoch != core.epoch {
            return Some(Step::Done(Err(ClientError::Superseded)));
        }
    }
    match (&core.session, origin) {
        (Some(held), _) if *held.csrf_token != *failed => Some(Step::Done(Ok(held.clone()))),
        (None, Origin::Outside) => Some(Step::Done(Err(ClientError::Superseded))),
        _ => None,
    }
}
