//! The client's address, for rate limits: the TCP peer, or behind a trusted reverse
//! proxy the address it reports; an IPv6 client is its network (`/64` by default),
//! since one machine can send from every address of the block it was given.
//!
//! Hand-written (a few lines over `ipnet`) because the rule is the security property:
//! `X-Forwarded-For` is read only when the peer is a configured proxy, and then the
//! rightmost entry that is not itself a trusted proxy is the client. Entries further
//! left were written by the client and may be forged; a spoofed header from anyone
//! else changes nothing.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// The address rate limits count against: an IPv4 address, or the network address
/// of an IPv6 client's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// One client as limits count it: an IPv4 address as it is, an IPv6 address cut to
/// its first `ipv6_prefix` bits (its network address).
///
/// ```
/// use trustyconvert_session::http::client_key;
/// let a = client_key("2001:db8::1".parse().unwrap(), 64);
/// assert_eq!(a, client_key("2001:db8::ffff:2".parse().unwrap(), 64));
/// assert_eq!(a.to_string(), "2001:db8::");
/// assert_eq!(client_key("192.0.2.7".parse().unwrap(), 64).to_string(), "192.0.2.7");
/// ```
pub fn client_key(ip: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let network =
                ipnet::Ipv6Net::new(v6, ipv6_prefix.min(128)).map_or(v6, |net| net.network());
            IpAddr::V6(network)
        }
        v4 => v4,
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5678`,
/// `[::1]:80`).
fn parse_hop(hop: &str) -> Result<IpAddr, std::net::AddrParseError> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|addr| addr.ip()))
        .map(|ip| ip.to_canonical())
}

/// Whether `ip` is one of the `trusted` reverse proxies (a dual-stack listener's
/// `::ffff:a.b.c.d` counts as `a.b.c.d`).
pub fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = ip.to_canonical();
    trusted.iter().any(|net| net.contains(&ip))
}

/// The client behind `peer`, given the `X-Forwarded-For` header values in order.
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded: impl Iterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    // IPv4 peers of a dual-stack listener arrive as `::ffff:a.b.c.d`.
    let peer = peer.to_canonical();
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let hops: Vec<&str> = forwarded.flat_map(|value| value.split(',')).collect();
    for hop in hops.iter().rev() {
        match parse_hop(hop.trim()) {
            Ok(ip) if is_trusted(ip, trusted) => continue,
            Ok(ip) => return ip,
            // A hop we cannot read: stop believing the chain here.
            Err(_) => return peer,
        }
    }
    peer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_a_trusted_peer_is_believed_and_the_rightmost_untrusted_hop_wins() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let headers = ["198.51.100.1, 203.0.113.9", "10.1.2.3"];
        assert_eq!(
            client_ip(ip("10.0.0.1"), headers.into_iter(), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("192.0.2.7"), headers.into_iter(), &trusted),
            ip("192.0.2.7"),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), ["garbage"].into_iter(), &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), std::iter::empty(), &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_ip(
                ip("::ffff:10.0.0.1"),
                ["203.0.113.9:4711"].into_iter(),
                &trusted
            ),
            ip("203.0.113.9"),
            "a dual-stack peer and a hop with a port"
        );
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_prefix_and_ipv4_clients_by_address() {
        let key = |text: &str, prefix| client_key(ip(text), prefix);
        assert_eq!(key("2001:db8:1:2:3:4:5:6", 64), ip("2001:db8:1:2::"));
        assert_ne!(key("2001:db8:1:2::1", 64), key("2001:db8:1:3::1", 64));
        assert_eq!(key("2001:db8:1:2::1", 48), key("2001:db8:1:3::1", 48));
        assert_ne!(key("2001:db8::1", 128), key("2001:db8::2", 128));
        assert_eq!(key("::ffff:192.0.2.7", 64), ip("192.0.2.7"));
        assert_eq!(key("192.0.2.7", 1), ip("192.0.2.7"));
    }
}
