//! The invariants, judged over the recorded history after the run. Each rule is stated
//! exactly in its doc comment; every exemption is something that *could* have caused
//! the observed answer under a correct (linearizable) server, so a violation is never
//! a matter of timing luck: it is an answer no order of the recorded requests explains.
//!
//! Instants: `sent` is taken before a request is handed to the client library, so the
//! server cannot have acted on it earlier; `received` after its whole answer arrived,
//! so the server had decided by then. "A started after B was acknowledged" means
//! `A.sent > B.received`.

use std::collections::{BTreeMap, HashMap};

use super::history::{seconds, short, Micros, Op, Record};

/// Which invariant a violation breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    CsrfGrace,
    SuccessAfterClose,
    Quota,
    QuotaOnDisk,
    Residue,
    NoExpiry,
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Rule::CsrfGrace => "csrf-grace",
            Rule::SuccessAfterClose => "success-after-close",
            Rule::Quota => "quota",
            Rule::QuotaOnDisk => "quota-on-disk",
            Rule::Residue => "residue-after-sweep",
            Rule::NoExpiry => "redis-key-without-expiry",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Violation {
    pub rule: Rule,
    pub detail: String,
}

impl Violation {
    pub fn new(rule: Rule, detail: impl Into<String>) -> Self {
        Self {
            rule,
            detail: detail.into(),
        }
    }
}

/// Store key → public handle, for reports.
pub fn public_ids(records: &[Record]) -> HashMap<String, String> {
    let mut ids = HashMap::new();
    for record in records {
        let (Some(id), Some(key)) = (
            &record.public_id,
            record.created_session.as_ref().or(record.session.as_ref()),
        ) else {
            continue;
        };
        ids.entry(key.clone()).or_insert_with(|| id.clone());
    }
    ids
}

/// How a report names a session: its public handle, else the start of its store key.
pub fn session_name(ids: &HashMap<String, String>, key: &str) -> String {
    ids.get(key)
        .cloned()
        .unwrap_or_else(|| format!("key {}", short(key)))
}

