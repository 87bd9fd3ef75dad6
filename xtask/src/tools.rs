//! The pinned kind and helm: fetched for this platform into the project (`target/tools/<name>-
//! <version>/<name>`), each download verified against the sha256 pinned in the scenario, from
//! the upstream download hosts or a mirror with the same layout. Downloads go through `curl` and
//! helm's archive through `tar`, so that `--dry-run` prints the very commands a person would type.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use xshell::{Shell, cmd};

use crate::cmd::{Command, quote};

/// A tool's pinned release and the sha256 of its download for each platform (`linux-amd64`, …).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ToolPin {
    pub version: String,
    pub sha256: BTreeMap<String, String>,
}

/// The tools the harness drives on the reader's machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Kind,
    Helm,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Kind => "kind",
            Tool::Helm => "helm",
        }
    }

    /// Where the project's releases come from (`--tools-mirror` replaces it, same layout).
    pub fn upstream(self) -> &'static str {
        match self {
            Tool::Kind => "https://kind.sigs.k8s.io",
            Tool::Helm => "https://get.helm.sh",
        }
    }

    /// The download's path under the host: `/dl/v0.25.0/kind-linux-amd64`,
    /// `/helm-v3.16.3-linux-amd64.tar.gz`.
    fn artifact(self, version: &str, platform: &str) -> String {
        match self {
            Tool::Kind => format!("/dl/{version}/kind-{platform}"),
            Tool::Helm => format!("/helm-{version}-{platform}.tar.gz"),
        }
    }
}

/// This machine's platform as the download hosts name it: `linux-amd64`, `darwin-arm64`, …
pub fn platform() -> Result<String> {
    let os = match std::env::consts::OS {
        "linux" => "linux",
        "macos" => "darwin",
        other => bail!("no pinned kind or helm for {other} (Linux and macOS only)"),
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => bail!("no pinned kind or helm for {other} (amd64 and arm64 only)"),
    };
    Ok(format!("{os}-{arch}"))
}

/// One pinned tool for one platform: where it comes from, what it must hash to, where it goes.
#[derive(Debug, Clone)]
pub struct Fetch {
    pub tool: Tool,
    pub version: String,
    pub url: String,
    pub sha256: String,
    /// The directory the binary is installed in (`target/tools/kind-v0.25.0`).
    pub dir: PathBuf,
}

