//! What the converter does when the session layer ends a session.

use async_trait::async_trait;
use trustyconvert_session::{SessionHooks, SessionKey};

use super::JobService;

/// Removes an ended session's files. Its job records and download grants left the
/// store with the session record (the backends delete them in the same step); files
/// a failed removal leaves behind are found by the maintenance sweep of jobs and files
/// whose session is gone.
#[derive(Clone)]
pub struct SessionFiles(JobService);

impl SessionFiles {
    /// Hooks over `jobs`.
    pub fn new(jobs: JobService) -> Self {
        Self(jobs)
    }
}

#[async_trait]
impl SessionHooks for SessionFiles {
    async fn on_close(&self, session: &SessionKey) {
        self.0.remove_session_files(session).await;
    }
}
