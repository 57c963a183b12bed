//! Intake: an upload is counted against its size limit as it arrives (and against the
//! session's quota once it outgrows memory), checked beyond its magic bytes, placed in
//! a new job folder, and recorded only if its session still exists and its bytes fit.

use super::service::JobService;
use super::upload::{
    duplicate_job_id, over_quota, storage_failure, IncomingUpload, PlaceError, SizeBound,
};
use crate::storage::{JobRecord, Reservation, StoreError};
use trustyconvert_session::crypto::SessionKey;
use trustyconvert_session::ApiError;
use trustyconvert_session::Timestamp;
use uuid::Uuid;

impl JobService {
    /// Starts receiving a file: bounded by the upload limit at once, and by the room
    /// left in its session's storage quota once it outgrows memory (see
    /// [`receive`](Self::receive)).
    pub fn begin_upload(&self, file_name: &str, declared_type: Option<&str>) -> IncomingUpload {
        let limits = &self.inner.limits;
        let bound = SizeBound {
            max: limits.max_upload_bytes,
            room: None,
            quota: limits.max_session_storage,
        };
        IncomingUpload::new(
            &self.inner.files.incoming_dir(),
            file_name,
            declared_type,
            bound,
        )
    }

    /// Appends `chunk` to `session`'s `upload`: 413 past the upload limit or the room
    /// left in the session's quota. That room is read from the store once, when the
    /// upload is about to outgrow memory, so nothing past it reaches the disk. A small
    /// upload (most) costs no read at all: the store step that records it reserves its
    /// bytes against the quota in any case — the one check that holds against parallel
    /// uploads — and refuses it if they do not fit.
    pub async fn receive(
        &self,
        session: &SessionKey,
        upload: &mut IncomingUpload,
        chunk: &[u8],
    ) -> Result<(), ApiError> {
        if upload.needs_room(chunk.len()) {
            let used = self.inner.store.session_storage(session).await?;
            upload.set_room(self.inner.limits.max_session_storage.saturating_sub(used));
        }
        upload.write(chunk).await
    }

    /// Checks a received file (the convert crate's input checks: type by name and
    /// magic bytes, image dimensions, packages) and stores it as job `job_id` of `session`. The file is placed first, in a job
    /// folder that must not exist yet (a duplicate id is refused before any file
    /// moves); then the record is inserted, in one store step that checks the session
    /// still exists and reserves the bytes against its quota. That step decides: if it
    /// refuses, the placed files go again — so an upload that loses a race with its
    /// session's close leaves nothing and gets the same 401 as one that came after.
    pub async fn accept_upload(
        &self,
        session: &SessionKey,
        job_id: Uuid,
        mut upload: IncomingUpload,
    ) -> Result<JobRecord, ApiError> {
        let format = upload
            .inspect(std::sync::Arc::clone(&self.inner.engines))
            .await?;
        let now = Timestamp::now();
        let job = JobRecord::uploaded(
            *session,
            job_id,
            upload.name().to_owned(),
            format,
            upload.size(),
            now,
        );
        let files = &self.inner.files;
        let job_dir = files.job_dir(session, &job_id);
        let mut placed = upload.place_new(&job_dir, super::files::INPUT).await;
        if matches!(&placed, Err(PlaceError::Io(error)) if error.kind() == std::io::ErrorKind::NotFound)
        {
            // The session's folder vanished while the file was placed: a close (the
            // store may not show it yet to this instance's cache). Placing again and
            // letting the store's conditional insert judge gives the same answer as a
            // request that came after the close.
            placed = upload.place_new(&job_dir, super::files::INPUT).await;
        }
        match placed {
            Ok(()) => {}
            Err(PlaceError::DuplicateId) => return Err(duplicate_job_id()),
            // A close removes the session's folder, also while this places a file in
            // it: that is a race lost to the close (the same 401), not a storage fault.
            Err(PlaceError::Io(error)) => {
                return Err(match self.session_exists(session).await? {
                    true => storage_failure(error),
                    false => self.closed_meanwhile(session).await,
                })
            }
        }
        let quota = self.inner.limits.max_session_storage;
        let refusal = match self.inner.store.insert_job(&job, quota).await {
            Ok(Reservation::Reserved) => return Ok(job),
            Ok(Reservation::OverQuota { .. }) => over_quota(quota),
            Ok(Reservation::Gone) => return Err(self.closed_meanwhile(session).await),
            Err(StoreError::Duplicate) => duplicate_job_id(),
            Err(error) => error.into(),
        };
        files.remove_job(session, &job_id).await;
        Err(refusal)
    }
}
