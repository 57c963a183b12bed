//! A request body must keep moving. It may pause at most the idle timeout, and once its
//! grace period is over it must average at least the minimum rate — Apache
//! mod_reqtimeout's `MinRate` rule: the body's deadline starts `grace` after its head
//! arrived and moves one second later for every `min_rate` bytes received, so a client
//! that sent a lot early may pause later, while a trickle is cut off however steady it
//! is. A body past either limit ends with [`SlowBody`], which the extractors answer as
//! a `ValidationError` while a response can still be sent.

use std::error::Error as StdError;
use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::BoxError;
use hyper::body::{Body, Bytes, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::config::HttpLimits;
use trustyconvert_protocol::details;
use trustyconvert_session::ApiError;

/// Why a request body was given up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlowBody {
    /// Nothing arrived for the idle timeout.
    #[error("the request body paused for more than {} s", .idle.as_secs())]
    Stalled {
        /// The idle timeout.
        idle: Duration,
    },
    /// Past the grace period, the body averaged less than the minimum rate.
    #[error(
        "the request body arrived at less than {min_rate} bytes/s after its first {} s",
        .grace.as_secs()
    )]
    TooSlow {
        /// The minimum rate, bytes per second.
        min_rate: u64,
        /// The grace period.
        grace: Duration,
    },
}

impl SlowBody {
    /// The `SlowBody` that caused `error`, looked for along its chain of sources (the
    /// extractors wrap a body's error in their own).
    pub fn cause_of(error: &(dyn StdError + 'static)) -> Option<Self> {
        let mut next = Some(error);
        while let Some(error) = next {
            if let Some(slow) = error.downcast_ref::<Self>() {
                return Some(*slow);
            }
            next = error.source();
        }
        None
    }

    /// The answer to the client: 400 `ValidationError` naming the limit.
    pub fn api_error(self) -> ApiError {
        match self {
            Self::Stalled { idle } => ApiError::validation(format!(
                "The request body stopped arriving for more than {} seconds.",
                idle.as_secs()
            ))
            .with_detail(details::REASON, "body_stalled")
            .with_detail(details::IDLE_TIMEOUT_SECONDS, idle.as_secs()),
            Self::TooSlow { min_rate, grace } => ApiError::validation(format!(
                "The request body arrived too slowly: after the first {} seconds it must \
                 average at least {min_rate} bytes per second.",
                grace.as_secs()
            ))
            .with_detail(details::REASON, "body_too_slow")
            .with_detail(details::MIN_RATE_BYTES_PER_SECOND, min_rate)
            .with_detail(details::GRACE_SECONDS, grace.as_secs()),
        }
    }
}

/// The pace a request body is held to, from [`HttpLimits`].
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    idle: Duration,
    grace: Duration,
    min_rate: u64,
}

impl Pace {
    /// The body limits of `limits`.
    pub fn new(limits: &HttpLimits) -> Self {
        Self {
            idle: limits.body_idle_timeout,
            grace: limits.body_rate_grace,
            min_rate: limits.body_min_rate.max(1),
        }
    }

    /// When a body that began at `started`, last received data at `last_data` and has
    /// received `received` bytes so far is given up on, and why.
    fn deadline(&self, started: Instant, last_data: Instant, received: u64) -> (Instant, SlowBody) {
        let idle = (last_data + self.idle, SlowBody::Stalled { idle: self.idle });
        let earned = Duration::from_millis(received.saturating_mul(1000) / self.min_rate);
        let rate = (
            started + self.grace.saturating_add(earned),
            SlowBody::TooSlow {
                min_rate: self.min_rate,
                grace: self.grace,
            },
        );
        if rate.0 < idle.0 {
            rate
        } else {
            idle
        }
    }

    /// `body`, held to this pace from now on.
    pub fn wrap<B>(self, body: B) -> PacedBody<B> {
        let now = Instant::now();
        PacedBody {
            inner: body,
            pace: self,
            started: now,
            last_data: now,
            received: 0,
            timer: None,
        }
    }
}

/// A request body held to a [`Pace`]: it fails with [`SlowBody`] when the client falls
/// behind. Time the server spends not reading is not held against the client: the
/// deadline is checked only when no data is waiting.
#[derive(Debug)]
pub struct PacedBody<B> {
    inner: B,
    pace: Pace,
    started: Instant,
    last_data: Instant,
    received: u64,
    /// Created the first time the body has to wait.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<B> Body for PacedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref().filter(|data| !data.is_empty()) {
                    this.received = this.received.saturating_add(data.len() as u64);
                    this.last_data = Instant::now();
                }
                return Poll::Ready(Some(Ok(frame)));
            }
            Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        let (deadline, reason) = this
            .pace
            .deadline(this.started, this.last_data, this.received);
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(reason.into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace() -> Pace {
        Pace {
            idle: Duration::from_secs(30),
            grace: Duration::from_secs(20),
            min_rate: 1000,
        }
    }

    #[test]
    fn the_rate_deadline_moves_one_second_per_min_rate_bytes() {
        let start = Instant::now();
        let (at, why) = pace().deadline(start, start, 0);
        assert_eq!(at, start + Duration::from_secs(20));
        assert!(matches!(why, SlowBody::TooSlow { .. }));
        let (at, _) = pace().deadline(start, start + Duration::from_secs(9), 5_000);
        assert_eq!(at, start + Duration::from_secs(25));
    }

    #[test]
    fn a_long_pause_after_a_fast_start_is_held_to_the_idle_timeout() {
        let start = Instant::now();
        let last = start + Duration::from_secs(1);
        let (at, why) = pace().deadline(start, last, 1_000_000);
        assert_eq!(at, last + Duration::from_secs(30));
        assert_eq!(
            why,
            SlowBody::Stalled {
                idle: Duration::from_secs(30)
            }
        );
    }

    #[test]
    fn the_cause_is_found_inside_wrapping_errors() {
        let slow = SlowBody::Stalled {
            idle: Duration::from_secs(3),
        };
        let wrapped = axum::Error::new(slow);
        assert_eq!(SlowBody::cause_of(&wrapped), Some(slow));
        let other = std::io::Error::other("reset");
        assert_eq!(SlowBody::cause_of(&other), None);
    }
}
