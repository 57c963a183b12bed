//! The single-flight machinery: starting a job as its own task under the overall
//! deadline, sharing its outcome with every waiter, and applying it to the core under
//! the epoch/generation rules.

use futures::future::{BoxFuture, Either, FutureExt as _, Shared};
use trustyconvert_protocol::{paths, ErrorType};

use super::{
    backoff, remember_closed, Core, SessionEvent, SessionManager, SessionSnapshot, Settled,
};
use crate::counters::Counters;
use crate::error::ClientError;

/// The shared outcome of one flight; every clone resolves to the same result.
pub(crate) type Flight = Shared<BoxFuture<'static, Result<SessionSnapshot, ClientError>>>;

/// A flight in progress, as the core tracks it.
pub(crate) struct FlightSlot {
    pub generation: u64,
    pub forced: bool,
    pub flight: Flight,
}

/// What a flight does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Job {
    /// Adopt an existing session if a token is visible, else initialize.
    SyncThenInit,
    /// `GET /api/session/init`.
    Init,
    /// `GET /api/session/init?force=true`.
    ForceInit,
    /// Fetch the session's current token (`GET /api/session`). A 401 is returned, not
    /// repaired here: re-initializing is the init flight's job alone.
    Refresh,
}

pub(crate) fn is_no_session(error: &ClientError) -> bool {
    error.kind() == Some(ErrorType::SessionValidationError)
}

/// Lives inside a flight's task. If the task is dropped before it finished (its runtime
/// shut down), it clears the flight's slot, so later callers start afresh instead of
/// joining a flight that will never answer.
struct SlotJanitor {
    manager: SessionManager,
    job: Job,
    generation: u64,
    finished: bool,
}

impl SlotJanitor {
    /// The flight finished and cleared its own slot.
    fn dismiss(&mut self) {
        self.finished = true;
    }
}

impl Drop for SlotJanitor {
    fn drop(&mut self) {
        if !self.finished {
            let (job, generation) = (self.job, self.generation);
            self.manager.update(|core| {
                let slot = slot_of(core, job);
                if slot.as_ref().is_some_and(|s| s.generation == generation) {
                    *slot = None;
                }
            });
        }
    }
}

fn slot_of(core: &mut Core, job: Job) -> &mut Option<FlightSlot> {
    match job {
        Job::Refresh => &mut core.refresh,
        Job::SyncThenInit | Job::Init | Job::ForceInit => &mut core.init,
    }
}

impl SessionManager {
    /// Prepares `job` as a task owned by the manager and returns its slot. The caller
    /// stores the slot in the core while still holding the lock; the task is spawned
    /// when the lock is released (`update`).
    pub(super) fn start_flight(&self, core: &mut Core, job: Job) -> FlightSlot {
        let generation = core.next_generation;
        core.next_generation += 1;
        let epoch = core.epoch;
        let (tx, rx) = futures::channel::oneshot::channel();
        let mut janitor = SlotJanitor {
            manager: self.clone(),
            job,
            generation,
            finished: false,
        };
        let after_close = core.closing.as_ref().map(|(_, settled)| settled.clone());
        core.launches.push(Box::new(move || {
            crate::runtime::spawn(async move {
                let manager = janitor.manager.clone();
                let outcome = manager.run_with_deadline(job, after_close).await;
                let result = manager.finish(job, generation, epoch, outcome);
                janitor.dismiss();
                let _ = tx.send(result);
            });
        }));
        let flight = rx.map(|received| received.unwrap_or(Err(ClientError::Interrupted)));
        FlightSlot {
            generation,
            forced: job == Job::ForceInit,
            flight: flight.boxed().shared(),
        }
    }

