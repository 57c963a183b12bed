//! The scheme a request arrived over at the edge of the deployment, for comparing its
//! `Origin` with a public origin derived from the `Host` header.
//!
//! The listener speaks plain HTTP, so a request is `http` unless it came from a
//! `--trusted-proxy` peer whose `X-Forwarded-Proto` says otherwise. The header is read
//! only from such a peer (from anyone else it is ignored), and then only its rightmost
//! entry, the one the nearest proxy wrote. With `--public-origin` set none of this is
//! consulted.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap};
use ipnet::IpNet;

use super::client_addr::is_trusted;
use crate::csrf::Scheme;

/// The scheme the request with `extensions` and `headers` arrived over, believing
/// `X-Forwarded-Proto` only from a peer in `trusted`.
pub fn arrival_scheme(extensions: &Extensions, headers: &HeaderMap, trusted: &[IpNet]) -> Scheme {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    scheme_from(peer, headers, trusted)
}

fn scheme_from(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Scheme {
    if !peer.is_some_and(|peer| is_trusted(peer, trusted)) {
        return Scheme::Http;
    }
    headers
        .get_all("x-forwarded-proto")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .next_back()
        .and_then(|proto| Scheme::parse(proto.trim()))
        .unwrap_or(Scheme::Http)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn proto(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-proto", HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn forwarded_proto_counts_only_from_a_trusted_proxy_and_only_its_own_entry() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy = Some("10.0.0.1".parse().unwrap());
        let stranger = Some("192.0.2.7".parse().unwrap());
        assert_eq!(
            scheme_from(proxy, &proto(&["https"]), &trusted),
            Scheme::Https
        );
        assert_eq!(
            scheme_from(stranger, &proto(&["https"]), &trusted),
            Scheme::Http
        );
        assert_eq!(
            scheme_from(None, &proto(&["https"]), &trusted),
            Scheme::Http
        );
        assert_eq!(scheme_from(proxy, &proto(&[]), &trusted), Scheme::Http);
        assert_eq!(
            scheme_from(proxy, &proto(&["https, http"]), &trusted),
            Scheme::Http,
            "the entry the nearest proxy appended wins"
        );
        assert_eq!(
            scheme_from(proxy, &proto(&["http", "HTTPS"]), &trusted),
            Scheme::Https
        );
        assert_eq!(scheme_from(proxy, &proto(&["wss"]), &trusted), Scheme::Http);
    }
}
