//! The single-flight machinery: starting a job as its own task, sharing its outcome
//! with every waiter, and applying it to the core under the epoch/generation rules.

use futures::future::{BoxFuture, FutureExt as _, Shared};
use trustyconvert_protocol::ErrorType;

use super::{backoff, Core, SessionManager, SessionSnapshot};
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
    /// Fetch the current token (`GET /api/session`); re-initialize if the session is gone.
    Refresh,
}

const INIT_PATH: &str = "/api/session/init";
const FORCE_INIT_PATH: &str = "/api/session/init?force=true";
const STATUS_PATH: &str = "/api/session";

fn is_no_session(error: &ClientError) -> bool {
    error.kind() == Some(ErrorType::SessionValidationError)
}

impl SessionManager {
    /// Starts `job` as a task owned by the manager and returns its slot. The caller
    /// stores the slot in the core while still holding the lock.
    pub(super) fn start_flight(&self, core: &mut Core, job: Job) -> FlightSlot {
        let generation = core.next_generation;
        core.next_generation += 1;
        let epoch = core.epoch;
        let (tx, rx) = futures::channel::oneshot::channel();
        let manager = self.clone();
        crate::runtime::spawn(async move {
            let outcome = manager.run(job).await;
            let _ = tx.send(manager.finish(job, generation, epoch, outcome));
        });
        let flight = rx.map(|received| received.unwrap_or(Err(ClientError::Superseded)));
        FlightSlot {
            generation,
            forced: job == Job::ForceInit,
            flight: flight.boxed().shared(),
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
                    if let Ok(session) = self.fetch_session(STATUS_PATH).await {
                        return Ok(session);
                    }
                }
                self.init_with_retries(INIT_PATH).await
            }
            Job::Init => self.init_with_retries(INIT_PATH).await,
            Job::ForceInit => self.init_with_retries(FORCE_INIT_PATH).await,
            Job::Refresh => {
                Counters::bump(&counters.csrf_refreshes);
                match self.fetch_session(STATUS_PATH).await {
                    Err(error) if is_no_session(&error) => self.init_with_retries(INIT_PATH).await,
                    other => other,
                }
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
        let mut core = self.lock();
        let slot = if job == Job::Refresh {
            &mut core.refresh
        } else {
            &mut core.init
        };
        if slot.as_ref().is_some_and(|s| s.generation == generation) {
            *slot = None;
        }
        if core.epoch != epoch {
            // A reset happened meanwhile: the reset wins, this result is dropped.
            self.publish(&core);
            return Err(ClientError::Superseded);
        }
        let newest = generation > core.applied_generation;
        let result = match outcome {
            Ok(snapshot) if newest => {
                core.applied_generation = generation;
                core.session = Some(snapshot.clone());
                core.last_success_at = Some(self.inner.clock.now_millis());
                core.last_error = None;
                core.sync_first = false;
                Ok(snapshot)
            }
            // A newer flight already applied its session: never undo it.
            Ok(snapshot) => Ok(core.session.clone().unwrap_or(snapshot)),
            Err(error) => {
                if newest {
                    core.last_error = Some(error.clone());
                }
                Err(error)
            }
        };
        self.publish(&core);
        result
    }
}
