//! Helm: installing the KubeRay operator chart, and rendering it for the preflight.

use std::path::{Path, PathBuf};

use xshell::{Shell, cmd};

use crate::cmd::Command;

/// Where the chart comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Chart {
    /// A chart in a Helm repository, at a pinned version.
    Repo {
        repo: String,
        name: String,
        version: String,
    },
    /// A chart directory on disk (`--kuberay-chart PATH`).
    Local(PathBuf),
}

/// One `helm install`.
#[derive(Debug, Clone)]
pub struct Install {
    pub release: String,
    pub chart: Chart,
    pub namespace: String,
    pub values: PathBuf,
    /// `--set KEY=VALUE` settings, after the values file.
    pub set: Vec<String>,
    /// `--skip-crds`: the chart's CRDs are already installed (helm would try to create them, and
    /// a user without the right to create CRDs gets 403 even where they exist).
    pub skip_crds: bool,
}

/// Where helm talks to: a kubeconfig file (the harness's) and kind's context.
pub struct Target<'a> {
    pub kubeconfig: Option<&'a Path>,
    pub context: &'a str,
}

impl Install {
    fn chart_args(&self) -> Vec<String> {
        match &self.chart {
            Chart::Repo {
                repo,
                name,
                version,
            } => {
                vec![
                    name.clone(),
                    "--repo".into(),
                    repo.clone(),
                    "--version".into(),
                    version.clone(),
                ]
            }
            Chart::Local(dir) => vec![dir.display().to_string()],
        }
    }

    /// `helm install RELEASE CHART --namespace NS --values FILE …`
    pub fn install(&self, sh: &Shell, target: &Target) -> Command {
        let (release, ns, values, context) =
            (&self.release, &self.namespace, &self.values, target.context);
        let chart = self.chart_args();
        let kubeconfig: Vec<String> = target
            .kubeconfig
            .map(|k| vec!["--kubeconfig".into(), k.display().to_string()])
            .unwrap_or_default();
        let mut set = self.set_args();
        if self.skip_crds {
            set.push("--skip-crds".into());
        }
        cmd!(sh, "helm install {release} {chart...} --namespace {ns} --values {values} {set...} {kubeconfig...} --kube-context {context}").into()
    }

    /// `helm template …`: the objects the install would create, for the offline preflight.
    pub fn template(&self, sh: &Shell) -> Command {
        let (release, ns, values) = (&self.release, &self.namespace, &self.values);
        let (chart, set) = (self.chart_args(), self.set_args());
        cmd!(
            sh,
            "helm template {release} {chart...} --namespace {ns} --values {values} {set...}"
        )
        .into()
    }

    fn set_args(&self) -> Vec<String> {
        self.set
            .iter()
            .flat_map(|kv| ["--set".to_string(), kv.clone()])
            .collect()
    }
}

/// `helm uninstall RELEASE --namespace NS --wait`.
pub fn uninstall(sh: &Shell, release: &str, ns: &str, target: &Target) -> Command {
    let context = target.context;
    let kubeconfig: Vec<String> = target
        .kubeconfig
        .map(|k| vec!["--kubeconfig".into(), k.display().to_string()])
        .unwrap_or_default();
    cmd!(
        sh,
        "helm uninstall {release} --namespace {ns} --wait {kubeconfig...} --kube-context {context}"
    )
    .into()
}

/// The Pod Security warnings the API server sent back during an install, unquoted. Helm prints
/// them on stderr through client-go's warning handler, in one of three forms:
/// - helm v3 (klog text): `W1201 16:03:07.632924 6823 warnings.go:70] would violate PodSecurity …`;
/// - helm v4 (klog structured): `I1201 15:53:26.912995 12685 warnings.go:107] "Warning: would
///   violate PodSecurity \"restricted:latest\": …"`, the message Go-quoted;
/// - kubectl-style: `Warning: would violate PodSecurity …`.
pub fn pod_security_warnings(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.contains("would violate PodSecurity"))
        .map(|l| {
            let message = match l.split_once("] \"") {
                Some((_, quoted)) => pss::parse_go_quoted(&format!("\"{quoted}"))
                    .map(|(text, _)| text)
                    .unwrap_or_else(|| l.to_string()),
                None => l.to_string(),
            };
            match message.find("would violate") {
                Some(i) => message[i..].trim().to_string(),
                None => message.trim().to_string(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn install(chart: Chart) -> Install {
        Install {
            release: "kuberay-operator".into(),
            chart,
            namespace: "pod-security".into(),
            values: "/p/values.yaml".into(),
            set: vec![],
            skip_crds: false,
        }
    }

    #[test]
    fn install_from_the_repo_pins_the_version() {
        let sh = Shell::new().unwrap();
        let i = install(Chart::Repo {
            repo: "https://ray-project.github.io/kuberay-helm/".into(),
            name: "kuberay-operator".into(),
            version: "1.5.1".into(),
        });
        let t = Target {
            kubeconfig: Some(Path::new("/t/kubeconfig")),
            context: "kind-x",
        };
        assert_eq!(
            i.install(&sh, &t).shell_line(),
            "helm install kuberay-operator kuberay-operator --repo https://ray-project.github.io/kuberay-helm/ --version 1.5.1 --namespace pod-security --values /p/values.yaml --kubeconfig /t/kubeconfig --kube-context kind-x"
        );
        let local = install(Chart::Local(
            "/src/kuberay/helm-chart/kuberay-operator".into(),
        ));
        assert_eq!(
            local.template(&sh).shell_line(),
            "helm template kuberay-operator /src/kuberay/helm-chart/kuberay-operator --namespace pod-security --values /p/values.yaml"
        );
    }

    #[test]
    fn warnings_are_found_in_either_format() {
        let stderr = "W1128 04:12:00.123456   12345 warnings.go:70] would violate PodSecurity \"restricted:latest\": seccompProfile (…)\nsomething else\nWarning: would violate PodSecurity \"restricted:latest\": runAsNonRoot != true (…)\n";
        let w = pod_security_warnings(stderr);
        assert_eq!(w.len(), 2);
        assert!(
            w[0].starts_with("would violate PodSecurity \"restricted:latest\": seccompProfile")
        );
        assert!(pod_security_warnings("NAME: kuberay-operator\n").is_empty());
    }

    #[test]
    fn helm_v4s_quoted_warning_is_unquoted() {
        // helm v4.1.4 against a restricted namespace (recorded; the detail shortened here).
        let stderr = r#"I1201 15:53:26.912995   12685 warnings.go:107] "Warning: would violate PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"kuberay-operator\" must set securityContext.allowPrivilegeEscalation=false)"
"#;
        assert_eq!(
            pod_security_warnings(stderr),
            [
                r#"would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "kuberay-operator" must set securityContext.allowPrivilegeEscalation=false)"#
            ]
        );
    }
}
