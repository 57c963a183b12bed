//! The native transport: reqwest with a shared cookie jar.

use std::sync::Arc;
use std::time::Duration;

use reqwest::cookie::{CookieStore as _, Jar};
use reqwest::Url;

use super::{HttpMethod, HttpRequest, HttpResponse, Progress, Transport, TransportError};

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
        let base = Url::parse(base)
            .map_err(|error| TransportError(format!("invalid server URL {base:?}: {error}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(TransportError(format!(
                "server URL {base} must be http or https"
            )));
        }
        let client = reqwest::Client::builder()
            .cookie_provider(Arc::clone(&jar))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|error| TransportError(format!("cannot build HTTP client: {error}")))?;
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
        let url = self
            .base
            .join(&request.path)
            .map_err(|error| TransportError(format!("invalid path {:?}: {error}", request.path)))?;
        let method = match request.method {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
        };
        let mut builder = self.client.request(method, url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some((content_type, bytes)) = &request.body {
            let body = match &request.progress {
                Some(progress) => upload_stream(bytes.clone(), progress.clone()),
                None => reqwest::Body::from(bytes.to_vec()),
            };
            builder = builder.header("content-type", content_type).body(body);
        }
        let mut response = builder.send().await.map_err(describe)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let total = response.content_length();
        // Download progress is reported for bodiless requests (a download), not for the
        // small answer to an upload.
        let download_progress = request.progress.as_ref().filter(|_| request.body.is_none());
        let mut body = Vec::with_capacity(total.unwrap_or(0).min(64 << 20) as usize);
        while let Some(chunk) = response.chunk().await.map_err(describe)? {
            body.extend_from_slice(&chunk);
            if let Some(progress) = download_progress {
                progress.report(body.len() as u64, total);
            }
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    fn cookie(&self, name: &str) -> Option<String> {
        let header = self.cookie_header()?;
        super::cookie_value(&header, name)
    }
}

/// Size of the pieces an upload is handed to the connection in.
const UPLOAD_CHUNK: usize = 64 * 1024;

/// The body as a stream of chunks, reporting each one as the connection takes it.
fn upload_stream(bytes: Arc<[u8]>, progress: Progress) -> reqwest::Body {
    let total = bytes.len() as u64;
    let chunks = (0..bytes.len()).step_by(UPLOAD_CHUNK).map(move |start| {
        let end = (start + UPLOAD_CHUNK).min(bytes.len());
        progress.report(end as u64, Some(total));
        Ok::<_, std::io::Error>(bytes[start..end].to_vec())
    });
    reqwest::Body::wrap_stream(futures::stream::iter(chunks))
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
    TransportError(format!("{kind}: {cause}"))
}
