//! The service in front of every request: it gives the request its correlation id
//! (from a well-formed `X-Correlation-ID` header, or a fresh one), runs it inside that
//! context, echoes the id in the response header, and is the last line of defence
//! against panics.
//!
//! Hand-written as one [`Service`] with its own future rather than an
//! `axum::middleware::from_fn` plus tower-http's `CatchPanicLayer`: `from_fn` boxes the
//! inner service and the future on every request, and the two layers moved every
//! request and response through two futures. A panic becomes the same 500
//! `ServerError` envelope, inside the request's context so it carries its id.

use std::convert::Infallible;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};
use trustyconvert_protocol::CORRELATION_ID_HEADER;

use crate::correlation::{generate, well_formed, RequestContext, REQUEST};
use crate::error::ApiError;

/// Wraps a service in a [`Frame`].
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameLayer;

impl<S> Layer<S> for FrameLayer {
    type Service = Frame<S>;

    fn layer(&self, inner: S) -> Frame<S> {
        Frame { inner }
    }
}

/// Assigns the request's correlation id, runs the inner service within the request's
/// context, turns a panic into a 500 envelope and sets the `X-Correlation-ID` header.
#[derive(Debug, Clone)]
pub struct Frame<S> {
    inner: S,
}

impl<S> Service<Request> for Frame<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = FrameFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let correlation_id = request
            .headers()
            .get(CORRELATION_ID_HEADER)
            .and_then(well_formed)
            .unwrap_or_else(generate);
        let header = HeaderValue::from_str(&correlation_id).ok();
        let context = RequestContext {
            correlation_id,
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
        };
        // The inner service's synchronous part only matches routes; it panicking is
        // caught all the same.
        let inner = catch_unwind(AssertUnwindSafe(|| self.inner.call(request))).ok();
        FrameFuture {
            inner: REQUEST.scope(context, Guarded { inner }),
            header,
        }
    }
}

pin_project! {
    /// The response future of [`Frame`].
    pub struct FrameFuture<F> {
        #[pin]
        inner: TaskLocalFuture<RequestContext, Guarded<F>>,
        header: Option<HeaderValue>,
    }
}

impl<F> Future for FrameFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx));
        if let Some(value) = this.header.take() {
            response.headers_mut().insert(CORRELATION_ID_HEADER, value);
        }
        Poll::Ready(Ok(response))
    }
}

pin_project! {
    /// The inner service's future, polled inside the request's context; a panic (or a
    /// call that panicked, `None`) answers 500.
    pub struct Guarded<F> {
        #[pin]
        inner: Option<F>,
    }
}

impl<F> Future for Guarded<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        let response = match self.project().inner.as_pin_mut() {
            Some(inner) => match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(Ok(response))) => response,
                Err(_panic) => ApiError::internal().into_response(),
            },
            None => ApiError::internal().into_response(),
        };
        tracing::debug!(status = response.status().as_u16(), "response");
        Poll::Ready(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlation::current;

    /// Runs `inner` behind a [`Frame`] with a client-chosen correlation id.
    async fn framed<S>(inner: S) -> Response
    where
        S: Service<Request, Response = Response, Error = Infallible>,
    {
        let request = Request::builder()
            .uri("/api/session")
            .header(CORRELATION_ID_HEADER, "abc-123")
            .body(axum::body::Body::empty())
            .unwrap();
        let Ok(response) = FrameLayer.layer(inner).call(request).await;
        response
    }

    async fn envelope_id(response: Response) -> String {
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        json["correlation_id"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_a_500_envelope_with_the_requests_id() {
        let panics_later = tower::service_fn(|_: Request| async {
            if true {
                panic!("handler bug");
            }
            Ok::<Response, Infallible>(Response::new(axum::body::Body::empty()))
        });
        let response = framed(panics_later).await;
        assert_eq!(response.status(), 500);
        assert_eq!(response.headers()[CORRELATION_ID_HEADER], "abc-123");
        assert_eq!(envelope_id(response).await, "abc-123");
    }

    #[tokio::test]
    async fn a_service_panicking_when_called_answers_a_500_envelope() {
        #[derive(Clone)]
        struct PanicsOnCall;
        impl Service<Request> for PanicsOnCall {
            type Response = Response;
            type Error = Infallible;
            type Future = std::future::Ready<Result<Response, Infallible>>;
            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
                Poll::Ready(Ok(()))
            }
            fn call(&mut self, _: Request) -> Self::Future {
                panic!("routing bug")
            }
        }
        let response = framed(PanicsOnCall).await;
        assert_eq!(response.status(), 500);
        assert_eq!(response.headers()[CORRELATION_ID_HEADER], "abc-123");
    }

    #[tokio::test]
    async fn the_handler_sees_the_requests_context_and_the_header_is_echoed() {
        let echoes = tower::service_fn(|_: Request| async {
            let seen = current();
            Ok::<Response, Infallible>(Response::new(axum::body::Body::from(seen)))
        });
        let response = framed(echoes).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()[CORRELATION_ID_HEADER], "abc-123");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        assert_eq!(&body[..], b"abc-123");
    }
}
