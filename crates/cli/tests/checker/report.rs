//! The summary of a run: operations by kind and answer, races provoked, violations.

use std::collections::BTreeMap;
use std::time::Duration;

use super::history::{seconds, Micros, Op, Record};
use super::invariants::{Rule, Violation};
use super::races;

/// How many violations of each rule are printed in full (`TRUSTY_CHECKER_SHOW`, 5 by
/// default).
fn shown_per_rule() -> usize {
    std::env::var("TRUSTY_CHECKER_SHOW")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}

pub struct Summary<'a> {
    pub store: &'a str,
    pub records: &'a [Record],
    /// The largest session folder the sampler saw during the load (bytes, when).
    pub largest_folder: Option<(u64, Micros)>,
    /// Whether every conversion finished before the folders were judged.
    pub settled_jobs: bool,
    pub sessions: usize,
    pub violations: &'a [Violation],
    pub unexpected: &'a [String],
    pub unknown_residue: &'a [String],
    pub load: Duration,
    pub settle: Duration,
    pub total: Duration,
}

/// `200`, `403 stale_token`, `no answer`, …
fn answer(record: &Record) -> String {
    match (record.status, &record.reason) {
        (None, _) => "no answer".into(),
        (Some(status), Some(reason)) => format!("{status} {reason}"),
        (Some(413), None) if record.quota_refusal => "413 quota".into(),
        (Some(status), None) => status.to_string(),
    }
}

pub fn print(summary: &Summary<'_>) {
    let store = summary.store;
    let shown = shown_per_rule();
    let mut out = String::new();
    out.push_str(&format!(
        "\n==== concurrency checker [{store}]: {} requests, {} sessions; load {:.1}s, settle {:.1}s, total {:.1}s\n",
        summary.records.len(),
        summary.sessions,
        summary.load.as_secs_f64(),
        summary.settle.as_secs_f64(),
        summary.total.as_secs_f64(),
    ));
    out.push_str("operations (answer × count):\n");
    let mut by_op: BTreeMap<Op, BTreeMap<String, u64>> = BTreeMap::new();
    for record in summary.records {
        *by_op
            .entry(record.op)
            .or_default()
            .entry(answer(record))
            .or_default() += 1;
    }
    for (op, answers) in &by_op {
        let total: u64 = answers.values().sum();
        let list: Vec<String> = answers
            .iter()
            .map(|(answer, count)| format!("{answer}×{count}"))
            .collect();
        out.push_str(&format!(
            "  {:<15} {total:>6}  {}\n",
            op.name(),
            list.join("  ")
        ));
    }
    out.push_str("races provoked:\n");
    for (race, count) in races::count(summary.records) {
        out.push_str(&format!("  {count:>6}  {}\n", race.label()));
    }
    if let Some((bytes, at)) = summary.largest_folder {
        out.push_str(&format!(
            "largest session folder seen during the load: {bytes} bytes at {:.3}s (not judged: files may be placed before the quota decides)\n",
            seconds(at)
        ));
    }
    if !summary.settled_jobs {
        out.push_str(
            "note: some conversions were still queued or running when the folders were measured\n",
        );
    }
    let mut by_rule: BTreeMap<Rule, Vec<&Violation>> = BTreeMap::new();
    for violation in summary.violations {
        by_rule.entry(violation.rule).or_default().push(violation);
    }
    out.push_str(&format!("violations: {}\n", summary.violations.len()));
    for (rule, violations) in &by_rule {
        out.push_str(&format!("  {} × {}\n", rule.name(), violations.len()));
        for violation in violations.iter().take(shown) {
            out.push_str(&format!("    - {}\n", violation.detail));
        }
        if violations.len() > shown {
            out.push_str(&format!("    … and {} more\n", violations.len() - shown));
        }
    }
    if !summary.unexpected.is_empty() {
        out.push_str(&format!(
            "unexpected answers (5xx, or none outside trickled uploads): {}\n",
            summary.unexpected.len()
        ));
        for error in summary.unexpected.iter().take(shown) {
            out.push_str(&format!("    - {error}\n"));
        }
    }
    if !summary.unknown_residue.is_empty() {
        out.push_str(&format!(
            "note: {} thing(s) left of sessions the run never saw: {:?}\n",
            summary.unknown_residue.len(),
            summary
                .unknown_residue
                .iter()
                .take(shown)
                .collect::<Vec<_>>()
        ));
    }
    out.push_str(&format!("==== [{store}] end\n"));
    print!("{out}");
}
