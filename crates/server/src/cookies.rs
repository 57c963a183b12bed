//! Reading our cookies from requests and writing `Set-Cookie` headers.
//!
//! Parsing is hand-written over raw bytes on purpose: a `Cookie` header with a
//! non-ASCII or otherwise odd value elsewhere must not make us lose (or 500 on) our own
//! cookie, and a value we do not like is simply "no cookie".

use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue};

use crate::config::CookieConfig;

/// The first value of cookie `name` across all `Cookie` headers, as raw bytes.
pub fn find_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    headers.get_all(header::COOKIE).iter().find_map(|value| {
        value.as_bytes().split(|b| *b == b';').find_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|b| *b == b'=')?;
            (pair[..eq].trim_ascii() == name.as_bytes()).then(|| pair[eq + 1..].trim_ascii())
        })
    })
}

/// Which of the two cookies is being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Session,
    Csrf,
}

/// Builds the `Set-Cookie` values for one configuration.
#[derive(Debug, Clone)]
pub struct CookieWriter {
    config: CookieConfig,
    session_name: String,
    csrf_name: String,
}

impl CookieWriter {
    /// A writer for `config`.
    pub fn new(config: CookieConfig) -> Self {
        let session_name = config.session_cookie_name();
        let csrf_name = config.csrf_cookie_name();
        Self {
            config,
            session_name,
            csrf_name,
        }
    }

    /// The session cookie name on the wire.
    pub fn session_name(&self) -> &str {
        &self.session_name
    }

    /// The CSRF cookie name on the wire.
    pub fn csrf_name(&self) -> &str {
        &self.csrf_name
    }

    /// Both cookies, living for `max_age`.
    pub fn issue(&self, session_id: &str, csrf_token: &str, max_age: Duration) -> [HeaderValue; 2] {
        let seconds = max_age.as_secs() + u64::from(max_age.subsec_nanos() > 0);
        [
            self.build(Which::Session, session_id, seconds),
            self.build(Which::Csrf, csrf_token, seconds),
        ]
    }

    /// Only the CSRF cookie (after a rotation).
    pub fn issue_csrf(&self, csrf_token: &str, max_age: Duration) -> HeaderValue {
        self.build(Which::Csrf, csrf_token, max_age.as_secs().max(1))
    }

    /// Both cookies expired (`Max-Age=0`, same name, path and attributes).
    pub fn expire(&self) -> [HeaderValue; 2] {
        [
            self.build(Which::Session, "", 0),
            self.build(Which::Csrf, "", 0),
        ]
    }

    fn build(&self, which: Which, value: &str, max_age_secs: u64) -> HeaderValue {
        let name = match which {
            Which::Session => &self.session_name,
            Which::Csrf => &self.csrf_name,
        };
        let mut cookie = format!("{name}={value}; Path=/; Max-Age={max_age_secs}");
        if which == Which::Session {
            cookie.push_str("; HttpOnly");
        }
        if self.config.secure {
            cookie.push_str("; Secure");
        }
        cookie.push_str("; SameSite=");
        cookie.push_str(self.config.same_site.as_str());
        // Names are validated tokens and values are base64url, so this cannot fail.
        HeaderValue::from_str(&cookie).expect("cookie is visible ASCII")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_our_cookie_among_odd_ones() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_bytes(b"other=\xff\xfe; a=1").unwrap(),
        );
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("x=y;  csrftoken = abc ; z"),
        );
        assert_eq!(find_cookie(&headers, "csrftoken"), Some(&b"abc"[..]));
        assert_eq!(find_cookie(&headers, "a"), Some(&b"1"[..]));
        assert_eq!(find_cookie(&headers, "missing"), None);
    }
}
