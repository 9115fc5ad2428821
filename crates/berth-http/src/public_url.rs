//! The base URL a client reached an API at, for links in answers.

use http::{header, HeaderMap};

/// Is `h` a plausible `Host` header value (name or address, optional
/// port)? Anything else is never echoed into links.
pub fn valid_host(h: &str) -> bool {
    !h.is_empty() && h.len() <= 255 && h.bytes().all(|c| c.is_ascii_alphanumeric() || b".-:[]_".contains(&c))
}

/// `scheme://host/mount`, without a trailing slash: `configured` when set;
/// otherwise `X-Forwarded-Proto` (`http` or `https` only), the `Host` header
/// when it is valid (else `localhost`), and the mount point — the original
/// request path minus the path the API's router saw.
pub fn public_base(configured: Option<&str>, headers: &HeaderMap, original_path: &str, routed_path: &str) -> String {
    if let Some(u) = configured {
        return u.trim_end_matches('/').to_string();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).filter(|h| valid_host(h)).unwrap_or("localhost");
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    let mount = if routed_path == "/" || routed_path.is_empty() {
        original_path.trim_end_matches('/')
    } else {
        original_path
            .strip_suffix(routed_path)
            .or_else(|| original_path.strip_suffix(routed_path.trim_end_matches('/')))
            .unwrap_or("")
    };
    format!("{}://{host}{}", if https { "https" } else { "http" }, mount.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn builds_from_host_and_mount() {
        let hs = h(&[("host", "cloud.example:8080")]);
        assert_eq!(
            public_base(None, &hs, "/compute/v2.1/servers", "/v2.1/servers"),
            "http://cloud.example:8080/compute"
        );
        assert_eq!(public_base(None, &hs, "/compute/", "/"), "http://cloud.example:8080/compute");
        assert_eq!(public_base(None, &hs, "/compute", "/"), "http://cloud.example:8080/compute");
        assert_eq!(public_base(None, &hs, "/v2.1/servers", "/v2.1/servers"), "http://cloud.example:8080");
        let hs = h(&[("host", "[::1]:80"), ("x-forwarded-proto", "HTTPS")]);
        assert_eq!(public_base(None, &hs, "/image/v2", "/v2"), "https://[::1]:80/image");
    }

    #[test]
    fn refuses_hostile_hosts_and_schemes() {
        for bad in ["evil.example/path", "a b", "x\"y", "<script>"] {
            let mut m = HeaderMap::new();
            m.insert("host", bad.parse().unwrap());
            assert_eq!(public_base(None, &m, "/", "/"), "http://localhost", "{bad}");
        }
        let hs = h(&[("host", "ok"), ("x-forwarded-proto", "javascript")]);
        assert_eq!(public_base(None, &hs, "/", "/"), "http://ok");
        assert_eq!(public_base(Some("https://pub.example/x/"), &hs, "/", "/"), "https://pub.example/x");
    }
}
