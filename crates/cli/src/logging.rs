//! The server's log lines: tracing-subscriber's usual layout, plus, on every line
//! written while a request is handled, that request's correlation id, method and path
//! (read from the server's request context, so nothing is formatted per request
//! unless a line is actually written).

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;
use trustyconvert_session::correlation;

/// Sends logs to stderr, filtered by `TRUSTY_LOG` (`info` by default).
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRUSTY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .event_format(RequestLines)
        .with_writer(std::io::stderr)
        .init();
}

/// `TIME LEVEL request{correlation_id=… method=… path=…}: spans: target: fields`.
struct RequestLines;

impl<S, N> FormatEvent<S, N> for RequestLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        SystemTime.format_time(&mut writer)?;
        write!(writer, " {:>5} ", metadata.level())?;
        if let Some(request) = correlation::request() {
            write!(
                writer,
                "request{{correlation_id={} method={} path={}}}: ",
                request.correlation_id, request.method, request.path
            )?;
        }
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                write!(writer, "{}", span.name())?;
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>() {
                    if !fields.is_empty() {
                        write!(writer, "{{{fields}}}")?;
                    }
                }
                write!(writer, ": ")?;
            }
        }
        write!(writer, "{}: ", metadata.target())?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
