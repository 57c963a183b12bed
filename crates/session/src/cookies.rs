//! Reading our cookies from requests and writing `Set-Cookie` headers.
//!
//! Parsing is hand-written over raw bytes on purpose: a `Cookie` header with a
//! non-ASCII or otherwise odd value elsewhere must not make us lose (or 500 on) our own
//! cookie, and a value we do not like is simply "no cookie".

use std::fmt::Write as _;
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

/// Builds the `Set-Cookie` values for one configuration.
#[derive(Debug, Clone)]
pub struct CookieWriter {
    session: CookieShape,
    csrf: CookieShape,
}

/// One cookie's fixed parts, assembled once: a `Set-Cookie` value is then the name,
/// the value, the max-age and the attributes pushed into one buffer.
#[derive(Debug, Clone)]
struct CookieShape {
    name: String,
    /// `; HttpOnly; Secure; SameSite=…` as configured.
    attributes: String,
}

impl CookieShape {
    fn new(name: String, http_only: bool, config: &CookieConfig) -> Self {
        let mut attributes = String::new();
        if http_only {
            attributes.push_str("; HttpOnly");
        }
        if config.secure {
            attributes.push_str("; Secure");
        }
        attributes.push_str("; SameSite=");
        attributes.push_str(config.same_site.as_str());
        Self { name, attributes }
    }

    fn build(&self, value: &str, max_age_secs: u64) -> HeaderValue {
        const PATH_AND_AGE: &str = "; Path=/; Max-Age=";
        let mut cookie = String::with_capacity(
            self.name.len() + 1 + value.len() + PATH_AND_AGE.len() + 20 + self.attributes.len(),
        );
        cookie.push_str(&self.name);
        cookie.push('=');
        cookie.push_str(value);
        cookie.push_str(PATH_AND_AGE);
        // Writing into a String cannot fail.
        let _ = write!(cookie, "{max_age_secs}");
        cookie.push_str(&self.attributes);
        // Names are validated tokens and values are base64url, so this cannot fail; the
        // buffer becomes the header's bytes without a copy.
        HeaderValue::try_from(cookie).expect("cookie is visible ASCII")
    }
}

impl CookieWriter {
    /// A writer for `config`.
    pub fn new(config: CookieConfig) -> Self {
        Self {
            session: CookieShape::new(config.session_cookie_name(), true, &config),
            csrf: CookieShape::new(config.csrf_cookie_name(), false, &config),
        }
    }

    /// The session cookie name on the wire.
    pub fn session_name(&self) -> &str {
        &self.session.name
    }

    /// The CSRF cookie name on the wire.
    pub fn csrf_name(&self) -> &str {
        &self.csrf.name
    }

    /// Both cookies, living for `max_age`.
    pub fn issue(&self, session_id: &str, csrf_token: &str, max_age: Duration) -> [HeaderValue; 2] {
        let seconds = max_age.as_secs() + u64::from(max_age.subsec_nanos() > 0);
        [
            self.session.build(session_id, seconds),
            self.csrf.build(csrf_token, seconds),
        ]
    }

    /// Only the CSRF cookie (after a rotation).
    pub fn issue_csrf(&self, csrf_token: &str, max_age: Duration) -> HeaderValue {
        self.csrf.build(csrf_token, max_age.as_secs().max(1))
    }

    /// Both cookies expired (`Max-Age=0`, same name, path and attributes).
    pub fn expire(&self) -> [HeaderValue; 2] {
        [self.session.build("", 0), self.csrf.build("", 0)]
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
