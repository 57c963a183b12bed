//! The job list's rows: one per file, chosen here or found on the server (a reload, a
//! second tab), each with its own target, state, progress, result and error.

use futures::future::AbortHandle;
use leptos::prelude::*;
use trustyconvert_client::protocol::{Format, FormatGroup, JobStatus, JobStatusResponse};
use trustyconvert_client::too_large_message;
use web_sys::File;

use super::formats::{accepted_inputs, offer, source_format};

/// Where a row stands; its name is the row's `data-state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    /// Chosen (or uploaded elsewhere), waiting for "Convert".
    Ready,
    /// The file is being sent.
    Uploading,
    /// The server converts it.
    Converting,
    /// Its result can be downloaded.
    Completed,
    /// Refused before sending, or the conversion failed: the row's error says why.
    Failed,
    /// Stopped here before it finished; it can be converted again.
    Cancelled,
}

impl RowState {
    /// The `data-state` value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Uploading => "uploading",
            Self::Converting => "converting",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Uploading or converting.
    pub fn is_running(self) -> bool {
        matches!(self, Self::Uploading | Self::Converting)
    }

    /// What a server job's status shows as.
    fn of(status: JobStatus) -> Self {
        match status {
            JobStatus::Uploaded => Self::Ready,
            JobStatus::Queued | JobStatus::Processing => Self::Converting,
            JobStatus::Completed => Self::Completed,
            _ => Self::Failed,
        }
    }
}

/// One file of the list. Cheap to copy: every part is a signal or a stored value.
#[derive(Clone, Copy)]
pub struct Row {
    /// This page's own key for the row.
    pub key: u64,
    /// The server's job, once uploaded.
    pub job_id: RwSignal<Option<String>>,
    /// The file's name.
    pub name: StoredValue<String>,
    /// The local file, until it is sent (`None` for rows found on the server).
    pub file: StoredValue<Option<File>, LocalStorage>,
    /// The targets offered for it.
    pub targets: RwSignal<Vec<Format>>,
    /// The chosen target's name.
    pub target: RwSignal<String>,
    /// Where it stands.
    pub state: RwSignal<RowState>,
    /// 0–100 while converting.
    pub progress: RwSignal<u8>,
    /// Why it failed (or was refused).
    pub error: RwSignal<Option<String>>,
    /// Once completed: the name to save the result under, and a download URL.
    pub result: RwSignal<Option<(String, String)>>,
    /// The run under way here, to stop it.
    pub run: StoredValue<Option<AbortHandle>, LocalStorage>,
}

impl Row {
    fn new(key: u64, name: String, file: Option<File>) -> Self {
        Self {
            key,
            job_id: RwSignal::new(None),
            name: StoredValue::new(name),
            file: StoredValue::new_local(file),
            targets: RwSignal::new(Vec::new()),
            target: RwSignal::new(String::new()),
            state: RwSignal::new(RowState::Ready),
            progress: RwSignal::new(0),
            error: RwSignal::new(None),
            result: RwSignal::new(None),
            run: StoredValue::new_local(None),
        }
    }

    /// A row for a file chosen here: ready with its targets (`preferred` when offered),
    /// or failed with the reason it cannot be sent (not convertible, too large).
    pub fn chosen(key: u64, file: File, groups: &[FormatGroup], preferred: &str) -> Self {
        let name = file.name();
        let size = file.size() as u64;
        let row = Self::new(key, name.clone(), Some(file));
        let found = source_format(&name).and_then(|source| offer(groups, source));
        match found.filter(|found| !found.targets.is_empty()) {
            None => row.refuse(format!(
                "{name} can't be converted here. Supported files: {}.",
                accepted_inputs(groups).join(", ")
            )),
            Some(found) if size > found.max_size => row.refuse(too_large_message(found.max_size)),
            Some(found) => row.offer(found.targets, preferred),
        }
        row
    }

    /// A row for a job found on the server.
    pub fn found(key: u64, job: &JobStatusResponse, groups: &[FormatGroup]) -> Self {
        let row = Self::new(key, job.original_filename.clone(), None);
        row.job_id.set(Some(job.job_id.clone()));
        let targets = match job.target_format {
            Some(target) => vec![target],
            None => offer(groups, job.source_format)
                .map(|found| found.targets)
                .unwrap_or_default(),
        };
        row.offer(targets, "");
        row.update(job);
        row
    }

    fn offer(&self, targets: Vec<Format>, preferred: &str) {
        let chosen = targets
            .iter()
            .find(|target| target.name() == preferred)
            .or(targets.first())
            .map(|target| target.name().to_owned())
            .unwrap_or_default();
        self.target.set(chosen);
        self.targets.set(targets);
    }

    fn refuse(&self, reason: String) {
        self.state.set(RowState::Failed);
        self.error.set(Some(reason));
    }

    /// Takes what the server says of the row's job, unless this page is running it
    /// (then its own observer is the fresher source).
    pub fn update(&self, job: &JobStatusResponse) {
        if self.run.with_value(Option::is_some) {
            return;
        }
        let state = RowState::of(job.status);
        self.state.set(state);
        self.progress.set(job.progress.min(100));
        self.error.set(match state {
            RowState::Failed => Some(
                job.failure_reason()
                    .unwrap_or("The conversion failed.")
                    .to_owned(),
            ),
            _ => None,
        });
        if let Some(target) = job.target_format {
            self.target.set(target.name().to_owned());
        }
    }

    /// Whether "Convert" takes this row: ready or cancelled, with a file here or an
    /// upload on the server, and a target.
    pub fn is_convertible(&self) -> bool {
        matches!(
            self.state.get_untracked(),
            RowState::Ready | RowState::Cancelled
        ) && (self.file.with_value(Option::is_some) || self.job_id.with_untracked(Option::is_some))
            && !self.target.with_untracked(String::is_empty)
    }

    /// Its chosen target, if it is one it offers.
    pub fn chosen_target(&self) -> Option<Format> {
        let target = Format::parse(&self.target.get_untracked())?;
        self.targets
            .with_untracked(|targets| targets.contains(&target))
            .then_some(target)
    }

    /// Stops the run under way here, if any (an upload in flight is aborted).
    pub fn stop(&self) {
        if let Some(handle) = self.run.try_update_value(Option::take).flatten() {
            handle.abort();
        }
    }
}
