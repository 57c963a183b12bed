//! FFmpeg's own progress report (`-progress FILE`): blocks of `key=value` lines, one
//! every half second, each with the output time reached (`out_time_us`) and ending
//! with `progress=continue` or, at the very end, `progress=end`.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often the report is read while FFmpeg runs.
pub const LOOK_EVERY: Duration = Duration::from_millis(250);

/// The report file of one run.
#[derive(Debug)]
pub struct ProgressFile {
    path: PathBuf,
}

impl ProgressFile {
    /// The report FFmpeg will write to `path`.
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// Where FFmpeg writes it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How far the run is through an input `duration` long, 0–100, from the latest
    /// block written; `None` before the first.
    pub fn percent(&self, duration: Duration) -> Option<u8> {
        percent_of(&std::fs::read_to_string(&self.path).ok()?, duration)
    }
}

/// The percentage the latest block of `report` shows for an input `duration` long.
fn percent_of(report: &str, duration: Duration) -> Option<u8> {
    // Only whole blocks count: one being written may be cut anywhere.
    let (mut reached, mut in_block) = (None, None);
    for line in report.lines() {
        match line.split_once('=') {
            Some(("progress", "end")) => return Some(100),
            Some(("progress", _)) => reached = in_block.take().or(reached),
            Some(("out_time_us", micros)) => in_block = micros.trim().parse::<u64>().ok(),
            _ => {}
        }
    }
    let total = duration.as_micros().max(1) as f64;
    // 99 at most until FFmpeg says it has finished.
    Some((reached? as f64 / total * 100.0).clamp(0.0, 99.0) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_block_gives_the_percentage_and_end_is_a_hundred() {
        let ten_seconds = Duration::from_secs(10);
        let first = "frame=10\nout_time_us=2500000\nprogress=continue\n";
        assert_eq!(percent_of(first, ten_seconds), Some(25));
        let later = format!("{first}frame=30\nout_time_us=7500000\nprogress=continue\n");
        assert_eq!(percent_of(&later, ten_seconds), Some(75));
        // A block cut while being written keeps the last complete value.
        assert_eq!(
            percent_of(&format!("{later}out_time_us=99"), ten_seconds),
            Some(75)
        );
        assert_eq!(
            percent_of(&format!("{later}out_tim"), ten_seconds),
            Some(75)
        );
        let past_the_end = "out_time_us=99000000\nprogress=continue\n";
        assert_eq!(percent_of(past_the_end, ten_seconds), Some(99));
        assert_eq!(
            percent_of(&format!("{later}progress=end\n"), ten_seconds),
            Some(100)
        );
        assert_eq!(percent_of("", ten_seconds), None);
        assert_eq!(
            percent_of("out_time_us=N/A\nprogress=continue\n", ten_seconds),
            None
        );
    }
}
