//! What a caller hears of a conversion while it runs.

/// Callbacks of a running [`Workflow`](super::Workflow); each has an empty default, so
/// an observer implements only what it shows.
///
/// Calls arrive in this order: [`job_created`](Self::job_created),
/// [`upload_progress`](Self::upload_progress) (zero or more), [`uploaded`](Self::uploaded), [`conversion_progress`](Self::conversion_progress)
/// (never decreasing, the last one 100 when the job completed),
/// [`converted`](Self::converted); then, for a download,
/// [`download_progress`](Self::download_progress).
pub trait Observer: Send + Sync {
    /// Bytes of the file sent so far, of `total`. Natively only: a browser's `fetch`
    /// cannot observe an upload.
    fn upload_progress(&self, _sent: u64, _total: Option<u64>) {}

    /// The id the job gets, chosen before the upload starts (the upload names it): once
    /// [`uploaded`](Self::uploaded), the job can be listed, watched or deleted by it.
    fn job_created(&self, _job_id: &str) {}

    /// The server stored the file; the conversion is asked next.
    fn uploaded(&self) {}

    /// The job's progress, 0–100, never lower than the last report.
    fn conversion_progress(&self, _percent: u8) {}

    /// The job completed: its output is ready to download.
    fn converted(&self) {}

    /// Bytes of the output received so far, of `total` when the server said it.
    fn download_progress(&self, _received: u64, _total: Option<u64>) {}
}

/// Hears nothing.
impl Observer for () {}
