//! The native transport: reqwest with a shared cookie jar; every request says
//! `Sec-Fetch-Site: none`, as a browser does for a request its user started.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::cookie::{CookieStore as _, Jar};
use reqwest::Url;

use super::{
    FileBody, HttpMethod, HttpRequest, HttpResponse, Progress, RequestBody, Transport,
    TransportError, Upload,
};

/// reqwest with a cookie jar; every clone shares the jar and the connection pool.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    jar: Arc<Jar>,
    base: Url,
}

impl ReqwestTransport {
    /// A transport for the server at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: &str) -> Result<Self, TransportError> {
        Self::with_jar(base, Arc::new(Jar::default()))
    }

    /// A transport using an existing cookie jar (for example one loaded from disk).
    pub fn with_jar(base: &str, jar: Arc<Jar>) -> Result<Self, TransportError> {
        let base = Url::parse(base).map_err(|error| {
            TransportError::Failed(format!("invalid server URL {base:?}: {error}"))
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(TransportError::Failed(format!(
                "server URL {base} must be http or https"
            )));
        }
        let client = reqwest::Client::builder()
            .cookie_provider(Arc::clone(&jar))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|error| {
                TransportError::Failed(format!("cannot build HTTP client: {error}"))
            })?;
        Ok(Self { client, jar, base })
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The cookie jar (to persist it).
    pub fn jar(&self) -> &Arc<Jar> {
        &self.jar
    }

    /// The `Cookie` header the jar would send to the server, if any.
    pub fn cookie_header(&self) -> Option<String> {
        self.jar
            .cookies(&self.base)
            .and_then(|value| value.to_str().ok().map(str::to_owned))
    }
}

#[async_trait::async_trait]
impl Transport for ReqwestTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let activity = Activity::new();
        let limit = request.timeout;
        let exchange = self.exchange(request, &activity);
        match limit {
            Some(limit) => watchdog(exchange, &activity, limit).await,
            None => exchange.await,
        }
    }

    fn cookie(&self, name: &str) -> Option<String> {
        let header = self.cookie_header()?;
        super::cookie_value(&header, name)
    }

    fn url(&self, path: &str) -> String {
        self.base
            .join(path)
            .map(String::from)
            .unwrap_or_else(|_| format!("{}{path}", self.base.as_str().trim_end_matches('/')))
    }
}

impl ReqwestTransport {
    /// One exchange, telling `activity` whenever it makes progress.
    async fn exchange(
        &self,
        request: HttpRequest,
        activity: &Activity,
    ) -> Result<HttpResponse, TransportError> {
        let url = self.base.join(&request.path).map_err(|error| {
            TransportError::Failed(format!("invalid path {:?}: {error}", request.path))
        })?;
        let method = match request.method {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Delete => reqwest::Method::DELETE,
        };
        // Every request of this client is one its user started, which a browser states
        // as `Sec-Fetch-Site: none`: the proof of origin the server asks of a forced
        // re-initialization (a browser sends the header itself; this client must).
        let mut builder = self
            .client
            .request(method, url)
            .header("sec-fetch-site", "none");
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        // Upload progress is reported for uploads; download progress for the rest.
        let mut download_progress = request.progress.clone();
        match request.body {
            Some(RequestBody::Bytes {
                content_type,
                bytes,
            }) => {
                builder = builder
                    .header("content-type", content_type)
                    .body(reqwest::Body::from(bytes.to_vec()));
            }
            Some(RequestBody::Upload(upload)) => {
                let progress = download_progress.take();
                builder = builder.multipart(multipart_form(upload, progress, activity)?);
            }
            None => {}
        }
        let mut response = builder.send().await.map_err(describe)?;
        activity.touch();
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let total = response.content_length();
        let mut body = Vec::with_capacity(total.unwrap_or(0).min(64 << 20) as usize);
        while let Some(chunk) = response.chunk().await.map_err(describe)? {
            activity.touch();
            body.extend_from_slice(&chunk);
            if let Some(progress) = &download_progress {
                progress.report(body.len() as u64, total);
            }
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

/// When an exchange last made progress, in milliseconds since it started.
///
/// Hand-written rather than reqwest's whole-request `timeout`: a 100 MiB upload on a
/// slow link must not be cut off at 15 s while it is still moving, but a server that
/// stops answering must be.
#[derive(Clone)]
struct Activity {
    started: Instant,
    last_millis: Arc<AtomicU64>,
}

impl Activity {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            last_millis: Arc::default(),
        }
    }

    fn touch(&self) {
        let elapsed = self.started.elapsed().as_millis() as u64;
        self.last_millis.fetch_max(elapsed, Ordering::Relaxed);
    }

    fn idle_deadline(&self, limit: Duration) -> Instant {
        self.started + Duration::from_millis(self.last_millis.load(Ordering::Relaxed)) + limit
    }
}

/// Runs `exchange` until it finishes or makes no progress for `limit`; dropping it
/// then closes the connection.
async fn watchdog(
    exchange: impl std::future::Future<Output = Result<HttpResponse, TransportError>>,
    activity: &Activity,
    limit: Duration,
) -> Result<HttpResponse, TransportError> {
    tokio::pin!(exchange);
    loop {
        let deadline = activity.idle_deadline(limit);
        tokio::select! {
            outcome = &mut exchange => return outcome,
            () = tokio::time::sleep_until(deadline.into()) => {
                if activity.idle_deadline(limit) <= Instant::now() {
                    return Err(TransportError::TimedOut(format!(
                        "no answer within {}",
                        humantime::format_duration(limit)
                    )));
                }
            }
        }
    }
}

/// Size of the pieces an upload is handed to the connection in.
const UPLOAD_CHUNK: usize = 64 * 1024;

/// The upload as a multipart form whose file part is streamed in chunks, each one
/// reported to `progress` and `activity` as the connection takes it.
fn multipart_form(
    upload: Upload,
    progress: Option<Progress>,
    activity: &Activity,
) -> Result<reqwest::multipart::Form, TransportError> {
    let FileBody::Bytes(bytes) = upload.file;
    let total = bytes.len() as u64;
    let activity = activity.clone();
    let chunks = (0..bytes.len()).step_by(UPLOAD_CHUNK).map(move |start| {
        let end = (start + UPLOAD_CHUNK).min(bytes.len());
        activity.touch();
        if let Some(progress) = &progress {
            progress.report(end as u64, Some(total));
        }
        Ok::<_, std::io::Error>(bytes[start..end].to_vec())
    });
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let file = reqwest::multipart::Part::stream_with_length(body, total)
        .file_name(upload.filename)
        .mime_str("application/octet-stream")
        .map_err(describe)?;
    // Like a browser: the name goes as UTF-8, not percent-encoded.
    let mut form = reqwest::multipart::Form::new().percent_encode_noop();
    for (name, value) in upload.fields {
        form = form.text(name, value);
    }
    Ok(form.part(upload.file_field, file))
}

fn describe(error: reqwest::Error) -> TransportError {
    let kind = if error.is_connect() {
        "connection failed"
    } else if error.is_timeout() {
        "timed out"
    } else {
        "request failed"
    };
    // The innermost cause says the useful thing ("Connection refused").
    let mut cause: &dyn std::error::Error = &error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let message = format!("{kind}: {cause}");
    if error.is_timeout() {
        TransportError::TimedOut(message)
    } else {
        TransportError::Failed(message)
    }
}
