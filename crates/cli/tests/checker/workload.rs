//! The clients: several *slots* (a browser each), each with several *tabs* that share
//! its cookie jar and so race on one session. Every tab draws its next operation and a
//! small pause from its own seeded generator; some operations are provoked races (two
//! rotations released together, uploads and conversions racing a close, a burst of
//! uploads against the quota, a trickled upload closed under its feet). With two
//! instances every request picks one at random, so one session's requests hit both.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::history::{store_key, Micros, Op};
use super::images::Png;
use super::invariants::closed_at;
use super::wire::{Payload, Reply, Request, Trickle, Wire};

/// Everything the tabs of all slots share.
pub struct Shared {
    pub wire: Wire,
    pub images: Vec<Png>,
    /// Every session the run created: store key → secret cookie value.
    pub sessions: Mutex<BTreeMap<String, String>>,
    /// When tabs stop starting operations.
    pub deadline: Micros,
}

/// One browser: its cookie jar and what its tabs know about its jobs.
#[derive(Default)]
struct Slot {
    jar: Mutex<Jar>,
    jobs: Mutex<Vec<Job>>,
    /// Download tokens issued but not used yet: (token, store key of its session).
    stash: Mutex<Vec<(String, String)>>,
}

/// The browser's cookies, updated by every answer's `Set-Cookie` in arrival order.
#[derive(Debug, Default, Clone)]
struct Jar {
    session: Option<String>,
    csrf: Option<String>,
}

#[derive(Debug, Clone)]
struct Job {
    id: Uuid,
    /// The secret of the session it was uploaded to.
    session: String,
    state: JobState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobState {
    Uploaded,
    Converting,
    Completed,
}

/// What a tab does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Init,
    ForceInit,
    Validate,
    Rotate,
    Upload,
    Convert,
    JobStatus,
    Download,
    Probe,
    Close,
    /// Two rotations with the same token released together (one per instance), then
    /// each returned token used at once.
    RotatePair,
    /// Six uploads of the largest image of one session at once.
    UploadBurst,
    /// A trickled upload; the session is closed (on the other instance) after half its
    /// body, and the rest is sent only once the close is answered.
    SlowUploadVsClose,
    /// An upload, then its conversion and a close of the session together.
    ConvertVsClose,
    /// An upload and a close of the session together.
    UploadVsClose,
}

/// Each step's weight in a tab's draw: for a *racing* browser, and for a *patient*
/// one, whose sessions end less often, so that its conversions finish and get
/// downloaded before a close comes.
const STEPS: [(Step, u32, u32); 15] = [
    (Step::Init, 3, 3),
    (Step::ForceInit, 1, 0),
    (Step::Validate, 10, 10),
    (Step::Rotate, 10, 10),
    (Step::Upload, 12, 12),
    (Step::Convert, 10, 10),
    (Step::JobStatus, 10, 10),
    (Step::Download, 8, 8),
    (Step::Probe, 6, 6),
    (Step::Close, 2, 1),
    (Step::RotatePair, 8, 8),
    (Step::UploadBurst, 2, 2),
    (Step::SlowUploadVsClose, 2, 1),
    (Step::ConvertVsClose, 2, 1),
    (Step::UploadVsClose, 2, 0),
];

/// Runs `slots` browsers of `tabs` tabs each until the deadline.
pub async fn run(shared: Arc<Shared>, seed: u64, slots: usize, tabs: usize) {
    let mut tasks = Vec::new();
    for slot_index in 0..slots {
        let slot = Arc::new(Slot::default());
        for tab_index in 0..tabs {
            let tab = Tab {
                name: format!("s{slot_index}.t{tab_index}"),
                rng: StdRng::seed_from_u64(tab_seed(seed, slot_index, tab_index)),
                slot: Arc::clone(&slot),
                shared: Arc::clone(&shared),
                patient: slot_index % 2 == 1,
                own: None,
                next: None,
            };
            tasks.push(tokio::spawn(tab.run()));
        }
    }
    for task in tasks {
        task.await.expect("a tab panicked");
    }
}