impl Fetch {
    pub fn new(
        tool: Tool,
        pin: &ToolPin,
        platform: &str,
        mirror: Option<&str>,
        tools_dir: &Path,
    ) -> Result<Fetch> {
        let sha256 = pin.sha256.get(platform).cloned().ok_or_else(|| {
            anyhow!(
                "no sha256 pinned for {} {} on {platform} (pinned: {})",
                tool.name(),
                pin.version,
                pin.sha256.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?;
        let host = mirror.unwrap_or(tool.upstream()).trim_end_matches('/');
        Ok(Fetch {
            tool,
            version: pin.version.clone(),
            url: format!("{host}{}", tool.artifact(&pin.version, platform)),
            sha256,
            dir: tools_dir.join(format!("{}-{}", tool.name(), pin.version)),
        })
    }

    /// The installed binary.
    pub fn binary(&self) -> PathBuf {
        self.dir.join(self.tool.name())
    }

    /// The download, next to where it is installed.
    fn download_path(&self) -> PathBuf {
        self.dir.join(format!(".download-{}", self.tool.name()))
    }

    fn download(&self, sh: &Shell) -> Command {
        let (url, to) = (&self.url, self.download_path());
        cmd!(sh, "curl -fsSL --retry 3 -o {to} {url}").into()
    }

    fn unpack(&self, sh: &Shell, into: &Path, platform: &str) -> Command {
        let archive = self.download_path();
        let member = format!("{platform}/helm");
        cmd!(sh, "tar -xzf {archive} -C {into} {member}").into()
    }

    /// Downloads, verifies and installs the tool, unless it is installed already. A download
    /// whose sha256 differs is removed, and the error names both sums.
    pub async fn install(&self, sh: &Shell, platform: &str) -> Result<Installed> {
        if self.binary().is_file() {
            return Ok(Installed::Present(self.binary()));
        }
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        let downloaded = self.download_path();
        let result = self.fetch_and_verify(sh, platform).await;
        let _ = std::fs::remove_file(&downloaded);
        if result.is_err() {
            // Nothing half-installed is left behind.
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        result.map(|()| Installed::Fetched(self.binary()))
    }

    async fn fetch_and_verify(&self, sh: &Shell, platform: &str) -> Result<()> {
        self.download(sh).checked().await?;
        let downloaded = self.download_path();
        let bytes = std::fs::read(&downloaded)
            .with_context(|| format!("cannot read {}", downloaded.display()))?;
        let got = sha256_hex(&bytes);
        if got != self.sha256 {
            bail!(
                "checksum mismatch for {}: expected sha256 {}, got {got}; the download was removed",
                self.url,
                self.sha256
            );
        }
        match self.tool {
            Tool::Kind => std::fs::rename(&downloaded, self.binary())?,
            Tool::Helm => {
                let unpacked = tempfile::tempdir_in(&self.dir)?;
                self.unpack(sh, unpacked.path(), platform).checked().await?;
                std::fs::rename(unpacked.path().join(platform).join("helm"), self.binary())?;
            }
        }
        make_executable(&self.binary())
    }

    /// The same set-up as commands a person would type.
    pub fn shell_lines(&self, sh: &Shell, platform: &str) -> Vec<String> {
        let (dir, downloaded) = (quote(&self.dir), quote(self.download_path()));
        let verify = format!(
            "echo {} | sha256sum --check",
            quote(format!(
                "{}  {}",
                self.sha256,
                self.download_path().display()
            ))
        );
        let install = match self.tool {
            Tool::Kind => format!("mv {downloaded} {}", quote(self.binary())),
            Tool::Helm => format!(
                "{} && mv {} {} && rm {downloaded}",
                self.unpack(sh, &self.dir, platform).shell_line(),
                quote(self.dir.join(platform).join("helm")),
                quote(self.binary())
            ),
        };
        vec![
            format!("mkdir -p {dir}"),
            self.download(sh).shell_line(),
            format!("{verify}   # expect: OK"),
            format!("{install} && chmod +x {}", quote(self.binary())),
        ]
    }
}

/// What `install` did.
#[derive(Debug, Clone, PartialEq)]
pub enum Installed {
    Present(PathBuf),
    Fetched(PathBuf),
}

fn make_executable(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot make {} executable", path.display()))?;
    }
    Ok(())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A shell whose commands find the fetched tools first (`dirs` ahead of `PATH`).
pub fn shell_with(dirs: &[PathBuf]) -> Result<Shell> {
    let sh = Shell::new()?;
    if !dirs.is_empty() {
        let current = std::env::var_os("PATH").unwrap_or_default();
        let path =
            std::env::join_paths(dirs.iter().cloned().chain(std::env::split_paths(&current)))
                .context("a tools directory cannot be put on PATH")?;
        sh.set_var("PATH", path);
    }
    Ok(sh)
}

/// The project's folder for fetched tools.
pub fn tools_dir(project_root: &Path) -> PathBuf {
    project_root.join("target/tools")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin() -> ToolPin {
        ToolPin {
            version: "v0.25.0".into(),
            sha256: BTreeMap::from([(
                "linux-amd64".to_string(),
                "b22ff7e5c02b8011e82cc3223d069d178b9e1543f1deb21e936d11764780a3d8".to_string(),
            )]),
        }
    }

    #[test]
    fn downloads_follow_the_upstream_layout_or_the_mirrors() {
        let f = Fetch::new(
            Tool::Kind,
            &pin(),
            "linux-amd64",
            None,
            Path::new("/p/target/tools"),
        )
        .unwrap();
        assert_eq!(
            f.url,
            "https://kind.sigs.k8s.io/dl/v0.25.0/kind-linux-amd64"
        );
        assert_eq!(f.binary(), Path::new("/p/target/tools/kind-v0.25.0/kind"));
        let helm = ToolPin {
            version: "v3.16.3".into(),
            sha256: BTreeMap::from([("darwin-arm64".to_string(), "ab".to_string())]),
        };
        let f = Fetch::new(
            Tool::Helm,
            &helm,
            "darwin-arm64",
            Some("http://127.0.0.1:9/m/"),
            Path::new("/t"),
        )
        .unwrap();
        assert_eq!(
            f.url,
            "http://127.0.0.1:9/m/helm-v3.16.3-darwin-arm64.tar.gz"
        );
        let err = Fetch::new(Tool::Helm, &helm, "linux-arm64", None, Path::new("/t")).unwrap_err();
        assert!(
            err.to_string().contains(
                "no sha256 pinned for helm v3.16.3 on linux-arm64 (pinned: darwin-arm64)"
            ),
            "{err}"
        );
    }

    #[test]
    fn sha256_is_the_hex_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_dry_run_downloads_verifies_and_installs() {
        let sh = Shell::new().unwrap();
        let f = Fetch::new(
            Tool::Kind,
            &pin(),
            "linux-amd64",
            None,
            Path::new("/p/target/tools"),
        )
        .unwrap();
        let lines = f.shell_lines(&sh, "linux-amd64");
        assert_eq!(lines[0], "mkdir -p /p/target/tools/kind-v0.25.0");
        assert_eq!(
            lines[1],
            "curl -fsSL --retry 3 -o /p/target/tools/kind-v0.25.0/.download-kind https://kind.sigs.k8s.io/dl/v0.25.0/kind-linux-amd64"
        );
        assert!(lines[2].starts_with("echo 'b22ff7e5c02b8011e82cc3223d069d178b9e1543f1deb21e936d11764780a3d8  /p/target/tools/kind-v0.25.0/.download-kind' | sha256sum --check"), "{}", lines[2]);
        assert!(
            lines[3].ends_with("chmod +x /p/target/tools/kind-v0.25.0/kind"),
            "{}",
            lines[3]
        );
    }
}
