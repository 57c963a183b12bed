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

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    /// Safe: no CSRF token.
    Get,
    /// Unsafe: sent with `X-CSRF-Token`.
    Post,
}

impl HttpMethod {
    /// The method name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }

    /// Whether the server requires a CSRF token for it.
    pub fn is_unsafe(self) -> bool {
        self == Self::Post
    }
}

/// One request, relative to the transport's base URL. Cheap to clone (for replays).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method.
    pub method: HttpMethod,
    /// Path and query, e.g. `/api/session/init?force=true`.
    pub path: String,
    /// Extra headers (name, value).
    pub headers: Vec<(String, String)>,
    /// The body and its content type.
    pub body: Option<(String, std::sync::Arc<[u8]>)>,
    /// Told how many bytes of the body (upload) or of the response (download) have
    /// moved so far, where the transport can observe it.
    pub progress: Option<Progress>,
}

/// A progress callback: `(bytes so far, total bytes if known)`.
///
/// ```
/// use trustyconvert_client::Progress;
/// let progress = Progress::new(|done, total| println!("{done}/{total:?}"));
/// progress.report(10, Some(100));
/// ```
#[derive(Clone)]
pub struct Progress(std::sync::Arc<dyn Fn(u64, Option<u64>) + Send + Sync>);

impl Progress {
    /// Wraps a callback.
    pub fn new(callback: impl Fn(u64, Option<u64>) + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(callback))
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

/// Two requests are equal whatever their progress callbacks.
impl PartialEq for Progress {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Progress {}

impl HttpRequest {
    /// A bodiless request.
    pub fn new(method: HttpMethod, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            headers: Vec::new(),
            body: None,
            progress: None,
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

/// The request never produced a response (connection refused, reset, timeout…).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

/// Sends requests with the client's cookies and reads the cookies it can see.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait Transport: Send + Sync + 'static {
    /// Sends one request; cookies are attached and stored by the transport.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;

    /// The value of a cookie this client can read (the CSRF cookie; never the HttpOnly
    /// session cookie in a browser).
    fn cookie(&self, name: &str) -> Option<String>;
}
