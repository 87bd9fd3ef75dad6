//! Kubernetes versions as the rest of the world writes them: `1.26`, `v1.26.15`, a kind node
//! image tag, or the `major`/`minor` pair of the apiserver's `/version`.

use std::fmt;
use std::str::FromStr;

/// A Kubernetes release: `major.minor`, with the patch when the source names one.
///
/// One type for every place a version comes from, so that it is parsed once; *which* version a
/// value is (the node image's, or the API server's) is said by the name of the field that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubeVersion {
    /// Always 1 so far.
    pub major: u32,
    /// The minor that decides the API server's behaviour (e.g. 26).
    pub minor: u32,
    /// The patch release, when known.
    pub patch: Option<u32>,
}

impl KubeVersion {
    /// `1.minor`, without a patch.
    pub fn new(major: u32, minor: u32) -> KubeVersion {
        KubeVersion {
            major,
            minor,
            patch: None,
        }
    }

    /// The version of a kind node image reference: `kindest/node:v1.26.15@sha256:…` → 1.26.15.
    /// `None` when the tag is not a Kubernetes version (e.g. `latest`).
    pub fn from_node_image(image: &str) -> Option<KubeVersion> {
        let reference = image.split('@').next()?;
        // The tag follows the last ':' after the last '/' (a registry host may carry a port).
        let last = reference.rsplit('/').next()?;
        let tag = last.rsplit_once(':')?.1;
        tag.parse().ok()
    }

    /// The version in the apiserver's `/version` answer: `major: "1"`, `minor: "26+"`
    /// (managed clusters append `+`).
    pub fn from_server_info(major: &str, minor: &str) -> Option<KubeVersion> {
        Some(KubeVersion::new(
            major.trim_end_matches('+').parse().ok()?,
            minor.trim_end_matches('+').parse().ok()?,
        ))
    }
}

impl fmt::Display for KubeVersion {
    /// `v1.26` or `v1.26.15`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}", self.major, self.minor)?;
        if let Some(p) = self.patch {
            write!(f, ".{p}")?;
        }
        Ok(())
    }
}

/// Why a text is not a Kubernetes version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionError(String);

impl fmt::Display for VersionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a Kubernetes version (expected 1.N, v1.N or v1.N.P)",
            self.0
        )
    }
}

impl std::error::Error for VersionError {}

impl FromStr for KubeVersion {
    type Err = VersionError;
    /// `1.26`, `v1.26`, `v1.26.15`, and build suffixes such as `v1.30.2-gke.1587003` or
    /// `v1.26.15+k3s1` (ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || VersionError(s.to_string());
        let core = s.strip_prefix('v').unwrap_or(s);
        let core = core.split(['-', '+']).next().unwrap_or(core);
        let mut parts = core.split('.');
        let number = |p: Option<&str>| -> Option<u32> {
            let p = p?;
            (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse().ok())
                .flatten()
        };
        let major = number(parts.next()).ok_or_else(err)?;
        let minor = number(parts.next()).ok_or_else(err)?;
        let patch = match parts.next() {
            None => None,
            some => Some(number(some).ok_or_else(err)?),
        };
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(KubeVersion {
            major,
            minor,
            patch,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(major: u32, minor: u32, patch: Option<u32>) -> KubeVersion {
        KubeVersion {
            major,
            minor,
            patch,
        }
    }

    #[test]
    fn parses_the_ways_people_write_a_version() {
        assert_eq!("1.26".parse(), Ok(v(1, 26, None)));
        assert_eq!("v1.26".parse(), Ok(v(1, 26, None)));
        assert_eq!("v1.26.15".parse(), Ok(v(1, 26, Some(15))));
        assert_eq!("v1.30.2-gke.1587003".parse(), Ok(v(1, 30, Some(2))));
        assert_eq!("v1.26.15+k3s1".parse(), Ok(v(1, 26, Some(15))));
        for bad in ["", "1", "latest", "1.x", "v1..2", "1.26.15.1", "1.-1"] {
            assert!(bad.parse::<KubeVersion>().is_err(), "{bad}");
        }
        assert_eq!(v(1, 26, Some(15)).to_string(), "v1.26.15");
        assert_eq!(v(1, 35, None).to_string(), "v1.35");
    }

    #[test]
    fn reads_a_node_image_and_a_server_answer() {
        let pinned = "kindest/node:v1.26.15@sha256:c79602a44b4056d7e48dc20f7504350f1e87530fe953428b792def00bc1076dd";
        assert_eq!(
            KubeVersion::from_node_image(pinned),
            Some(v(1, 26, Some(15)))
        );
        assert_eq!(
            KubeVersion::from_node_image("localhost:5000/kindest/node:v1.35.0"),
            Some(v(1, 35, Some(0)))
        );
        assert_eq!(KubeVersion::from_node_image("localhost:5000/node"), None);
        assert_eq!(KubeVersion::from_node_image("kindest/node:latest"), None);
        assert_eq!(
            KubeVersion::from_server_info("1", "26+"),
            Some(v(1, 26, None))
        );
        assert_eq!(KubeVersion::from_server_info("1", "x"), None);
    }
}
