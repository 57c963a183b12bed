//! Origins (`scheme://host[:port]`) and the cross-origin check that runs before the
//! token check on every unsafe request.

use axum::http::{header, HeaderMap};

use super::CsrfReason;

/// A parsed web origin with its port made explicit.
///
/// ```
/// use trustyconvert_server::csrf::Origin;
/// let a = Origin::parse("https://Example.com").unwrap();
/// assert_eq!(a, Origin::parse("https://example.com:443").unwrap());
/// assert!(Origin::parse("https://example.com/").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: &'static str,
    host: String,
    port: u16,
}

impl Origin {
    /// Parses `http(s)://host[:port]` strictly: no path, user info, query or fragment.
    pub fn parse(text: &str) -> Option<Self> {
        let (scheme, authority) = text.split_once("://")?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => "http",
            "https" => "https",
            _ => return None,
        };
        let (host, port) = split_authority(authority, default_port(scheme))?;
        Some(Self { scheme, host, port })
    }

    /// Whether this origin names the same host and port as a `Host` header.
    fn is_host(&self, host_header: &str) -> bool {
        split_authority(host_header, default_port(self.scheme))
            .is_some_and(|(host, port)| host == self.host && port == self.port)
    }
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" {
        443
    } else {
        80
    }
}

/// Splits `host[:port]` (with `[v6]` literals), lower-casing the host.
fn split_authority(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if authority.is_empty()
        || authority
            .bytes()
            .any(|b| b"/?#@\\ ".contains(&b) || !b.is_ascii_graphic())
    {
        return None;
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        (format!("[{v6}]"), port)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (authority.to_owned(), None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(port) => port.parse().ok().filter(|p| *p != 0)?,
        None => default_port,
    };
    Some((host.to_ascii_lowercase(), port))
}

/// The cross-origin check.
///
/// - `Origin: null` is always refused.
/// - With fetch metadata: `same-origin` and `none` pass; anything else (`cross-site`,
///   `same-site`) passes only with an allow-listed `Origin`.
/// - Without fetch metadata: an `Origin` must equal the `Host` or be allow-listed.
/// - With neither header the caller is not a browser: the origin check is skipped
///   (the token check still runs).
pub fn check_origin(headers: &HeaderMap, allowed: &[Origin]) -> Result<(), CsrfReason> {
    let origin = headers
        .get(header::ORIGIN)
        .map(|value| value.to_str().unwrap_or(""));
    if origin.is_some_and(|o| o.trim().eq_ignore_ascii_case("null")) {
        return Err(CsrfReason::NullOrigin);
    }
    let parsed = origin.and_then(Origin::parse);
    let allow_listed = parsed.as_ref().is_some_and(|o| allowed.contains(o));
    match headers.get("sec-fetch-site").map(|v| v.as_bytes()) {
        Some(b"same-origin" | b"none") => Ok(()),
        Some(_) if allow_listed => Ok(()),
        Some(_) => Err(CsrfReason::CrossSite),
        None => match origin {
            None => Ok(()),
            Some(_) if allow_listed => Ok(()),
            Some(_) => {
                let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
                match (parsed, host) {
                    (Some(origin), Some(host)) if origin.is_host(host) => Ok(()),
                    _ => Err(CsrfReason::OriginMismatch),
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn parses_only_bare_origins() {
        assert!(Origin::parse("http://127.0.0.1:8080").is_some());
        assert!(Origin::parse("http://[::1]:8080").is_some());
        for bad in [
            "ftp://x",
            "http://",
            "http://a/b",
            "http://u@a",
            "http://a:0",
            "http://a:x",
            "a.com",
        ] {
            assert!(Origin::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn look_alike_origin_is_not_allow_listed() {
        let allowed = [Origin::parse("https://allowed.example").unwrap()];
        let h = headers(&[
            ("origin", "https://allowed.example.evil.example"),
            ("host", "api.local"),
        ]);
        assert_eq!(check_origin(&h, &allowed), Err(CsrfReason::OriginMismatch));
        let h = headers(&[("origin", "https://allowed.example"), ("host", "api.local")]);
        assert_eq!(check_origin(&h, &allowed), Ok(()));
    }

    #[test]
    fn origin_equal_to_host_passes() {
        let h = headers(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert_eq!(check_origin(&h, &[]), Ok(()));
        let h = headers(&[
            ("origin", "http://127.0.0.1:8081"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert_eq!(check_origin(&h, &[]), Err(CsrfReason::OriginMismatch));
    }

    #[test]
    fn same_site_needs_the_allow_list() {
        let h = headers(&[
            ("sec-fetch-site", "same-site"),
            ("origin", "https://a.example"),
        ]);
        assert_eq!(check_origin(&h, &[]), Err(CsrfReason::CrossSite));
    }
}
