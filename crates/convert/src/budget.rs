//! What one conversion may spend: output bytes and wall time.
//!
//! Converters write through a [`BudgetWriter`] (made by [`Budget::writer`] around the
//! job's [`Sink`], a file in the server), which refuses the byte past the output limit
//! and any write after the deadline, and check [`Budget::check_time`] in their loops.
//! Conversions run on the blocking pool, which cannot be cancelled, so this is how one
//! that runs too long, or grows too large, stops by itself: it fails at its next write
//! or step instead of finishing, whatever the input. A budget can also be cancelled
//! from outside ([`Budget::cancellable`]): the same checks then stop the conversion,
//! and external engines are killed at once.

use std::cell::Cell;
use std::io::{Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use trustyconvert_protocol::human_size;

use crate::ConversionError;

/// Which limit a conversion hit first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Breach {
    Output,
    Time,
    Cancelled,
}

/// The limits of one conversion, and which one it hit.
#[derive(Debug)]
pub struct Budget {
    max_output: u64,
    timeout: Duration,
    deadline: Instant,
    breach: Cell<Option<Breach>>,
    cancelled: Option<Arc<AtomicBool>>,
}

impl Budget {
    /// A budget starting now.
    pub fn new(max_output: u64, timeout: Duration) -> Self {
        Self::until(max_output, timeout, Instant::now() + timeout)
    }

    /// A budget whose `timeout` started earlier and ends at `deadline`.
    pub fn until(max_output: u64, timeout: Duration, deadline: Instant) -> Self {
        Self {
            max_output,
            timeout,
            deadline,
            breach: Cell::new(None),
            cancelled: None,
        }
    }

    /// This budget, ended early once `cancel` is set (a deleted job's conversion).
    pub fn cancellable(mut self, cancel: Arc<AtomicBool>) -> Self {
        self.cancelled = Some(cancel);
        self
    }

    /// Whether the conversion was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled
            .as_ref()
            .is_some_and(|cancel| cancel.load(Ordering::Relaxed))
    }

    /// When the time is up.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The output limit in bytes.
    pub fn max_output(&self) -> u64 {
        self.max_output
    }

    /// Fails once the deadline has passed or the conversion was cancelled.
    pub fn check_time(&self) -> Result<(), ConversionError> {
        if self.is_cancelled() {
            self.breach.set(Some(Breach::Cancelled));
            return Err(self.error(Breach::Cancelled));
        }
        if Instant::now() >= self.deadline {
            self.breach.set(Some(Breach::Time));
            return Err(self.error(Breach::Time));
        }
        Ok(())
    }

    /// Fails if `len` bytes are more than the output limit.
    pub fn check_output(&self, len: u64) -> Result<(), ConversionError> {
        if len > self.max_output {
            self.breach.set(Some(Breach::Output));
            return Err(self.error(Breach::Output));
        }
        Ok(())
    }

    /// Writes to `out` within this budget.
    pub fn writer<'a>(&'a self, out: &'a mut dyn Sink) -> BudgetWriter<'a> {
        BudgetWriter {
            budget: self,
            out,
            position: 0,
            len: 0,
        }
    }

    /// `error`, or the limit behind it: a library that failed because our writer
    /// refused a write reports its own wording, which would hide the real reason.
    pub fn explain(&self, error: ConversionError) -> ConversionError {
        match self.breach.get() {
            Some(breach) => self.error(breach),
            None => error,
        }
    }

    fn error(&self, breach: Breach) -> ConversionError {
        ConversionError::Limit(match breach {
            Breach::Output => format!(
                "the result is larger than the limit of {}",
                human_size(self.max_output)
            ),
            Breach::Time => format!(
                "the conversion took longer than the limit of {}",
                humantime::format_duration(self.timeout)
            ),
            Breach::Cancelled => "the conversion was cancelled".to_owned(),
        })
    }
}

/// Where a conversion's output goes: anything written to and sought in, as some
/// encoders (TIFF) go back to fill in offsets. In the server, a private file.
pub trait Sink: Write + Seek {}

impl<T: Write + Seek> Sink for T {}

/// A [`Sink`] that refuses writes past the budget's output limit or deadline. It
/// counts the furthest byte written, which is the size of the output.
pub struct BudgetWriter<'a> {
    budget: &'a Budget,
    out: &'a mut dyn Sink,
    position: u64,
    len: u64,
}

impl BudgetWriter<'_> {
    /// The size of the output so far: the furthest byte written.
    pub fn size(&self) -> u64 {
        self.len
    }
}

impl Write for BudgetWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let end = self.position + buf.len() as u64;
        let refused = self
            .budget
            .check_time()
            .and_then(|()| self.budget.check_output(end.max(self.len)));
        if let Err(error) = refused {
            return Err(std::io::Error::other(error.to_string()));
        }
        let written = self.out.write(buf)?;
        self.position += written as u64;
        self.len = self.len.max(self.position);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl Seek for BudgetWriter<'_> {
    fn seek(&mut self, position: SeekFrom) -> std::io::Result<u64> {
        self.position = self.out.seek(position)?;
        Ok(self.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_past_the_output_limit_is_refused_and_explained() {
        let budget = Budget::new(10, Duration::from_secs(60));
        let mut out = std::io::Cursor::new(Vec::new());
        let mut writer = budget.writer(&mut out);
        writer.write_all(b"0123456789").unwrap();
        writer.seek(SeekFrom::Start(4)).unwrap();
        writer.write_all(b"456789").unwrap();
        assert_eq!(writer.size(), 10);
        assert!(writer.write_all(b"x").is_err());
        let explained = budget.explain(ConversionError::Failed("io".into()));
        assert_eq!(
            explained.to_string(),
            "the result is larger than the limit of 10 bytes"
        );
    }

    #[test]
    fn after_the_deadline_nothing_more_is_done() {
        let budget = Budget::new(1 << 20, Duration::ZERO);
        let mut out = std::io::Cursor::new(Vec::new());
        assert!(budget.writer(&mut out).write_all(b"x").is_err());
        assert!(budget
            .check_time()
            .unwrap_err()
            .to_string()
            .contains("took longer"));
    }
}
