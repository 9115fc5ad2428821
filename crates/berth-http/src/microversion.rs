//! OpenStack microversions: `OpenStack-API-Version: <service> X.Y | latest`.

use std::fmt;

/// A microversion `major.minor`, ordered numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u16,
    pub minor: u16,
}

impl Version {
    pub const fn new(major: u16, minor: u16) -> Self {
        Version { major, minor }
    }

    /// True when this version is at least `major.minor`.
    pub fn at_least(self, major: u16, minor: u16) -> bool {
        self >= Version::new(major, minor)
    }

    /// Parse `X.Y` strictly: two non-negative integers, nothing else.
    pub fn parse(s: &str) -> Result<Version, VersionError> {
        let bad = || VersionError::Invalid(s.to_string());
        let (a, b) = s.trim().split_once('.').ok_or_else(bad)?;
        let digits = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
        if !digits(a) || !digits(b) {
            return Err(bad());
        }
        Ok(Version::new(a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionError {
    /// Not `X.Y` or `latest` (400).
    Invalid(String),
    /// Well formed but outside min..=max (406).
    Unacceptable(String),
}

impl fmt::Display for VersionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionError::Invalid(s) => write!(f, "invalid version string: {s}"),
            VersionError::Unacceptable(s) => write!(f, "Unacceptable version header: {s}"),
        }
    }
}

/// Pick the version a request asks for from the values of its
/// `OpenStack-API-Version` headers (comma-separated `service version` items;
/// the first item for `service` wins). No header: `min`.
pub fn negotiate<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    service: &str,
    min: Version,
    max: Version,
) -> Result<Version, VersionError> {
    let mut wanted: Option<String> = None;
    for value in headers {
        for item in value.split(',') {
            let mut parts = item.split_whitespace();
            let (Some(svc), rest) = (parts.next(), parts.collect::<Vec<_>>()) else { continue };
            if svc.eq_ignore_ascii_case(service) && wanted.is_none() {
                wanted = Some(rest.join(" "));
            }
        }
    }
    let Some(wanted) = wanted else { return Ok(min) };
    if wanted.eq_ignore_ascii_case("latest") {
        return Ok(max);
    }
    let v = Version::parse(&wanted)?;
    if v < min || v > max {
        return Err(VersionError::Unacceptable(wanted));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Version = Version::new(1, 0);
    const MAX: Version = Version::new(1, 39);

    #[test]
    fn parses_strictly() {
        assert_eq!(Version::parse("1.39").unwrap(), Version::new(1, 39));
        assert!(Version::parse("1.2.3").is_err());
        assert!(Version::parse("pony.horse").is_err());
        assert!(Version::parse("1").is_err());
        assert!(Version::parse("1.").is_err());
        assert!(Version::parse("-1.2").is_err());
        assert!(Version::parse("99999999.1").is_err());
    }

    #[test]
    fn orders_numerically() {
        assert!(Version::new(1, 10) > Version::new(1, 9));
        assert!(Version::new(1, 10).at_least(1, 2));
    }

    #[test]
    fn negotiates() {
        assert_eq!(negotiate([], "placement", MIN, MAX).unwrap(), MIN);
        assert_eq!(negotiate(["placement latest"], "placement", MIN, MAX).unwrap(), MAX);
        assert_eq!(negotiate(["placement 1.20"], "placement", MIN, MAX).unwrap(), Version::new(1, 20));
        assert_eq!(negotiate(["compute 2.1, placement 1.3"], "placement", MIN, MAX).unwrap(), Version::new(1, 3));
        assert_eq!(negotiate(["compute 2.1"], "placement", MIN, MAX).unwrap(), MIN);
        assert_eq!(negotiate(["placement 0.5"], "placement", MIN, MAX), Err(VersionError::Unacceptable("0.5".into())));
        assert_eq!(
            negotiate(["placement 1.40"], "placement", MIN, MAX),
            Err(VersionError::Unacceptable("1.40".into()))
        );
        assert_eq!(
            negotiate(["placement pony.horse"], "placement", MIN, MAX),
            Err(VersionError::Invalid("pony.horse".into()))
        );
        assert_eq!(negotiate(["PLACEMENT 1.5"], "placement", MIN, MAX).unwrap(), Version::new(1, 5));
    }
}