/// **Rule `csrf-grace`: a token handed out stays accepted until two rotations (or the
/// grace window) retire it.**
///
/// The server keeps two nonces per session: the current one and the previous one,
/// valid for the grace window after the rotation that replaced it. So a token, once
/// current, is refused as stale only after *two* rotations of its session took effect
/// after it became current (the first moves it to the grace slot, the second drops
/// it), or after its grace ran out.
///
/// Let `T` be a token carried as `data.csrf_token` by a 200 answer (init, force-init,
/// validate, rotate), `Ret(T)` those answers and `L(T)` the latest *send* instant among
/// them. Every answer in `Ret(T)` read `T` as current, so a rotation that retired `T`
/// took effect after that read, hence after the request that read it was sent: after
/// `L(T)`. (This holds for answers that overlapped a rotation too: a token read
/// just before a rotation took effect is already in grace when the answer arrives, and
/// the rule asks for two rotations after `L(T)`, not one.)
///
/// A request `Q` of session `S` that sent `T` and was answered 403 with reason
/// `stale_token` is a violation unless one of these could explain it:
/// - at least two rotations `R` of `S` with `R.sent < Q.received` and
///   `R.received > L(T)` (or no answer at all), each answered 200 or not answered, and
///   neither being the rotation that minted `T` (whose answer carried `T`);
/// - a close or force-init of `S` was sent before `Q.received`;
/// - `Q.received ≥ L(T) + grace` (the previous slot's grace may have run out; the
///   checker configures a grace far longer than the run, so this never applies).
///
/// With two rotations sent with the same token and overlapping (a lost update, where
/// both read the same current nonce and the later write drops the earlier one's token),
/// the dropped token has only one other rotation to blame: a violation.
pub fn csrf_grace(records: &[Record], grace: Micros) -> Vec<Violation> {
    let mut returned: HashMap<&str, Vec<&Record>> = HashMap::new();
    let mut rotations: HashMap<&str, Vec<&Record>> = HashMap::new();
    let mut endings: HashMap<&str, Vec<&Record>> = HashMap::new();
    for record in records {
        if let (Some(200), Some(token)) = (record.status, &record.token_returned) {
            returned.entry(token).or_default().push(record);
        }
        let Some(session) = record.session.as_deref() else {
            continue;
        };
        match record.op {
            Op::Rotate if matches!(record.status, Some(200) | None) => {
                rotations.entry(session).or_default().push(record);
            }
            Op::Close | Op::ForceInit => endings.entry(session).or_default().push(record),
            _ => {}
        }
    }
    let ids = public_ids(records);
    let mut violations = Vec::new();
    for q in records {
        if q.status != Some(403) || q.reason.as_deref() != Some("stale_token") {
            continue;
        }
        let (Some(token), Some(session)) = (q.token_sent.as_deref(), q.session.as_deref()) else {
            continue;
        };
        // A token no answer carried is not judged (the checker never invents one).
        let Some(answers) = returned.get(token) else {
            continue;
        };
        let latest_read = answers.iter().map(|x| x.sent).max().unwrap_or(0);
        if q.received >= latest_read.saturating_add(grace) {
            continue;
        }
        let ended = endings
            .get(session)
            .is_some_and(|ends| ends.iter().any(|end| end.sent < q.received));
        if ended {
            continue;
        }
        let retiring: Vec<&Record> = rotations
            .get(session)
            .map(|all| {
                all.iter()
                    .copied()
                    .filter(|r| r.token_returned.as_deref() != Some(token))
                    .filter(|r| r.sent < q.received)
                    .filter(|r| r.status.is_none() || r.received > latest_read)
                    .collect()
            })
            .unwrap_or_default();
        if retiring.len() >= 2 {
            continue;
        }
        let mut detail = format!(
            "session {}: token {} was handed out by {} (latest read sent at {:.3}s); {} was refused stale_token, yet only {} rotation(s) could have retired it since",
            session_name(&ids, session),
            short(token),
            answers
                .iter()
                .map(|x| format!("#{} {}", x.id, x.op.name()))
                .collect::<Vec<_>>()
                .join(", "),
            seconds(latest_read),
            q.describe(),
            retiring.len(),
        );
        for r in retiring {
            detail.push_str(&format!("\n      candidate: {}", r.describe()));
        }
        // The rotations that overlapped the one that minted the token: the lost update.
        if let Some(minter) = answers.iter().find(|x| x.op == Op::Rotate) {
            for other in rotations.get(session).into_iter().flatten() {
                if other.id != minter.id
                    && other.sent < minter.received
                    && minter.sent < other.received
                {
                    detail.push_str(&format!(
                        "\n      minted by {} while {} overlapped it",
                        minter.describe(),
                        other.describe()
                    ));
                }
            }
        }
        violations.push(Violation::new(Rule::CsrfGrace, detail));
    }
    violations
}

/// The instant each session's end was acknowledged: the earliest 200 answer to a
/// close of it, or to a force-init sent with its cookie (which replaces it).
pub fn closed_at(records: &[Record]) -> HashMap<&str, &Record> {
    let mut closed: HashMap<&str, &Record> = HashMap::new();
    for record in records {
        let ends = match record.op {
            Op::Close => record.status == Some(200),
            Op::ForceInit => record.status == Some(200) && record.created_session.is_some(),
            _ => false,
        };
        let Some(session) = record.session.as_deref() else {
            continue;
        };
        if ends {
            let entry = closed.entry(session).or_insert(record);
            if record.received < entry.received {
                *entry = record;
            }
        }
    }
    closed
}

/// **Rule `success-after-close`: nothing of a session succeeds after its close was
/// acknowledged.**
///
/// Let `C` be the first acknowledged end of session `S` (a close answered 200, or a
/// force-init sent with `S`'s cookie answered 200). A request `Q` of `S` (sent with its
/// cookie; a download: with a token issued to `S`) whose effect cannot have happened
/// before `C.received` — `Q.sent > C.received`, or for a trickled upload the last
/// byte of its file handed over after `C.received` (the server cannot accept a file
/// before it has it) — must not be answered 2xx. The one exception is an init or
/// force-init whose answer set a *different* session cookie: it created a new session,
/// it did not revive `S`.
pub fn success_after_close(records: &[Record]) -> Vec<Violation> {
    let closed = closed_at(records);
    let ids = public_ids(records);
    let mut violations = Vec::new();
    for q in records {
        if !q.ok() {
            continue;
        }
        let Some(session) = q.session.as_deref() else {
            continue;
        };
        let Some(close) = closed.get(session) else {
            continue;
        };
        if q.id == close.id || q.commit_lower_bound() <= close.received {
            continue;
        }
        if q.op.is_init() && q.created_session.is_some() {
            continue;
        }
        violations.push(Violation::new(
            Rule::SuccessAfterClose,
            format!(
                "session {}: {} succeeded although {} had acknowledged its end",
                session_name(&ids, session),
                q.describe(),
                close.describe()
            ),
        ));
    }
    violations
}