    /// Runs `job` (after a close in progress has settled), giving up at `init_deadline`
    /// (the request in progress is dropped, which closes its connection or aborts its
    /// `fetch`).
    async fn run_with_deadline(
        &self,
        job: Job,
        after_close: Option<Settled>,
    ) -> Result<SessionSnapshot, ClientError> {
        let deadline = self.inner.config.init_deadline;
        let work = Box::pin(async move {
            if let Some(settled) = after_close {
                settled.await;
            }
            self.run(job).await
        });
        match futures::future::select(work, crate::runtime::sleep(deadline)).await {
            Either::Left((outcome, _)) => outcome,
            Either::Right(_) => Err(ClientError::Timeout(format!(
                "no session within {}",
                humantime::format_duration(deadline)
            ))),
        }
    }

    async fn run(&self, job: Job) -> Result<SessionSnapshot, ClientError> {
        let counters = &self.inner.counters;
        match job {
            Job::SyncThenInit => {
                if self
                    .inner
                    .transport
                    .cookie(&self.inner.config.csrf_cookie_name)
                    .is_some()
                {
                    Counters::bump(&counters.sync_requests);
                    if let Ok(session) = self.fetch_session(paths::SESSION).await {
                        return Ok(session);
                    }
                }
                self.init_with_retries(paths::SESSION_INIT).await
            }
            Job::Init => self.init_with_retries(paths::SESSION_INIT).await,
            Job::ForceInit => self.init_with_retries(paths::SESSION_INIT_FORCED).await,
            Job::Refresh => {
                Counters::bump(&counters.csrf_refreshes);
                self.fetch_session(paths::SESSION).await
            }
        }
    }

    /// One initialization: transient failures are retried with bounded, jittered backoff.
    async fn init_with_retries(&self, path: &str) -> Result<SessionSnapshot, ClientError> {
        let config = &self.inner.config;
        let mut attempt = 0;
        loop {
            Counters::bump(&self.inner.counters.init_requests);
            match self.fetch_session(path).await {
                Err(error) if error.is_transient() && attempt + 1 < config.max_init_attempts => {
                    let delay = backoff::delay(attempt, config, error.retry_after_secs());
                    self.inner.clock.sleep(delay).await;
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    /// Applies a finished flight's outcome under the epoch and generation rules and
    /// returns what its waiters get.
    fn finish(
        &self,
        job: Job,
        generation: u64,
        epoch: u64,
        outcome: Result<SessionSnapshot, ClientError>,
    ) -> Result<SessionSnapshot, ClientError> {
        self.update(|core| {
            let slot = slot_of(core, job);
            // Only this flight's own slot: a newer flight in the same slot stays joinable.
            if slot.as_ref().is_some_and(|s| s.generation == generation) {
                *slot = None;
            }
            if let (Some(_), Ok(snapshot)) = (&core.closing, &outcome) {
                // The close in progress closes the session the cookie jar names, which
                // is the one this flight just obtained: never adopt it later.
                remember_closed(core, snapshot.id.clone());
            }
            if core.epoch != epoch || core.closing.is_some() {
                // A reset or close happened meanwhile (flights started during a close
                // run only after it settled): it wins, this result is dropped.
                return Err(ClientError::Superseded);
            }
            let newest = generation > core.applied_generation;
            match outcome {
                Ok(snapshot) if newest => {
                    core.applied_generation = generation;
                    let event = match &core.session {
                        Some(held) if held.id == snapshot.id => (held.csrf_token
                            != snapshot.csrf_token)
                            .then(|| SessionEvent::Rotated(snapshot.clone())),
                        _ => Some(SessionEvent::Initialized(snapshot.clone())),
                    };
                    if let Some(event) = event {
                        self.inner.events.publish(event);
                    }
                    core.session = Some(snapshot.clone());
                    core.last_success_at = Some(self.inner.clock.now_millis());
                    core.last_error = None;
                    core.sync_first = false;
                    Ok(snapshot)
                }
                // A newer flight already applied its session: never undo it.
                Ok(snapshot) => Ok(core.session.clone().unwrap_or(snapshot)),
                Err(error) => {
                    // A refresh that finds no session hands over to the init flight;
                    // that is not a failure yet.
                    let handed_over = job == Job::Refresh && is_no_session(&error);
                    if newest && !handed_over {
                        core.last_error = Some(error.clone());
                    }
                    Err(error)
                }
            }
        })
    }
}
