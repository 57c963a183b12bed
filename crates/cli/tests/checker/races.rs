//! Which races actually happened, counted from the recorded intervals (a run proves
//! nothing about races it did not provoke).

use std::collections::{BTreeMap, HashMap};

use super::history::{Op, Record};
use super::invariants::closed_at;

/// Two requests overlapped in time: each was sent before the other was answered.
fn overlap(a: &Record, b: &Record) -> bool {
    a.sent < b.received && b.sent < a.received
}

/// A kind of race, in the order the report lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Race {
    CrossInstance,
    Rotations,
    RotationsSameToken,
    RotationsVsClose,
    Uploads,
    QuotaRefusals,
    UploadsVsClose,
    BodyArrivingAtClose,
    ConvertsVsClose,
    JobsCutShort,
    AfterClose,
}

impl Race {
    pub fn label(self) -> &'static str {
        match self {
            Race::CrossInstance => "overlapping requests of one session on different instances",
            Race::Rotations => "overlapping rotations of one session",
            Race::RotationsSameToken => "  of which both answered 200, sent with the same token",
            Race::RotationsVsClose => "rotations overlapping an acknowledged close",
            Race::Uploads => "overlapping uploads of one session",
            Race::QuotaRefusals => "uploads refused 413 by the quota",
            Race::UploadsVsClose => "uploads overlapping an acknowledged close",
            Race::BodyArrivingAtClose => {
                "  of which the body was still arriving when the close was acknowledged"
            }
            Race::ConvertsVsClose => "conversion requests overlapping an acknowledged close",
            Race::JobsCutShort => "conversions queued or running when their session closed",
            Race::AfterClose => {
                "requests with a session's cookie or download token after its close"
            }
        }
    }
}

/// The races of a run, by kind.
pub fn count(records: &[Record]) -> BTreeMap<Race, u64> {
    let mut counts: BTreeMap<Race, u64> = BTreeMap::new();
    let mut by_session: HashMap<&str, Vec<&Record>> = HashMap::new();
    for record in records {
        if let Some(session) = record.session.as_deref() {
            by_session.entry(session).or_default().push(record);
        }
        if record.quota_refusal {
            *counts.entry(Race::QuotaRefusals).or_default() += 1;
        }
    }
    let closed = closed_at(records);
    for (session, mut requests) in by_session {
        requests.sort_by_key(|r| r.sent);
        let answered = |r: &&Record| r.status.is_some();
        let closes: Vec<&Record> = requests
            .iter()
            .copied()
            .filter(|r| r.op == Op::Close && r.status == Some(200))
            .collect();
        for (i, a) in requests.iter().enumerate() {
            for b in requests[i + 1..].iter().take_while(|b| b.sent < a.received) {
                if !answered(a) || !answered(b) {
                    continue;
                }
                if a.instance != b.instance {
                    *counts.entry(Race::CrossInstance).or_default() += 1;
                }
                if a.op == Op::Rotate && b.op == Op::Rotate {
                    *counts.entry(Race::Rotations).or_default() += 1;
                    if a.token_sent == b.token_sent
                        && a.status == Some(200)
                        && b.status == Some(200)
                    {
                        *counts.entry(Race::RotationsSameToken).or_default() += 1;
                    }
                }
                if a.op.is_upload() && b.op.is_upload() {
                    *counts.entry(Race::Uploads).or_default() += 1;
                }
            }
        }
        for close in &closes {
            for r in &requests {
                if r.id == close.id || !overlap(r, close) {
                    continue;
                }
                match r.op {
                    Op::Upload | Op::SlowUpload => {
                        *counts.entry(Race::UploadsVsClose).or_default() += 1;
                        if r.body_done.is_some_and(|done| done > close.received) {
                            *counts.entry(Race::BodyArrivingAtClose).or_default() += 1;
                        }
                    }
                    Op::Convert => {
                        *counts.entry(Race::ConvertsVsClose).or_default() += 1;
                    }
                    Op::Rotate => {
                        *counts.entry(Race::RotationsVsClose).or_default() += 1;
                    }
                    _ => {}
                }
            }
            // Conversions accepted before the close whose job was never seen finished:
            // they were queued or running when the session ended.
            let cut_short = requests
                .iter()
                .filter(|r| r.op == Op::Convert && r.status == Some(202) && r.sent < close.received)
                .filter(|r| {
                    !requests.iter().any(|s| {
                        s.op == Op::JobStatus
                            && s.job_id == r.job_id
                            && matches!(s.job_state.as_deref(), Some("completed" | "failed"))
                    })
                })
                .count();
            *counts.entry(Race::JobsCutShort).or_default() += cut_short as u64;
        }
        if let Some(close) = closed.get(session) {
            let after = requests
                .iter()
                .filter(|r| r.sent > close.received && r.status.is_some())
                .count();
            *counts.entry(Race::AfterClose).or_default() += after as u64;
        }
    }
    counts
}
