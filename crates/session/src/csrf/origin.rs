//! Origins (`scheme://host[:port]`), the service's own public origins, and the
//! cross-origin check that runs before the token check on every unsafe request and
//! decides whether a forced re-initialization has proof of coming from this site.

use axum::http::{header, HeaderMap};

use super::CsrfReason;
use crate::origin::{Origin, Scheme};

/// The origins the service's own pages are served from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicOrigins {
    /// Set by the operator (`--public-origin`, the first and any aliases).
    Configured(Vec<Origin>),
    /// Not set: each request's `Host` with the scheme the request arrived over.
    FromHost,
}

impl PublicOrigins {
    /// Whether `origin` is one of this service's own, for a request with `headers`
    /// that arrived over `arrival`.
    fn contains(&self, origin: &Origin, headers: &HeaderMap, arrival: Scheme) -> bool {
        match self {
            Self::Configured(origins) => origins.contains(origin),
            Self::FromHost => headers
                .get(header::HOST)
                .and_then(|host| host.to_str().ok())
                .and_then(|host| Origin::from_host(arrival, host))
                .is_some_and(|own| own == *origin),
        }
    }
}

/// What a request that passed the origin check showed about where it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// Positive proof: fetch metadata `same-origin` or `none`, or an `Origin` that is
    /// a public origin of the service or on the allow-list.
    Proven,
    /// Neither fetch metadata nor `Origin`: not a browser, or a browser that sends
    /// neither (a cross-site link in an old one). Enough for an unsafe request, which
    /// still needs its token; never enough to replace a session.
    Unstated,
}

/// The cross-origin rules of one deployment: its public origins and the allow-list
/// of other origins that may call it.
#[derive(Debug, Clone)]
pub struct OriginRules {
    public: PublicOrigins,
    allowed: Vec<Origin>,
}

impl OriginRules {
    /// Rules accepting `public` (the service itself) and `allowed` (other sites).
    pub fn new(public: PublicOrigins, allowed: Vec<Origin>) -> Self {
        Self { public, allowed }
    }

    /// The cross-origin check, for a request that arrived over `arrival`.
    ///
    /// - `Origin: null` is always refused.
    /// - With fetch metadata: `same-origin` and `none` pass; anything else
    ///   (`cross-site`, `same-site`) passes only with an allow-listed `Origin`.
    /// - Without fetch metadata: an `Origin` must be a public origin (scheme, host and
    ///   port) or allow-listed.
    /// - With neither header the caller is not a browser: the request passes
    ///   [`Provenance::Unstated`] (a `Referer` is never read).
    pub fn check(&self, headers: &HeaderMap, arrival: Scheme) -> Result<Provenance, CsrfReason> {
        let origin = headers
            .get(header::ORIGIN)
            .map(|value| value.to_str().unwrap_or(""));
        if origin.is_some_and(|o| o.trim().eq_ignore_ascii_case("null")) {
            return Err(CsrfReason::NullOrigin);
        }
        let parsed = origin.and_then(Origin::parse);
        let allow_listed = parsed.as_ref().is_some_and(|o| self.allowed.contains(o));
        match headers.get("sec-fetch-site").map(|v| v.as_bytes()) {
            Some(b"same-origin" | b"none") => Ok(Provenance::Proven),
            Some(_) if allow_listed => Ok(Provenance::Proven),
            Some(_) => Err(CsrfReason::CrossSite),
            None => match (origin, parsed) {
                (None, _) => Ok(Provenance::Unstated),
                (Some(_), Some(origin))
                    if allow_listed || self.public.contains(&origin, headers, arrival) =>
                {
                    Ok(Provenance::Proven)
                }
                (Some(_), _) => Err(CsrfReason::OriginMismatch),
            },
        }
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

    fn derived(allowed: &[&str]) -> OriginRules {
        let allowed = allowed.iter().map(|o| Origin::parse(o).unwrap()).collect();
        OriginRules::new(PublicOrigins::FromHost, allowed)
    }

    #[test]
    fn look_alike_origin_is_not_allow_listed() {
        let rules = derived(&["https://allowed.example"]);
        let h = headers(&[
            ("origin", "https://allowed.example.evil.example"),
            ("host", "api.local"),
        ]);
        assert_eq!(
            rules.check(&h, Scheme::Http),
            Err(CsrfReason::OriginMismatch)
        );
        let h = headers(&[("origin", "https://allowed.example"), ("host", "api.local")]);
        assert_eq!(rules.check(&h, Scheme::Http), Ok(Provenance::Proven));
    }

    #[test]
    fn origin_must_equal_the_host_in_scheme_and_port() {
        let rules = derived(&[]);
        let check = |origin: &'static str, arrival| {
            rules.check(
                &headers(&[("origin", origin), ("host", "127.0.0.1:8080")]),
                arrival,
            )
        };
        assert_eq!(
            check("http://127.0.0.1:8080", Scheme::Http),
            Ok(Provenance::Proven)
        );
        for (origin, arrival) in [
            ("http://127.0.0.1:8081", Scheme::Http),
            ("https://127.0.0.1:8080", Scheme::Http),
            ("http://127.0.0.1:8080", Scheme::Https),
        ] {
            assert_eq!(
                check(origin, arrival),
                Err(CsrfReason::OriginMismatch),
                "{origin} over {arrival:?}"
            );
        }
    }

    #[test]
    fn configured_public_origins_replace_the_host() {
        let rules = OriginRules::new(
            PublicOrigins::Configured(vec![
                Origin::parse("https://convert.example").unwrap(),
                Origin::parse("https://alias.example").unwrap(),
            ]),
            Vec::new(),
        );
        let check = |origin: &'static str| {
            rules.check(
                &headers(&[("origin", origin), ("host", "convert.example")]),
                Scheme::Https,
            )
        };
        assert_eq!(check("https://convert.example"), Ok(Provenance::Proven));
        assert_eq!(check("https://alias.example"), Ok(Provenance::Proven));
        assert_eq!(
            check("http://convert.example"),
            Err(CsrfReason::OriginMismatch)
        );
    }

    #[test]
    fn only_headers_a_browser_sets_prove_anything() {
        let rules = derived(&[]);
        let check =
            |pairs: &[(&'static str, &'static str)]| rules.check(&headers(pairs), Scheme::Http);
        assert_eq!(check(&[]), Ok(Provenance::Unstated));
        assert_eq!(
            check(&[("referer", "http://api.local/"), ("host", "api.local")]),
            Ok(Provenance::Unstated)
        );
        for site in ["same-origin", "none"] {
            assert_eq!(check(&[("sec-fetch-site", site)]), Ok(Provenance::Proven));
        }
    }

    #[test]
    fn same_site_needs_the_allow_list() {
        let h = headers(&[
            ("sec-fetch-site", "same-site"),
            ("origin", "https://a.example"),
        ]);
        assert_eq!(
            derived(&[]).check(&h, Scheme::Http),
            Err(CsrfReason::CrossSite)
        );
    }
}
