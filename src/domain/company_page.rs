//! What a company sets for its hosted job pages (CONTRACT §13): an accent colour, a logo, and the origins
//! allowed to frame the pages. Parsed once here, so the CLI and the database only ever hold valid values
//! (the migration checks the same shapes).

/// `#rrggbb`, lowercase. `#RGB` is expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccentColor(String);

impl AccentColor {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let hex = raw.trim().trim_start_matches('#');
        let valid = hex.bytes().all(|b| b.is_ascii_hexdigit());
        let expanded = match hex.len() {
            6 if valid => hex.to_ascii_lowercase(),
            3 if valid => hex.chars().flat_map(|c| [c, c]).collect::<String>().to_ascii_lowercase(),
            _ => return Err(format!("the accent colour must be a hex colour such as #1d4ed8, got {raw:?}")),
        };
        Ok(AccentColor(format!("#{expanded}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The origins allowed to frame the pages (`frame-ancestors`): `ORIGIN[,ORIGIN…]`; an empty value clears the list.
/// Each is `http(s)://host[:port]`, lowercased, without a path: it goes verbatim into a CSP header, so nothing
/// that could end the directive (`;`, `,`, spaces, quotes) may pass.
pub fn parse_embed_origins(raw: &str) -> Result<Vec<String>, String> {
    let mut origins = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let origin = parse_origin(item).ok_or_else(|| {
            format!("{item:?} is not an origin: expected scheme://host[:port], such as https://careers.acme.com")
        })?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(origins)
}

fn parse_origin(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.path() != "/" || url.query().is_some() {
        return None;
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return None;
    }
    let host = match url.host()? {
        url::Host::Domain(domain) => domain.to_ascii_lowercase(),
        url::Host::Ipv4(ip) => ip.to_string(),
        // An IPv6 origin (`[::1]`) does not fit the database's check; nobody embeds a career page there.
        url::Host::Ipv6(_) => return None,
    };
    let origin = match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    };
    origin.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:/".contains(&b)).then_some(origin)
}

/// At most 24 KiB, so a page load with the logo stays under the 50 KB of CONTRACT §13.
pub const MAX_LOGO_BYTES: usize = 24 * 1024;

/// A logo image, its type read from its bytes. SVG is refused: it can carry script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoImage {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
}

impl LogoImage {
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, String> {
        if bytes.is_empty() {
            return Err("the logo file is empty".to_owned());
        }
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(format!(
                "the logo is {} bytes; at most {MAX_LOGO_BYTES} keep a page under 50 KB (a PNG or WebP of about 400 px wide fits)",
                bytes.len()
            ));
        }
        let content_type = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            "image/png"
        } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            "image/jpeg"
        } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            "image/webp"
        } else {
            return Err("the logo must be a PNG, JPEG or WebP image (SVG can carry script)".to_owned());
        };
        Ok(LogoImage { bytes, content_type })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accent_colours_are_hex_and_lowercased() {
        assert_eq!(AccentColor::parse("#1D4ED8").unwrap().as_str(), "#1d4ed8");
        assert_eq!(AccentColor::parse("0a0").unwrap().as_str(), "#00aa00");
        for bad in ["", "#12345", "red", "#12345g", "#1234567", "#fff;}body{"] {
            assert!(AccentColor::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn embed_origins_are_plain_origins() {
        assert_eq!(
            parse_embed_origins("https://Careers.Acme.com, http://localhost:3000,https://careers.acme.com").unwrap(),
            vec!["https://careers.acme.com".to_owned(), "http://localhost:3000".to_owned()]
        );
        assert_eq!(parse_embed_origins("").unwrap(), Vec::<String>::new());
        for bad in [
            "careers.acme.com",
            "https://acme.com/jobs",
            "ftp://acme.com",
            "https://acme.com; script-src *",
            "https://a@acme.com",
            "*",
            "'none'",
        ] {
            assert!(parse_embed_origins(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn logos_are_png_jpeg_or_webp() {
        assert_eq!(LogoImage::from_bytes(b"\x89PNG\r\n\x1a\nrest".to_vec()).unwrap().content_type, "image/png");
        assert_eq!(LogoImage::from_bytes(vec![0xff, 0xd8, 0xff, 0xe0]).unwrap().content_type, "image/jpeg");
        assert_eq!(LogoImage::from_bytes(b"RIFF\0\0\0\0WEBPVP8 ".to_vec()).unwrap().content_type, "image/webp");
        assert!(LogoImage::from_bytes(b"<svg onload=alert(1)>".to_vec()).is_err());
        assert!(LogoImage::from_bytes(Vec::new()).is_err());
        let mut big = b"\x89PNG\r\n\x1a\n".to_vec();
        big.resize(MAX_LOGO_BYTES + 1, 0);
        assert!(LogoImage::from_bytes(big).is_err());
    }
}
