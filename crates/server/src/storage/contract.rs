//! The behaviour every storage backend must show: the session layer's store contract,
//! then the converter's jobs and grants. Each backend's tests call [`check_all`]; a
//! new backend is done when it passes.

use std::time::Duration;

use trustyconvert_protocol::{Format, JobStatus};
use uuid::Uuid;

use super::*;
use trustyconvert_session::crypto::SessionSecret;

/// Runs every part of the contract against `store`.
pub async fn check_all(store: &dyn ConverterStorage) {
    trustyconvert_session::store::contract::check_store(store).await;
    deleting_a_session_deletes_its_jobs_and_grants(store).await;
    sweeping_removes_expired_sessions_with_what_they_own(store).await;
    jobs(store).await;
    admission_is_checked_and_leased(store).await;
    active_jobs_are_those_the_protocol_calls_active(store).await;
    download_grants(store).await;
    zip_grants_keep_their_jobs_in_order(store).await;
    a_sessions_jobs_are_listed_newest_first_and_only_its_own(store).await;
    quota_is_reserved_in_the_write_that_admits_the_bytes(store).await;
    nothing_is_written_into_a_closed_session(store).await;
}

pub use trustyconvert_session::store::contract::sample_record as record;

pub(crate) fn job(session: SessionKey, now: Timestamp) -> JobRecord {
    JobRecord::uploaded(
        session,
        Uuid::new_v4(),
        "photo.png".to_owned(),
        Format::Png,
        1000,
        now,
    )
}

fn grant(job: &JobRecord, expires_at: Timestamp) -> DownloadGrant {
    DownloadGrant {
        session: job.session,
        job_id: job.job_id,
        expires_at,
        archive: Vec::new(),
    }
}

fn token() -> TokenHash {
    TokenHash(trustyconvert_session::crypto::random_bytes::<32>())
}

/// Uploads (and outputs) released together against a small quota: the bytes are
/// checked and written in one step, so together they never pass it.
async fn quota_is_reserved_in_the_write_that_admits_the_bytes(store: &dyn ConverterStorage) {
    let now = Timestamp::now();
    let owner = record(now, Duration::from_secs(60));
    store.insert_session(&owner).await.unwrap();
    let quota = 2500; // room for two jobs of 1000 bytes, not three
    let racing: Vec<JobRecord> = (0..6).map(|_| job(owner.key, now)).collect();
    let outcomes =
        futures::future::join_all(racing.iter().map(|job| store.insert_job(job, quota))).await;
    let reserved = outcomes
        .into_iter()
        .filter(|outcome| matches!(outcome, Ok(Reservation::Reserved)))
        .count();
    assert_eq!(
        reserved, 2,
        "parallel uploads never pass the quota together"
    );
    assert_eq!(store.session_storage(&owner.key).await.unwrap(), 2000);
    let mut kept = Vec::new();
    for job in &racing {
        if let Some(stored) = store.load_job(&owner.key, &job.job_id).await.unwrap() {
            kept.push(stored);
        }
    }
    assert_eq!(kept.len(), 2);

    // An output is reserved the same way: 600 more bytes do not fit, 500 do.
    let mut with_output = kept[0].clone();
    with_output.output_size = Some(600);
    assert_eq!(
        store.reserve_output(&with_output, quota).await.unwrap(),
        Reservation::OverQuota { used: 1000 }
    );
    assert_eq!(
        store
            .load_job(&owner.key, &with_output.job_id)
            .await
            .unwrap()
            .unwrap()
            .output_size,
        None,
        "a refused output writes nothing"
    );
    with_output.output_size = Some(500);
    assert_eq!(
        store.reserve_output(&with_output, quota).await.unwrap(),
        Reservation::Reserved
    );
    assert_eq!(store.session_storage(&owner.key).await.unwrap(), 2500);
    // Releasing: the job written back without its output.
    with_output.output_size = None;
    assert!(store.update_job(&with_output).await.unwrap());
    assert_eq!(store.session_storage(&owner.key).await.unwrap(), 2000);
    let missing = job(owner.key, now);
    assert_eq!(
        store.reserve_output(&missing, quota).await.unwrap(),
        Reservation::Gone,
        "an output of a job that is gone is not recorded"
    );
    store.delete_session(&owner.key).await.unwrap();
}

