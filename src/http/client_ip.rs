//! Who is calling (CONTRACT §3): the TCP peer, unless the peer is one of `TRUSTED_PROXIES`, in which case
//! the address it forwarded. Believing forwarded headers from anyone would let any client pick its own IP.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client's address, as the rate limiter and the API log see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return peer;
    }
    // X-Forwarded-For lists client, proxy1, proxy2…: the first address from the right that is not one of
    // our proxies is the client; anything left of it could have been written by the client itself.
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| parse_forwarded_ip(s.trim()))
        .collect();
    if let Some(ip) = forwarded.iter().rev().find(|ip| !trusted(ip)) {
        return *ip;
    }
    if let Some(first) = forwarded.first() {
        return *first;
    }
    headers.get("x-real-ip").and_then(|v| v.to_str().ok()).and_then(|v| parse_forwarded_ip(v.trim())).unwrap_or(peer)
}

/// Accepts `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` and `[2001:db8::1]:443`.
fn parse_forwarded_ip(raw: &str) -> Option<IpAddr> {
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    raw.parse::<std::net::SocketAddr>().ok().map(|addr| canonical(addr.ip()))
}

/// IPv4 clients reached over an IPv6 socket (`::ffff:1.2.3.4`) count as their IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn forwarded_headers_from_untrusted_peers_are_ignored() {
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        let h = headers(&[("x-forwarded-for", "1.1.1.1"), ("x-real-ip", "2.2.2.2")]);
        assert_eq!(client_ip(peer, &h, &[]), peer);
    }

    #[test]
    fn trusted_proxies_forward_the_rightmost_untrusted_address() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.2")]);
        assert_eq!(client_ip(peer, &h, &trusted), "198.51.100.7".parse::<IpAddr>().unwrap());
        let h = headers(&[("x-real-ip", "198.51.100.8")]);
        assert_eq!(client_ip(peer, &h, &trusted), "198.51.100.8".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(peer, &HeaderMap::new(), &trusted), peer);
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4() {
        let peer: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(client_ip(peer, &HeaderMap::new(), &[]), "192.0.2.1".parse::<IpAddr>().unwrap());
    }
}
