//! The I/O boundary: one HTTP exchange, plus reading a cookie the client can see.
//!
//! Everything above this trait is target-independent. Tests wrap a real transport to
//! delay, fail or drop chosen calls.

#[cfg(target_arch = "wasm32")]
mod browser;
#[cfg(not(target_arch = "wasm32"))]
mod native;

#[cfg(target_arch = "wasm32")]
pub use browser::FetchTransport;
#[cfg(not(target_arch = "wasm32"))]
pub use native::ReqwestTransport;

use std::sync::Arc;
use std::time::Duration;

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    /// Safe: no CSRF token.
    Get,
    /// Unsafe: sent with `X-CSRF-Token`.
    Post,
    /// Unsafe: sent with `X-CSRF-Token`.
    Delete,
}

impl HttpMethod {
    /// The method name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Delete => "DELETE",
        }
    }

    /// Whether the server requires a CSRF token for it.
    pub fn is_unsafe(self) -> bool {
        self != Self::Get
    }
}

/// One request, relative to the transport's base URL. Cheap to clone (for replays).
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// The method.
    pub method: HttpMethod,
    /// Path and query, e.g. `/api/session/init?force=true`.
    pub path: String,
    /// Extra headers (name, value).
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<RequestBody>,
    /// Told how many bytes of the body (upload) or of the response (download) have
    /// moved so far, where the transport can observe it.
    pub progress: Option<Progress>,
    /// The longest the exchange may go without progress (connecting, a piece of the
    /// body taken, the response headers, a piece of the response) before it is
    /// abandoned with [`TransportError::TimedOut`]. `None`: no limit.
    pub timeout: Option<Duration>,
}

/// What a request carries.
#[derive(Debug, Clone)]
pub enum RequestBody {
    /// Bytes with their content type (JSON, say).
    Bytes {
        /// The `Content-Type`.
        content_type: String,
        /// The bytes, shared between replays.
        bytes: Arc<[u8]>,
    },
    /// A `multipart/form-data` upload; the transport encodes it (in the browser as
    /// `FormData`, so a `File` is never copied into wasm memory).
    Upload(Upload),
}

/// A `multipart/form-data` body: text fields, then one file part.
#[derive(Debug, Clone)]
pub struct Upload {
    /// Text fields, in order (e.g. `job_id`).
    pub fields: Vec<(String, String)>,
    /// The name of the file field (`file`).
    pub file_field: String,
    /// The file name sent with the part.
    pub filename: String,
    /// The file's content.
    pub file: FileBody,
}

/// The content of an uploaded file.
#[derive(Debug, Clone)]
pub enum FileBody {
    /// Bytes in memory.
    Bytes(Arc<[u8]>),
    /// A browser `Blob` or `File`, handed to `fetch` as it is.
    #[cfg(target_arch = "wasm32")]
    Blob(web_sys::Blob),
}

impl FileBody {
    /// The size in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Self::Bytes(bytes) => bytes.len() as u64,
            #[cfg(target_arch = "wasm32")]
            Self::Blob(blob) => blob.size() as u64,
        }
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RequestBody {
    /// The size of the payload in bytes (the file, for an upload).
    pub fn len(&self) -> u64 {
        match self {
            Self::Bytes { bytes, .. } => bytes.len() as u64,
            Self::Upload(upload) => upload.file.len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A progress callback: `(bytes so far, total bytes if known)`.
///
/// ```
/// use trustyconvert_client::Progress;
/// let progress = Progress::new(|done, total| println!("{done}/{total:?}"));
/// progress.report(10, Some(100));
/// ```
#[derive(Clone)]
pub struct Progress(Arc<dyn Fn(u64, Option<u64>) + Send + Sync>);

impl Progress {
    /// Wraps a callback.
    pub fn new(callback: impl Fn(u64, Option<u64>) + Send + Sync + 'static) -> Self {
        Self(Arc::new(callback))
    }

    /// Reports progress.
    pub fn report(&self, done: u64, total: Option<u64>) {
        (self.0)(done, total);
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

impl HttpRequest {
    /// A bodiless request.
    pub fn new(method: HttpMethod, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            headers: Vec::new(),
            body: None,
            progress: None,
            timeout: None,
        }
    }

    /// Sets (replacing) a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// One response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The value of cookie `name` in a `Cookie`-header-style string (`a=1; b=2`); empty
/// values count as absent.
pub(crate) fn cookie_value(cookies: &str, name: &str) -> Option<String> {
    cookies.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name && !value.is_empty()).then(|| value.to_owned())
    })
}

/// The request never produced a (whole) response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No progress within the request's timeout; the request was abandoned.
    #[error("{0}")]
    TimedOut(String),
    /// Connection refused or reset, an invalid URL, a cancelled request…
    #[error("{0}")]
    Failed(String),
}

/// Sends requests with the client's cookies and reads the cookies it can see.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait Transport: Send + Sync + 'static {
    /// Sends one request; cookies are attached and stored by the transport.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;

    /// The value of a cookie this client can read (the CSRF cookie; never the HttpOnly
    /// session cookie in a browser).
    fn cookie(&self, name: &str) -> Option<String>;

    /// The absolute (or, in the browser, page-relative) URL of `path`, for links the
    /// client hands to something else (a download the browser streams itself).
    fn url(&self, path: &str) -> String;
}