/// After a session is closed, no write of a request that passed the guard before the
/// close (a job, an output, a grant, a lease) lands: each is conditional on the session
/// in the same step.
async fn nothing_is_written_into_a_closed_session(store: &dyn ConverterStorage) {
    let now = Timestamp::now();
    let closed = record(now, Duration::from_secs(60));
    store.insert_session(&closed).await.unwrap();
    let mut running = job(closed.key, now);
    store.insert_job(&running, u64::MAX).await.unwrap();
    assert!(store.delete_session(&closed.key).await.unwrap());

    let late = job(closed.key, now);
    assert_eq!(
        store.insert_job(&late, u64::MAX).await.unwrap(),
        Reservation::Gone
    );
    running.status = JobStatus::Completed;
    assert!(!store.update_job(&running).await.unwrap());
    running.output_size = Some(10);
    assert_eq!(
        store.reserve_output(&running, u64::MAX).await.unwrap(),
        Reservation::Gone
    );
    store
        .renew_job_leases(&[(closed.key, running.job_id)], Duration::from_secs(60))
        .await
        .unwrap();
    let token = token();
    assert!(!store
        .insert_grant(
            &token,
            &grant(&running, now.plus(Duration::from_secs(600))),
            16
        )
        .await
        .unwrap());
    assert_eq!(store.peek_grant(&token, now).await.unwrap(), None);
    for id in [late.job_id, running.job_id] {
        assert_eq!(store.load_job(&closed.key, &id).await.unwrap(), None);
    }
    assert_eq!(store.session_storage(&closed.key).await.unwrap(), 0);
    // Whatever index a refused write touched is cleaned by the sweep.
    store.sweep_expired(now).await.unwrap();
    assert!(!store
        .sessions_with_jobs()
        .await
        .unwrap()
        .contains(&closed.key));
    assert_eq!(store.load_session(&closed.key).await.unwrap(), None);
}