/// **Rule `quota`: no session ever stores more than the quota.**
///
/// There is no way to delete a job, and nothing but the end of the session frees its
/// files, so a session's stored bytes only grow while it lives. For each session `S`:
/// the bytes of every upload of `S` answered 201, plus the `output_size` of every job
/// of `S` that a job-status answer showed `completed`, must not exceed the quota.
pub fn quota(records: &[Record], quota: u64) -> Vec<Violation> {
    #[derive(Default)]
    struct Usage {
        uploads: u64,
        accepted: Vec<usize>,
        outputs: BTreeMap<uuid::Uuid, u64>,
    }
    let mut usage: BTreeMap<&str, Usage> = BTreeMap::new();
    for record in records {
        let Some(session) = record.session.as_deref() else {
            continue;
        };
        if record.op.is_upload() && record.status == Some(201) {
            let entry = usage.entry(session).or_default();
            entry.uploads += record.bytes.unwrap_or(0);
            entry.accepted.push(record.id);
        }
        if let (Op::JobStatus, Some("completed"), Some(job), Some(size)) = (
            record.op,
            record.job_state.as_deref(),
            record.job_id,
            record.output_size,
        ) {
            usage.entry(session).or_default().outputs.insert(job, size);
        }
    }
    let ids = public_ids(records);
    usage
        .into_iter()
        .filter_map(|(session, usage)| {
            let outputs: u64 = usage.outputs.values().sum();
            let total = usage.uploads + outputs;
            (total > quota).then(|| {
                Violation::new(
                    Rule::Quota,
                    format!(
                        "session {}: {} bytes stored ({} in {} accepted uploads {:?} + {} in {} completed outputs) > quota {}",
                        session_name(&ids, session),
                        total,
                        usage.uploads,
                        usage.accepted.len(),
                        usage.accepted,
                        outputs,
                        usage.outputs.len(),
                        quota
                    ),
                )
            })
        })
        .collect()
}

/// **Rule `quota-on-disk`**: after the load — no request in flight, every conversion
/// the clients asked for finished (its status polled until it is) — no session folder
/// `DATA/jobs/<key>/` holds more than the quota in its jobs' `input` and `output` files.
///
/// During the load a folder may hold more for a moment without anything being wrong:
/// a server may place an upload's file first and let the write that admits it against
/// the quota decide, removing the file when that refuses. So the folders sampled during
/// the run are reported, not judged.
pub fn quota_on_disk(
    folders: &BTreeMap<String, u64>,
    at: Micros,
    quota: u64,
    ids: &HashMap<String, String>,
) -> Vec<Violation> {
    folders
        .iter()
        .filter(|(_, bytes)| **bytes > quota)
        .map(|(key, bytes)| {
            Violation::new(
                Rule::QuotaOnDisk,
                format!(
                    "session {}: its folder held {bytes} bytes after the load ({:.3}s) > quota {quota}",
                    session_name(ids, key),
                    seconds(at)
                ),
            )
        })
        .collect()
}

/// **Rule `redis-key-without-expiry`**: no Redis key is ever seen without an expiry
/// (`PTTL` -1), during the run (sampled every second) or after it. A key without one
/// outlives every session whose data it holds if nothing deletes it — after a crash,
/// or when a close raced the write that created it.
pub fn immortal_keys(keys: &BTreeMap<String, Micros>) -> Vec<Violation> {
    keys.iter()
        .map(|(key, at)| {
            Violation::new(
                Rule::NoExpiry,
                format!("{key} had no expiry (first seen {:.3}s)", seconds(*at)),
            )
        })
        .collect()
}
