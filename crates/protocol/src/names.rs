//! Default cookie and header names. Cookie names are configurable on the server; these
//! are the defaults every client assumes unless told otherwise.

/// Default name of the cookie carrying the secret session id (HttpOnly).
pub const DEFAULT_SESSION_COOKIE: &str = "trustyconvert_session";

/// Default name of the cookie carrying the CSRF token (readable by scripts).
pub const DEFAULT_CSRF_COOKIE: &str = "csrftoken";

/// Prefix that makes browsers enforce `Secure`, `Path=/` and no `Domain` on a cookie.
pub const HOST_COOKIE_PREFIX: &str = "__Host-";

/// Request header that must repeat the CSRF token on every unsafe request.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Request and response header carrying the correlation id of one request.
pub const CORRELATION_ID_HEADER: &str = "x-correlation-id";