async fn deleting_a_session_deletes_its_jobs_and_grants(store: &dyn ConverterStorage) {
    let now = Timestamp::now();
    let (closed, kept) = (
        record(now, Duration::from_secs(60)),
        record(now, Duration::from_secs(60)),
    );
    store.insert_session(&closed).await.unwrap();
    store.insert_session(&kept).await.unwrap();
    let (closed_job, kept_job) = (job(closed.key, now), job(kept.key, now));
    store.insert_job(&closed_job, u64::MAX).await.unwrap();
    store.insert_job(&kept_job, u64::MAX).await.unwrap();
    let (closed_token, kept_token) = (token(), token());
    let until = now.plus(Duration::from_secs(600));
    store
        .insert_grant(&closed_token, &grant(&closed_job, until), 16)
        .await
        .unwrap();
    store
        .insert_grant(&kept_token, &grant(&kept_job, until), 16)
        .await
        .unwrap();

    assert!(store.delete_session(&closed.key).await.unwrap());
    assert_eq!(
        store
            .load_job(&closed.key, &closed_job.job_id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.peek_grant(&closed_token, now).await.unwrap(), None);
    assert!(store
        .load_job(&kept.key, &kept_job.job_id)
        .await
        .unwrap()
        .is_some());
    assert!(store.peek_grant(&kept_token, now).await.unwrap().is_some());
    store.delete_session(&kept.key).await.unwrap();
}

async fn sweeping_removes_expired_sessions_with_what_they_own(store: &dyn ConverterStorage) {
    let now = Timestamp::now();
    let expired = record(now, Duration::from_millis(1));
    let live = record(now, Duration::from_secs(60));
    store.insert_session(&expired).await.unwrap();
    store.insert_session(&live).await.unwrap();
    let expired_job = job(expired.key, now);
    store.insert_job(&expired_job, u64::MAX).await.unwrap();
    let live_job = job(live.key, now);
    store.insert_job(&live_job, u64::MAX).await.unwrap();
    let (stale_token, fresh_token) = (token(), token());
    store
        .insert_grant(
            &stale_token,
            &grant(&live_job, now.plus(Duration::from_millis(1))),
            16,
        )
        .await
        .unwrap();
    store
        .insert_grant(
            &fresh_token,
            &grant(&live_job, now.plus(Duration::from_secs(600))),
            16,
        )
        .await
        .unwrap();

    let sweep_time = now.plus(Duration::from_secs(1));
    let swept = store.sweep_expired(sweep_time).await.unwrap();
    assert_eq!(swept, vec![expired.key]);
    assert_eq!(store.load_session(&expired.key).await.unwrap(), None);
    assert_eq!(
        store
            .load_job(&expired.key, &expired_job.job_id)
            .await
            .unwrap(),
        None
    );
    assert!(store.load_session(&live.key).await.unwrap().is_some());
    assert_eq!(
        store.take_grant(&stale_token, now).await.unwrap(),
        None,
        "expired grants are swept"
    );
    assert!(store
        .peek_grant(&fresh_token, sweep_time)
        .await
        .unwrap()
        .is_some());
    store.delete_session(&live.key).await.unwrap();
}

async fn jobs(store: &dyn ConverterStorage) {
    let now = Timestamp::now();
    let owner = record(now, Duration::from_secs(60));
    store.insert_session(&owner).await.unwrap();
    let mut first = job(owner.key, now);
    assert_eq!(
        store.insert_job(&first, u64::MAX).await.unwrap(),
        Reservation::Reserved
    );
    assert!(matches!(
        store.insert_job(&first, u64::MAX).await,
        Err(StoreError::Duplicate)
    ));
    let other_session = SessionSecret::generate().store_key();
    assert_eq!(
        store.load_job(&other_session, &first.job_id).await.unwrap(),
        None,
        "a job is found only through its own session"
    );
    assert_eq!(
        store.load_job(&owner.key, &first.job_id).await.unwrap(),
        Some(first.clone())
    );

    first.status = JobStatus::Processing;
    first.target_format = Some(Format::Jpeg);
    first.task_id = Some(Uuid::new_v4());
    first.options = trustyconvert_protocol::ConversionOptions {
        quality: Some(42),
        max_width: Some(640),
        keep_metadata: Some(true),
        ..Default::default()
    };
    assert!(store.update_job(&first).await.unwrap());
    assert_eq!(
        store.load_job(&owner.key, &first.job_id).await.unwrap(),
        Some(first.clone()),
        "a job keeps its conversion options"
    );
    let mut second = job(owner.key, now);
    second.status = JobStatus::Completed;
    second.output_size = Some(500);
    store.insert_job(&second, u64::MAX).await.unwrap();
    assert_eq!(store.count_active_jobs(&owner.key).await.unwrap(), 1);
    assert_eq!(store.session_storage(&owner.key).await.unwrap(), 2500);
    // An update that writes output counts it.
    first.output_size = Some(250);
    assert!(store.update_job(&first).await.unwrap());
    assert_eq!(store.session_storage(&owner.key).await.unwrap(), 2750);
    assert_eq!(
        store.sessions_with_jobs().await.unwrap(),
        vec![owner.key],
        "one entry per session"
    );

    assert_eq!(
        store
            .fail_unfinished_jobs("interrupted", now)
            .await
            .unwrap(),
        1
    );
    let failed = store
        .load_job(&owner.key, &first.job_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("interrupted"));
    assert_eq!(store.count_active_jobs(&owner.key).await.unwrap(), 0);

    assert!(store.delete_job(&owner.key, &second.job_id).await.unwrap());
    assert!(!store.delete_job(&owner.key, &second.job_id).await.unwrap());
    assert_eq!(
        store.session_storage(&owner.key).await.unwrap(),
        1250,
        "a deleted job's bytes no longer count"
    );
    assert!(
        !store.update_job(&second).await.unwrap(),
        "updates never create"
    );
    assert_eq!(store.delete_session_jobs(&owner.key).await.unwrap(), 1);
    assert!(store.sessions_with_jobs().await.unwrap().is_empty());
    store.delete_session(&owner.key).await.unwrap();
}

async fn admission_is_checked_and_leased(store: &dyn ConverterStorage) {
    let now = Timestamp::now();
    let owner = record(now, Duration::from_secs(60));
    store.insert_session(&owner).await.unwrap();
    let (first, second) = (job(owner.key, now), job(owner.key, now));
    assert_eq!(
        store.insert_job(&first, u64::MAX).await.unwrap(),
        Reservation::Reserved
    );
    store.insert_job(&second, u64::MAX).await.unwrap();
    let queued = |job: &JobRecord| JobRecord {
        status: JobStatus::Queued,
        target_format: Some(Format::Jpeg),
        ..job.clone()
    };
    let lease = Duration::from_secs(60);
    assert_eq!(
        store.admit_job(&queued(&first), 1, lease).await.unwrap(),
        Admission::Admitted
    );
    assert_eq!(
        store
            .load_job(&owner.key, &first.job_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        JobStatus::Queued
    );
    assert_eq!(
        store.admit_job(&queued(&first), 5, lease).await.unwrap(),
        Admission::NotUploaded(JobStatus::Queued),
        "a job is queued once"
    );
    assert_eq!(
        store.admit_job(&queued(&second), 1, lease).await.unwrap(),
        Admission::Full(1),
        "the per-session limit holds"
    );
    let missing = job(owner.key, now);
    assert_eq!(
        store.admit_job(&queued(&missing), 5, lease).await.unwrap(),
        Admission::Gone
    );
    if store.is_shared() {
        // Another process's leased job is never taken for abandoned.
        assert_eq!(store.fail_unfinished_jobs("gone", now).await.unwrap(), 0);
        store
            .renew_job_leases(&[(owner.key, first.job_id)], Duration::from_millis(1))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            store.fail_unfinished_jobs("gone", now).await.unwrap(),
            1,
            "a job whose lease ran out is failed"
        );
    }
    store.delete_session(&owner.key).await.unwrap();
}

/// The backends' own queries (SQL, Lua) count, admit against and fail exactly the jobs
/// whose status `JobStatus::is_active` calls active.
async fn active_jobs_are_those_the_protocol_calls_active(store: &dyn ConverterStorage) {
    let now = Timestamp::now();
    let owner = record(now, Duration::from_secs(60));
    store.insert_session(&owner).await.unwrap();
    let mut jobs = Vec::new();
    for status in JobStatus::ALL {
        let job = JobRecord {
            status,
            ..job(owner.key, now)
        };
        store.insert_job(&job, u64::MAX).await.unwrap();
        jobs.push(job);
    }
    let active = JobStatus::ALL.iter().filter(|s| s.is_active()).count() as u64;
    assert!(active > 0);
    assert_eq!(store.count_active_jobs(&owner.key).await.unwrap(), active);
    let waiting = job(owner.key, now);
    store.insert_job(&waiting, u64::MAX).await.unwrap();
    let queued = JobRecord {
        status: JobStatus::Queued,
        target_format: Some(Format::Jpeg),
        ..waiting
    };
    let lease = Duration::from_secs(60);
    assert_eq!(
        store.admit_job(&queued, active, lease).await.unwrap(),
        Admission::Full(active)
    );
    assert_eq!(
        store.admit_job(&queued, active + 1, lease).await.unwrap(),
        Admission::Admitted
    );
    store.delete_job(&owner.key, &queued.job_id).await.unwrap();
    assert_eq!(
        store
            .fail_unfinished_jobs("interrupted", now)
            .await
            .unwrap(),
        active
    );
    for job in jobs {
        let stored = store.load_job(&owner.key, &job.job_id).await.unwrap();
        let expected = if job.status.is_active() {
            JobStatus::Failed
        } else {
            job.status
        };
        assert_eq!(stored.unwrap().status, expected, "a {} job", job.status);
    }
    store.delete_session(&owner.key).await.unwrap();
}

async fn download_grants(store: &dyn ConverterStorage) {
    let now = Timestamp::now();
    let owner = record(now, Duration::from_secs(60));
    store.insert_session(&owner).await.unwrap();
    let done = job(owner.key, now);
    store.insert_job(&done, u64::MAX).await.unwrap();

    let single = token();
    let until = now.plus(Duration::from_secs(600));
    store
        .insert_grant(&single, &grant(&done, until), 16)
        .await
        .unwrap();
    assert_eq!(
        store.peek_grant(&single, now).await.unwrap(),
        Some(grant(&done, until)),
        "peeking does not spend"
    );
    assert_eq!(
        store.take_grant(&single, now).await.unwrap(),
        Some(grant(&done, until))
    );
    assert_eq!(
        store.take_grant(&single, now).await.unwrap(),
        None,
        "single use"
    );

    let late = token();
    store
        .insert_grant(&late, &grant(&done, now.plus(Duration::from_secs(1))), 16)
        .await
        .unwrap();
    assert_eq!(
        store
            .take_grant(&late, now.plus(Duration::from_secs(2)))
            .await
            .unwrap(),
        None,
        "an expired grant is refused"
    );

    let tokens: Vec<TokenHash> = (0..5).map(|_| token()).collect();
    for (i, hash) in tokens.iter().enumerate() {
        let expires = now.plus(Duration::from_secs(600 + i as u64));
        store
            .insert_grant(hash, &grant(&done, expires), 3)
            .await
            .unwrap();
    }
    let mut alive = Vec::new();
    for hash in &tokens {
        alive.push(store.peek_grant(hash, now).await.unwrap().is_some());
    }
    assert_eq!(
        alive,
        [false, false, true, true, true],
        "only the newest grants of a job are kept"
    );
    // Issued in the same millisecond, the grant just handed out is never the one retired.
    let same_time = now.plus(Duration::from_secs(700));
    for _ in 0..5 {
        let fresh = token();
        store
            .insert_grant(&fresh, &grant(&done, same_time), 3)
            .await
            .unwrap();
        assert!(
            store.peek_grant(&fresh, now).await.unwrap().is_some(),
            "the newest grant survives a tie"
        );
    }
    store.delete_session(&owner.key).await.unwrap();
}

/// A zip's grant holds its jobs, in the order asked, and is single-use like any.
async fn zip_grants_keep_their_jobs_in_order(store: &dyn ConverterStorage) {
    let now = Timestamp::now();
    let owner = record(now, Duration::from_secs(60));
    store.insert_session(&owner).await.unwrap();
    let jobs: Vec<JobRecord> = (0..3).map(|_| job(owner.key, now)).collect();
    for job in &jobs {
        store.insert_job(job, u64::MAX).await.unwrap();
    }
    let zip = DownloadGrant {
        session: owner.key,
        job_id: Uuid::new_v4(),
        expires_at: now.plus(Duration::from_secs(600)),
        archive: vec![jobs[2].job_id, jobs[0].job_id, jobs[1].job_id],
    };
    let hash = token();
    assert!(store.insert_grant(&hash, &zip, 16).await.unwrap());
    assert_eq!(
        store.peek_grant(&hash, now).await.unwrap(),
        Some(zip.clone())
    );
    assert_eq!(store.take_grant(&hash, now).await.unwrap(), Some(zip));
    assert_eq!(
        store.take_grant(&hash, now).await.unwrap(),
        None,
        "single use"
    );
    store.delete_session(&owner.key).await.unwrap();
}

/// Listing gives every job of the session and no other's, newest first.
async fn a_sessions_jobs_are_listed_newest_first_and_only_its_own(store: &dyn ConverterStorage) {
    let now = Timestamp::now();
    let owner = record(now, Duration::from_secs(60));
    let other = record(now, Duration::from_secs(60));
    store.insert_session(&owner).await.unwrap();
    store.insert_session(&other).await.unwrap();
    assert!(store.list_jobs(&owner.key).await.unwrap().is_empty());
    let mut made = Vec::new();
    for age in [3u64, 1, 2] {
        let mut made_then = job(owner.key, now);
        made_then.created_at = Timestamp::from_millis(now.as_millis() - age as i64 * 1000);
        store.insert_job(&made_then, u64::MAX).await.unwrap();
        made.push(made_then);
    }
    // Two made in the same millisecond: ordered by id, the same on every backend.
    let mut twin = job(owner.key, now);
    twin.created_at = made[1].created_at;
    store.insert_job(&twin, u64::MAX).await.unwrap();
    store
        .insert_job(&job(other.key, now), u64::MAX)
        .await
        .unwrap();

    let listed = store.list_jobs(&owner.key).await.unwrap();
    let mut expected = [made[1].clone(), twin, made[2].clone(), made[0].clone()];
    JobRecord::sort_newest_first(&mut expected[..2]);
    assert_eq!(
        listed.iter().map(|job| job.job_id).collect::<Vec<_>>(),
        expected.iter().map(|job| job.job_id).collect::<Vec<_>>()
    );
    assert_eq!(listed[0], expected[0], "records come back whole");
    store.delete_job(&owner.key, &made[0].job_id).await.unwrap();
    assert_eq!(store.list_jobs(&owner.key).await.unwrap().len(), 3);
    store.delete_session(&owner.key).await.unwrap();
    store.delete_session(&other.key).await.unwrap();
    assert!(store.list_jobs(&owner.key).await.unwrap().is_empty());
}
