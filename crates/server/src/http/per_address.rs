//! How many connections each client address holds open, so one address cannot take
//! every connection slot. The address is the TCP peer's (never `X-Forwarded-For`),
//! keyed like the rate limits ([`client_key`]: an IPv6 client by its
//! `--client-ipv6-prefix` network); peers in `--trusted-proxy` carry many clients and
//! are not counted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use ipnet::IpNet;

use trustyconvert_session::http::{client_key, is_trusted};

/// Open connections per client key, at most `limit` each.
#[derive(Debug)]
pub struct PerAddress {
    limit: usize,
    ipv6_prefix: u8,
    exempt: Vec<IpNet>,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerAddress {
    /// At most `limit` connections per client key (IPv6 cut to `ipv6_prefix` bits);
    /// peers in `exempt` are not counted.
    pub fn new(limit: usize, ipv6_prefix: u8, exempt: Vec<IpNet>) -> Arc<Self> {
        Arc::new(Self {
            limit,
            ipv6_prefix,
            exempt,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A place for one more connection from `peer`, held until the returned
    /// [`AddressSlot`] is dropped; `None` if `peer` already holds `limit`.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<AddressSlot> {
        if is_trusted(peer, &self.exempt) {
            return Some(AddressSlot {
                owner: Arc::clone(self),
                key: None,
            });
        }
        let key = client_key(peer, self.ipv6_prefix);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            owner: Arc::clone(self),
            key: Some(key),
        })
    }

    fn release(&self, key: IpAddr) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&key);
            }
        }
    }
}

/// One connection's place in its address's count, given back when dropped — also when
/// the connection's task ends in an error or a panic.
#[derive(Debug)]
pub struct AddressSlot {
    owner: Arc<PerAddress>,
    /// `None` for an exempt peer.
    key: Option<IpAddr>,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.owner.release(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_address_gets_its_limit_and_its_places_back() {
        let limits = PerAddress::new(2, 64, Vec::new());
        let first = limits.admit(ip("192.0.2.1")).unwrap();
        let _second = limits.admit(ip("192.0.2.1")).unwrap();
        assert!(limits.admit(ip("192.0.2.1")).is_none());
        assert!(limits.admit(ip("192.0.2.2")).is_some(), "others unaffected");
        drop(first);
        assert!(limits.admit(ip("192.0.2.1")).is_some());
    }

    #[test]
    fn a_mapped_ipv4_address_counts_as_the_ipv4_address() {
        let limits = PerAddress::new(1, 64, Vec::new());
        let _held = limits.admit(ip("192.0.2.1")).unwrap();
        assert!(limits.admit(ip("::ffff:192.0.2.1")).is_none());
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_prefix() {
        let limits = PerAddress::new(1, 64, Vec::new());
        let _held = limits.admit(ip("2001:db8::1")).unwrap();
        assert!(limits.admit(ip("2001:db8::ffff:2")).is_none());
        assert!(limits.admit(ip("2001:db8:0:1::1")).is_some());
    }

    #[test]
    fn trusted_proxies_are_not_counted() {
        let limits = PerAddress::new(1, 64, vec!["10.0.0.0/8".parse().unwrap()]);
        let held: Vec<_> = (0..5).map(|_| limits.admit(ip("10.1.2.3"))).collect();
        assert!(held.iter().all(Option::is_some));
    }

    #[test]
    fn counts_are_forgotten_when_the_last_connection_ends() {
        let limits = PerAddress::new(1, 64, Vec::new());
        drop(limits.admit(ip("192.0.2.1")));
        assert!(limits.open.lock().unwrap().is_empty());
    }
}
