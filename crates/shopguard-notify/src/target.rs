//! Which webhook addresses may be called (decision 0044).
//!
//! A webhook URL is typed by whoever configures a partner or regulator endpoint, and
//! shopguard then makes requests to it from inside the platform's network: an attacker who can
//! set one could make shopguard call internal services or a cloud metadata endpoint (SSRF).
//! So by default only `http`/`https` URLs without user info, whose host is, and resolves only
//! to, public addresses are called ([`TargetPolicy::PublicOnly`]); tests and deployments whose
//! receivers live on a private network say so explicitly with [`TargetPolicy::AllowPrivate`].
//! The resolved addresses are checked again at connection time (see `webhook`), so a name
//! that resolves to a private address later (DNS rebinding) is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::message::DeliveryError;

/// Longest webhook URL, in characters.
pub const MAX_URL_CHARS: usize = 2048;

/// Which addresses a webhook may be sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetPolicy {
    /// Public addresses only (the default, for production).
    #[default]
    PublicOnly,
    /// Private, loopback and link-local addresses too (tests, receivers on a private
    /// network); an explicit choice.
    AllowPrivate,
}

impl TargetPolicy {
    /// Whether this policy lets a request go to `address`.
    pub fn allows(self, address: IpAddr) -> bool {
        match self {
            TargetPolicy::AllowPrivate => true,
            TargetPolicy::PublicOnly => is_public(address),
        }
    }
}

/// Whether `address` is a globally routable unicast address (not loopback, private,
/// carrier-grade NAT, link-local, unique-local, multicast, documentation, benchmarking,
/// reserved or unspecified; IPv4-mapped and -compatible IPv6 judged by their IPv4 part).
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            is_public_v6(v6)
        }
    }
}

fn is_public_v4(address: Ipv4Addr) -> bool {
    let [a, b, c, _] = address.octets();
    let reserved = a == 0 // "this network"
        || a == 10
        || a == 127
        || (a == 100 && (64..=127).contains(&b)) // carrier-grade NAT
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..=31).contains(&b))
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 192 && b == 168)
        || (a == 198 && (18..=19).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224; // multicast, reserved, broadcast
    !reserved
}

fn is_public_v6(address: Ipv6Addr) -> bool {
    let segments = address.segments();
    let reserved = address.is_unspecified()
        || address.is_loopback()
        || address.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || (segments[0] == 0x0064 && segments[1] == 0xff9b) // NAT64
        || segments[..6].iter().all(|&s| s == 0); // IPv4-compatible and the like
    !reserved
}

/// Parses and checks a webhook URL: `http` or `https`, a host, no user info, at most
/// [`MAX_URL_CHARS`]; under [`TargetPolicy::PublicOnly`] a literal address must be public
/// and `localhost` is refused by name (other names are checked when resolved).
pub fn check_url(text: &str, policy: TargetPolicy) -> Result<url::Url, DeliveryError> {
    if text.chars().count() > MAX_URL_CHARS {
        return Err(DeliveryError::TargetForbidden(format!(
            "the url is longer than {MAX_URL_CHARS} characters"
        )));
    }
    let url = url::Url::parse(text)
        .map_err(|error| DeliveryError::TargetForbidden(format!("not a url: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(DeliveryError::TargetForbidden(format!(
            "scheme {} is not http or https",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(DeliveryError::TargetForbidden(
            "credentials in the url are not allowed (sign with the webhook secret instead)".into(),
        ));
    }
    let refused = |what: &str| {
        DeliveryError::TargetForbidden(format!(
            "{what} is not a public address (allow private targets explicitly for local receivers)"
        ))
    };
    match url.host() {
        None => return Err(DeliveryError::TargetForbidden("the url has no host".into())),
        Some(url::Host::Ipv4(v4)) if !policy.allows(IpAddr::V4(v4)) => {
            return Err(refused(&v4.to_string()))
        }
        Some(url::Host::Ipv6(v6)) if !policy.allows(IpAddr::V6(v6)) => {
            return Err(refused(&v6.to_string()))
        }
        Some(url::Host::Domain(name))
            if policy == TargetPolicy::PublicOnly && is_localhost_name(name) =>
        {
            return Err(refused(name))
        }
        Some(_) => {}
    }
    Ok(url)
}

/// `localhost` and its subdomains (RFC 6761), with or without the final dot.
fn is_localhost_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// The URL as a delivery record shows it: without query and fragment (they may carry tokens).
pub fn display_target(url: &url::Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for text in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.10",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
        ] {
            let address: IpAddr = text.parse().unwrap();
            assert!(!is_public(address), "{text} counted as public");
            assert!(TargetPolicy::AllowPrivate.allows(address));
        }
        for text in ["8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111"] {
            let address: IpAddr = text.parse().unwrap();
            assert!(is_public(address), "{text} counted as private");
        }
    }

    #[test]
    fn urls_are_checked_before_any_request() {
        let public = TargetPolicy::PublicOnly;
        check_url("https://hooks.example.com/in?x=1", public).unwrap();
        for refused in [
            "ftp://hooks.example.com/in",
            "file:///etc/passwd",
            "https://user:pass@hooks.example.com/in",
            "http://127.0.0.1:8080/in",
            "http://[::1]/in",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost:9000/",
            "http://api.localhost/",
            "http://LocalHost./",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0/",
            "http://[::ffff:169.254.169.254]/",
            "not a url",
        ] {
            assert!(
                matches!(
                    check_url(refused, public),
                    Err(DeliveryError::TargetForbidden(_))
                ),
                "{refused} was accepted"
            );
        }
        check_url("http://127.0.0.1:8080/in", TargetPolicy::AllowPrivate).unwrap();
        check_url("http://localhost:8080/in", TargetPolicy::AllowPrivate).unwrap();
        assert!(check_url("http://user@127.0.0.1:8080/in", TargetPolicy::AllowPrivate).is_err());
    }

    #[test]
    fn the_record_shows_no_query() {
        let url = check_url(
            "https://hooks.example.com/in?token=abc#x",
            TargetPolicy::PublicOnly,
        )
        .unwrap();
        assert_eq!(display_target(&url), "https://hooks.example.com/in");
    }
}
