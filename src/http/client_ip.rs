//! Who is calling (CONTRACT §3): the TCP peer, unless the peer is one of `TRUSTED_PROXIES`, in which case
//! the address it forwarded. Believing forwarded headers from anyone would let any client pick its own IP.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client's address, as the rate limiter and the API log see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// CONTRACT §11 (`CLIENT_IP_HEADER`): the one header a trusted proxy sets. The others are ignored, because a
/// proxy that sets only `X-Real-IP` passes a client's own `X-Forwarded-For` through untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientIpHeader {
    #[default]
    XForwardedFor,
    XRealIp,
    /// RFC 7239 `Forwarded: for=…`.
    Forwarded,
}

impl ClientIpHeader {
    /// Accepts the header's name in any case.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Some(ClientIpHeader::XForwardedFor),
            "x-real-ip" => Some(ClientIpHeader::XRealIp),
            "forwarded" => Some(ClientIpHeader::Forwarded),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ClientIpHeader::XForwardedFor => "x-forwarded-for",
            ClientIpHeader::XRealIp => "x-real-ip",
            ClientIpHeader::Forwarded => "forwarded",
        }
    }
}

pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpNet], header: ClientIpHeader) -> IpAddr {
    let peer = canonical(peer);
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return peer;
    }
    let values = headers.get_all(header.name()).iter().filter_map(|v| v.to_str().ok());
    // Each list names client, proxy1, proxy2…: the first address from the right that is not one of our
    // proxies is the client; anything left of it could have been written by the client itself.
    let forwarded: Vec<IpAddr> = match header {
        ClientIpHeader::XForwardedFor => {
            values.flat_map(|v| v.split(',')).filter_map(|s| parse_forwarded_ip(s.trim())).collect()
        }
        ClientIpHeader::XRealIp => values.filter_map(|v| parse_forwarded_ip(v.trim())).collect(),
        ClientIpHeader::Forwarded => values.flat_map(|v| v.split(',')).filter_map(forwarded_for).collect(),
    };
    if let Some(ip) = forwarded.iter().rev().find(|ip| !trusted(ip)) {
        return *ip;
    }
    forwarded.first().copied().unwrap_or(peer)
}

/// The `for=` address of one RFC 7239 element (`for=192.0.2.60;proto=http`, `for="[2001:db8::17]:4711"`);
/// `unknown` and obfuscated identifiers (`_hidden`) give none.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        parse_forwarded_ip(value.trim().trim_matches('"'))
    })
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

    const XFF: ClientIpHeader = ClientIpHeader::XForwardedFor;

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
        for header in [ClientIpHeader::XForwardedFor, ClientIpHeader::XRealIp, ClientIpHeader::Forwarded] {
            assert_eq!(client_ip(peer, &h, &[], header), peer);
        }
    }

    #[test]
    fn trusted_proxies_forward_the_rightmost_untrusted_address() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.2")]);
        assert_eq!(client_ip(peer, &h, &trusted, XFF), "198.51.100.7".parse::<IpAddr>().unwrap());
        let h = headers(&[("x-real-ip", "198.51.100.8")]);
        assert_eq!(client_ip(peer, &h, &trusted, ClientIpHeader::XRealIp), "198.51.100.8".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(peer, &HeaderMap::new(), &trusted, XFF), peer);
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4() {
        let peer: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(client_ip(peer, &HeaderMap::new(), &[], XFF), "192.0.2.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn only_the_configured_header_is_believed() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-real-ip", "198.51.100.8"),
            ("forwarded", "for=192.0.2.60;proto=https, for=\"[2001:db8:cafe::17]:4711\""),
        ]);
        assert_eq!(client_ip(peer, &h, &trusted, XFF), "6.6.6.6".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(peer, &h, &trusted, ClientIpHeader::XRealIp), "198.51.100.8".parse::<IpAddr>().unwrap());
        assert_eq!(
            client_ip(peer, &h, &trusted, ClientIpHeader::Forwarded),
            "2001:db8:cafe::17".parse::<IpAddr>().unwrap()
        );
        // With only X-Forwarded-For forged by the client, an X-Real-IP proxy's peer address stands.
        let forged = headers(&[("x-forwarded-for", "6.6.6.6")]);
        assert_eq!(client_ip(peer, &forged, &trusted, ClientIpHeader::XRealIp), peer);
        let hidden = headers(&[("forwarded", "for=_hidden, for=unknown")]);
        assert_eq!(client_ip(peer, &hidden, &trusted, ClientIpHeader::Forwarded), peer);
    }
}