/// Each tab's own seed, derived from the run's: its choices replay with the seed.
fn tab_seed(seed: u64, slot: usize, tab: usize) -> u64 {
    let tab = (tab as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    seed ^ ((slot as u64) << 32) ^ tab
}

/// Closes every session the run created that is still live (asking each for its
/// current token first). Afterwards no session of the run is live. Sessions whose end
/// an answer already acknowledged are skipped.
pub async fn close_everything(shared: &Shared) {
    let records = shared.wire.history.snapshot();
    let ended = closed_at(&records);
    let sessions: Vec<String> = shared
        .sessions
        .lock()
        .unwrap()
        .iter()
        .filter(|(key, _)| !ended.contains_key(key.as_str()))
        .map(|(_, secret)| secret.clone())
        .collect();
    let wire = &shared.wire;
    for batch in sessions.chunks(16) {
        join_all(batch.iter().enumerate().map(|(i, secret)| async move {
            let instance = i % wire.instances();
            let status = wire
                .send(
                    Request::new("final", instance, Op::Validate)
                        .credentials(Some(secret.clone()), None),
                )
                .await;
            if status.ok() {
                let token = status.data["csrf_token"].as_str().map(str::to_owned);
                let closed = wire
                    .send(
                        Request::new("final", instance, Op::Close)
                            .credentials(Some(secret.clone()), token),
                    )
                    .await;
                assert!(
                    closed.ok() || closed.status == Some(401),
                    "the final close of a live session failed: {}",
                    closed.record.describe()
                );
            }
        }))
        .await;
    }
}

/// Waits until no conversion the clients asked for is queued or running any more,
/// asking each one's status every 100 ms for at most `limit`. Returns whether all
/// finished.
pub async fn settle_jobs(shared: &Shared, limit: Duration) -> bool {
    let records = shared.wire.history.snapshot();
    let ended = closed_at(&records);
    let finished: HashSet<Uuid> = records
        .iter()
        .filter(|r| {
            r.op == Op::JobStatus && matches!(r.job_state.as_deref(), Some("completed" | "failed"))
        })
        .filter_map(|r| r.job_id)
        .collect();
    let sessions = shared.sessions.lock().unwrap().clone();
    let mut pending: Vec<(Uuid, String)> = records
        .iter()
        .filter(|r| r.op == Op::Convert && r.status == Some(202))
        .filter(|r| r.job_id.is_some_and(|job| !finished.contains(&job)))
        .filter_map(|r| {
            let key = r.session.as_deref()?;
            let secret = sessions.get(key).filter(|_| !ended.contains_key(key))?;
            Some((r.job_id?, secret.clone()))
        })
        .collect();
    let wire = &shared.wire;
    let started = std::time::Instant::now();
    while !pending.is_empty() && started.elapsed() < limit {
        let replies = join_all(pending.iter().map(|(job, secret)| {
            wire.send(
                Request::new("settle", 0, Op::JobStatus)
                    .credentials(Some(secret.clone()), None)
                    .job(*job),
            )
        }))
        .await;
        pending = pending
            .into_iter()
            .zip(replies)
            .filter(|(_, reply)| {
                reply.status == Some(200)
                    && matches!(
                        reply.record.job_state.as_deref(),
                        Some("queued" | "processing")
                    )
            })
            .map(|(job, _)| job)
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pending.is_empty()
}

/// A session cookie and a CSRF token to send.
type Credentials = (Option<String>, Option<String>);

/// One tab: its own generator and the last token it was given.
struct Tab {
    name: String,
    rng: StdRng,
    slot: Arc<Slot>,
    shared: Arc<Shared>,
    /// Whether its browser ends sessions less often (odd slots).
    patient: bool,
    /// The last CSRF token an answer gave this tab, with the session it belongs to.
    own: Option<(String, String)>,
    /// A step forced by the last answer (401 → init, 403 → resynchronise).
    next: Option<Step>,
}

impl Tab {
    async fn run(mut self) {
        while self.shared.wire.clock.now() < self.shared.deadline {
            let has_session = self.slot.jar.lock().unwrap().session.is_some();
            let step = match self.next.take() {
                Some(step) => step,
                None if !has_session => Step::Init,
                None => self.pick(),
            };
            self.perform(step).await;
            let pause = self.rng.random_range(0..15);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }

    fn pick(&mut self) -> Step {
        let weight = |racing, patient| if self.patient { patient } else { racing };
        let total: u32 = STEPS.iter().map(|&(_, r, p)| weight(r, p)).sum();
        let mut draw = self.rng.random_range(0..total);
        for (step, racing, patient) in STEPS {
            let weight = weight(racing, patient);
            if draw < weight {
                return step;
            }
            draw -= weight;
        }
        unreachable!()
    }

    async fn perform(&mut self, step: Step) {
        match step {
            Step::Init => self.simple(Op::Init).await,
            Step::ForceInit => self.simple(Op::ForceInit).await,
            Step::Validate => self.simple(Op::Validate).await,
            Step::Rotate => self.simple(Op::Rotate).await,
            Step::Probe => self.probe().await,
            Step::Upload => {
                self.upload(None).await;
            }
            Step::Convert => self.convert().await,
            Step::JobStatus => self.status_of_some_job().await,
            Step::Download => self.download_some_job().await,
            Step::Close => self.close().await,
            Step::RotatePair => self.rotate_pair().await,
            Step::UploadBurst => self.upload_burst().await,
            Step::SlowUploadVsClose => self.slow_upload_vs_close().await,
            Step::ConvertVsClose => self.convert_vs_close().await,
            Step::UploadVsClose => self.upload_vs_close().await,
        }
    }

    // ---- requests and answers

    fn instance(&mut self) -> usize {
        self.rng.random_range(0..self.shared.wire.instances())
    }

    /// The session cookie of the jar and a CSRF token: mostly this tab's own last one
    /// (an app keeping it in memory), otherwise the jar's cookie (another tab's).
    fn credentials(&mut self) -> Credentials {
        let jar = self.slot.jar.lock().unwrap().clone();
        let own = match &self.own {
            Some((session, token)) if jar.session.as_ref() == Some(session) => Some(token.clone()),
            _ => None,
        };
        let token = match own {
            Some(token) if self.rng.random_bool(0.6) => Some(token),
            _ => jar.csrf.clone(),
        };
        (jar.session, token)
    }

    /// `op` with `credentials`, to a random instance.
    fn with(&mut self, op: Op, credentials: &Credentials) -> Request {
        let instance = self.instance();
        Request::new(&self.name, instance, op)
            .credentials(credentials.0.clone(), credentials.1.clone())
    }

    /// `op` with this tab's credentials, to a random instance.
    fn request(&mut self, op: Op) -> Request {
        let credentials = self.credentials();
        self.with(op, &credentials)
    }

    /// One of the images as an upload body (a random one unless `index`).
    fn file(&mut self, index: Option<usize>) -> Payload {
        let index = index.unwrap_or_else(|| self.rng.random_range(0..self.shared.images.len()));
        let png = self.shared.images[index].clone();
        Payload::File {
            name: png.name,
            bytes: png.bytes,
            trickle: None,
        }
    }

    async fn send(&mut self, request: Request) -> Reply {
        let sent_session = request.session.clone();
        let reply = self.shared.wire.send(request).await;
        self.absorb(&reply, sent_session);
        reply
    }

    /// Sends several requests at once; takes in their answers in order.
    async fn send_together(&mut self, requests: Vec<Request>) -> Vec<Reply> {
        let sessions: Vec<Option<String>> = requests.iter().map(|r| r.session.clone()).collect();
        let wire = self.shared.wire.clone();
        let replies = join_all(requests.into_iter().map(|request| wire.send(request))).await;
        for (reply, session) in replies.iter().zip(sessions) {
            self.absorb(reply, session);
        }
        replies
    }

    /// Takes in an answer as a browser tab would: cookies into the jar, the token it
    /// was given, and what to do after a 401 or 403.
    fn absorb(&mut self, reply: &Reply, sent_session: Option<String>) {
        {
            let mut jar = self.slot.jar.lock().unwrap();
            if let Some(update) = &reply.set_session {
                jar.session.clone_from(update);
            }
            if let Some(update) = &reply.set_csrf {
                jar.csrf.clone_from(update);
            }
        }
        if let Some(Some(secret)) = &reply.set_session {
            self.shared
                .sessions
                .lock()
                .unwrap()
                .insert(store_key(secret), secret.clone());
        }
        if let Some(token) = &reply.record.token_returned {
            let session = match &reply.set_session {
                Some(Some(secret)) => Some(secret.clone()),
                _ => sent_session,
            };
            self.own = session.map(|session| (session, token.clone()));
        }
        match reply.status {
            Some(401) => self.next = Some(Step::Init),
            Some(403) => self.next = Some(Step::Validate),
            _ => {}
        }
    }

    // ---- what the tab knows of its browser's jobs

    /// A job of the jar's current session in `state`, at random.
    fn job_in(&mut self, state: JobState) -> Option<Job> {
        let session = self.slot.jar.lock().unwrap().session.clone()?;
        let jobs: Vec<Job> = self
            .slot
            .jobs
            .lock()
            .unwrap()
            .iter()
            .filter(|job| job.session == session && job.state == state)
            .cloned()
            .collect();
        (!jobs.is_empty()).then(|| jobs[self.rng.random_range(0..jobs.len())].clone())
    }

    /// Notes a stored upload.
    fn uploaded(&self, reply: &Reply) -> Option<Uuid> {
        let session = self
            .shared
            .sessions
            .lock()
            .unwrap()
            .get(reply.record.session.as_ref()?)?
            .clone();
        let job_id = reply.record.job_id?;
        (reply.status == Some(201)).then(|| {
            self.slot.jobs.lock().unwrap().push(Job {
                id: job_id,
                session,
                state: JobState::Uploaded,
            });
            job_id
        })
    }

    fn set_job(&self, job_id: Uuid, state: Option<JobState>) {
        let mut jobs = self.slot.jobs.lock().unwrap();
        match state {
            Some(state) => jobs
                .iter_mut()
                .filter(|job| job.id == job_id)
                .for_each(|job| job.state = state),
            None => jobs.retain(|job| job.id != job_id),
        }
    }

    /// Forgets the jobs of a closed session; returns one of them.
    fn forget_jobs_of(&self, session: &str) -> Option<Uuid> {
        let mut jobs = self.slot.jobs.lock().unwrap();
        let one = jobs
            .iter()
            .find(|job| job.session == session)
            .map(|job| job.id);
        jobs.retain(|job| job.session != session);
        one
    }

    // ---- single operations

    async fn simple(&mut self, op: Op) {
        let mut request = self.request(op);
        if op.is_init() {
            request.token = None;
        }
        self.send(request).await;
    }

    /// `POST /api/download_token` for a job that does not exist: 404 means the token
    /// was accepted.
    fn probe_request(&mut self, credentials: &Credentials) -> Request {
        let body = json!({"job_id": Uuid::new_v4().to_string()});
        self.with(Op::Probe, credentials)
            .payload(Payload::Json(body))
    }

    async fn probe(&mut self) {
        let credentials = self.credentials();
        let request = self.probe_request(&credentials);
        self.send(request).await;
    }

    /// Uploads an image (a random one unless `image`); returns the job if stored.
    async fn upload(&mut self, image: Option<usize>) -> Option<Uuid> {
        let file = self.file(image);
        let request = self.request(Op::Upload).job(Uuid::new_v4()).payload(file);
        let reply = self.send(request).await;
        self.uploaded(&reply)
    }

    fn convert_request(&mut self, credentials: &Credentials, job_id: Uuid) -> Request {
        let target = ["jpeg", "jpeg", "bmp"][self.rng.random_range(0..3)];
        let body = json!({"job_id": job_id.to_string(), "target_format": target});
        self.with(Op::Convert, credentials)
            .job(job_id)
            .payload(Payload::Json(body))
    }

    fn converted(&self, reply: &Reply, job_id: Uuid) {
        match reply.status {
            Some(202) => self.set_job(job_id, Some(JobState::Converting)),
            Some(429) => {}
            _ => self.set_job(job_id, None),
        }
    }

    /// Converts an uploaded job (uploading one first if there is none), then follows
    /// it as a page would: polls its status a few times and downloads the result.
    async fn convert(&mut self) {
        let Some(job) = self.job_in(JobState::Uploaded) else {
            self.upload(None).await;
            return;
        };
        let credentials = self.credentials();
        let request = self.convert_request(&credentials, job.id);
        let reply = self.send(request).await;
        self.converted(&reply, job.id);
        if reply.status != Some(202) {
            return;
        }
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            match self.job_status(&job).await {
                Some(JobState::Completed) => return self.download(&job).await,
                Some(JobState::Converting) => {}
                _ => return,
            }
        }
    }

    /// Asks for a job's status; returns what the tab now knows of it.
    async fn job_status(&mut self, job: &Job) -> Option<JobState> {
        let request = self.request(Op::JobStatus).job(job.id);
        let reply = self.send(request).await;
        let state = match (reply.status, reply.record.job_state.as_deref()) {
            (Some(200), Some("completed")) => Some(JobState::Completed),
            (Some(200), Some("queued" | "processing")) => Some(JobState::Converting),
            (Some(200), Some("uploaded")) => Some(JobState::Uploaded),
            // Failed, gone, or the session is: forgotten.
            _ => None,
        };
        self.set_job(job.id, state);
        state
    }

    async fn status_of_some_job(&mut self) {
        match self.job_in(JobState::Converting) {
            Some(job) => {
                self.job_status(&job).await;
            }
            None => self.simple(Op::Validate).await,
        }
    }

    async fn download_some_job(&mut self) {
        match self.job_in(JobState::Completed) {
            Some(job) => self.download(&job).await,
            None => self.probe().await,
        }
    }

    /// A download token for a completed job, then its download (on either instance),
    /// or kept for later, perhaps until after the session is closed.
    async fn download(&mut self, job: &Job) {
        let body = json!({"job_id": job.id.to_string()});
        let request = self
            .request(Op::DownloadToken)
            .job(job.id)
            .payload(Payload::Json(body));
        let reply = self.send(request).await;
        let Some(token) = reply.data["download_token"].as_str() else {
            return;
        };
        let grant = (token.to_owned(), store_key(&job.session));
        if self.rng.random_bool(0.3) {
            self.slot.stash.lock().unwrap().push(grant);
            return;
        }
        let instance = self.instance();
        let request = Request::new(&self.name, instance, Op::Download)
            .job(job.id)
            .download(grant.0, grant.1);
        self.shared.wire.send(request).await;
    }

    /// Closes the jar's session; when that is acknowledged, sometimes keeps using the
    /// closed session's cookie, as a tab that has not noticed would.
    async fn close(&mut self) {
        let credentials = self.credentials();
        let request = self.with(Op::Close, &credentials);
        let reply = self.send(request).await;
        if let (true, (Some(session), Some(token))) = (reply.ok(), credentials) {
            let job = self.forget_jobs_of(&session);
            if self.rng.random_bool(0.5) {
                self.after_close(session, token, job).await;
            }
        }
    }

    /// Requests with a closed session's cookie, token, one of its jobs and its
    /// download tokens: each must fail. Not taken in: this tab knows it is gone.
    async fn after_close(&mut self, session: String, token: String, job: Option<Uuid>) {
        let scenario = Some("after-close");
        let key = store_key(&session);
        let credentials = (Some(session), Some(token));
        let mut requests = vec![
            self.with(Op::Validate, &credentials),
            self.with(Op::Rotate, &credentials),
            self.with(Op::JobStatus, &credentials)
                .job(job.unwrap_or_else(Uuid::new_v4)),
        ];
        let file = self.file(Some(0));
        requests.push(
            self.with(Op::Upload, &credentials)
                .job(Uuid::new_v4())
                .payload(file),
        );
        let grants: Vec<(String, String)> = {
            let mut stash = self.slot.stash.lock().unwrap();
            let (theirs, others) = stash.drain(..).partition(|(_, owner)| *owner == key);
            *stash = others;
            theirs
        };
        for (token, owner) in grants {
            let instance = self.instance();
            requests.push(Request::new(&self.name, instance, Op::Download).download(token, owner));
        }
        for request in requests {
            self.shared.wire.send(request.scenario(scenario)).await;
        }
    }

    // ---- provoked races

    /// Two rotations sent with the same token at once (one per instance), then each
    /// returned token used at once, as the two tabs that asked would.
    async fn rotate_pair(&mut self) {
        let scenario = Some("rotate-pair");
        let credentials = self.credentials();
        let first = self.instance();
        let second = (first + 1) % self.shared.wire.instances();
        let pair = [first, second].map(|instance| {
            Request::new(&self.name, instance, Op::Rotate)
                .credentials(credentials.0.clone(), credentials.1.clone())
                .scenario(scenario)
        });
        let rotated = self.send_together(pair.into()).await;
        let probes = rotated
            .iter()
            .filter_map(|reply| reply.record.token_returned.clone())
            .map(|token| {
                self.probe_request(&(credentials.0.clone(), Some(token)))
                    .scenario(scenario)
            })
            .collect();
        self.send_together(probes).await;
    }

    /// Six uploads of the largest image to one session at once.
    async fn upload_burst(&mut self) {
        let largest = self.shared.images.len() - 1;
        let credentials = self.credentials();
        let uploads = (0..6)
            .map(|_| {
                let file = self.file(Some(largest));
                self.with(Op::Upload, &credentials)
                    .scenario(Some("upload-burst"))
                    .job(Uuid::new_v4())
                    .payload(file)
            })
            .collect();
        for reply in self.send_together(uploads).await {
            self.uploaded(&reply);
        }
    }

    /// A fresh token for the jar's session (the close of a race must not fail on a
    /// stale one): `GET /api/session`.
    async fn fresh(&mut self) -> Option<Credentials> {
        let request = self.request(Op::Validate);
        let session = request.session.clone()?;
        let reply = self.send(request).await;
        Some((Some(session), Some(reply.record.token_returned.clone()?)))
    }

    /// Ends a race with a close: forgets the session's jobs if it was closed.
    fn closed(&self, reply: &Reply, credentials: &Credentials) {
        if let (true, Some(session)) = (reply.ok(), &credentials.0) {
            self.forget_jobs_of(session);
        }
    }

    /// A trickled upload; after half its body the session is closed (on the other
    /// instance), and the rest of the body is sent only once the close is answered.
    async fn slow_upload_vs_close(&mut self) {
        let scenario = Some("slow-upload-vs-close");
        let Some(credentials) = self.fresh().await else {
            return;
        };
        let (half_sent, half_rx) = oneshot::channel();
        let (resume_tx, resume) = oneshot::channel();
        let Payload::File { name, bytes, .. } = self.file(None) else {
            unreachable!()
        };
        let pause = Duration::from_millis(self.rng.random_range(5..25));
        let upload = self
            .with(Op::SlowUpload, &credentials)
            .scenario(scenario)
            .job(Uuid::new_v4())
            .payload(Payload::File {
                name,
                bytes,
                trickle: Some(Trickle {
                    chunks: 8,
                    pause,
                    half_sent,
                    resume,
                }),
            });
        let other = (upload.instance + 1) % self.shared.wire.instances();
        let close = Request::new(&self.name, other, Op::Close)
            .credentials(credentials.0.clone(), credentials.1.clone())
            .scenario(scenario);
        let wire = self.shared.wire.clone();
        let closing = async {
            let _ = half_rx.await;
            let reply = wire.send(close).await;
            let _ = resume_tx.send(());
            reply
        };
        let (uploaded, closed) = tokio::join!(wire.send(upload), closing);
        self.absorb(&closed, credentials.0.clone());
        self.absorb(&uploaded, credentials.0.clone());
        self.uploaded(&uploaded);
        self.closed(&closed, &credentials);
    }

    /// An upload, then its conversion and, 0–60 ms later, a close of the session.
    async fn convert_vs_close(&mut self) {
        let scenario = Some("convert-vs-close");
        let Some(job_id) = self.upload(Some(0)).await else {
            return;
        };
        let Some(credentials) = self.fresh().await else {
            return;
        };
        let convert = self
            .convert_request(&credentials, job_id)
            .scenario(scenario);
        let close = self.with(Op::Close, &credentials).scenario(scenario);
        let delay = Duration::from_millis(self.rng.random_range(0..60));
        let wire = self.shared.wire.clone();
        let (converted, closed) = tokio::join!(wire.send(convert), async {
            tokio::time::sleep(delay).await;
            wire.send(close).await
        });
        self.absorb(&converted, credentials.0.clone());
        self.absorb(&closed, credentials.0.clone());
        self.converted(&converted, job_id);
        self.closed(&closed, &credentials);
    }

    /// An upload and, 0–10 ms later, a close of the session.
    async fn upload_vs_close(&mut self) {
        let scenario = Some("upload-vs-close");
        let Some(credentials) = self.fresh().await else {
            return;
        };
        let file = self.file(None);
        let upload = self
            .with(Op::Upload, &credentials)
            .scenario(scenario)
            .job(Uuid::new_v4())
            .payload(file);
        let close = self.with(Op::Close, &credentials).scenario(scenario);
        let delay = Duration::from_millis(self.rng.random_range(0..10));
        let wire = self.shared.wire.clone();
        let (uploaded, closed) = tokio::join!(wire.send(upload), async {
            tokio::time::sleep(delay).await;
            wire.send(close).await
        });
        self.absorb(&uploaded, credentials.0.clone());
        self.absorb(&closed, credentials.0.clone());
        self.uploaded(&uploaded);
        self.closed(&closed, &credentials);
    }
}
