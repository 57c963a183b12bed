//! Web origins (`scheme://host[:port]`), parsed strictly and compared whole. A leaf:
//! the configuration validates origins with it, the CSRF check compares them.

/// The scheme of an origin: the API is reached over `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP (port 80 by default).
    Http,
    /// HTTP over TLS (port 443 by default).
    Https,
}

impl Scheme {
    /// Reads `http` or `https`, in any case.
    pub fn parse(text: &str) -> Option<Self> {
        if text.eq_ignore_ascii_case("http") {
            Some(Self::Http)
        } else if text.eq_ignore_ascii_case("https") {
            Some(Self::Https)
        } else {
            None
        }
    }

    /// The port an origin of this scheme has when it names none.
    fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
}

/// A parsed web origin with its port made explicit; two origins are the same only
/// when scheme, host and port all are.
///
/// ```
/// use trustyconvert_session::origin::Origin;
/// let a = Origin::parse("https://Example.com").unwrap();
/// assert_eq!(a, Origin::parse("https://example.com:443").unwrap());
/// assert_ne!(a, Origin::parse("http://example.com:443").unwrap());
/// assert!(Origin::parse("https://example.com/").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: Scheme,
    host: String,
    port: u16,
}

impl Origin {
    /// Parses `http(s)://host[:port]` strictly: no path, user info, query or fragment.
    pub fn parse(text: &str) -> Option<Self> {
        let (scheme, authority) = text.split_once("://")?;
        let scheme = Scheme::parse(scheme)?;
        Self::from_host(scheme, authority)
    }

    /// The origin a `Host` header (`host[:port]`) names when reached over `scheme`.
    pub fn from_host(scheme: Scheme, host_header: &str) -> Option<Self> {
        let (host, port) = split_authority(host_header, scheme.default_port())?;
        Some(Self { scheme, host, port })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_bare_origins() {
        assert!(Origin::parse("http://127.0.0.1:8080").is_some());
        assert!(Origin::parse("http://[::1]:8080").is_some());
        assert!(Origin::parse("HTTPS://a.example").is_some());
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
}
