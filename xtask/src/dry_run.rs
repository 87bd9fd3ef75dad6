//! `--dry-run`: the plan as the shell commands a person would type to reproduce the tutorial with
//! our pinned versions and absolute paths. Touches nothing. Each step kind prints its own lines
//! (`steps`), built by the same functions the real run uses; this module only frames them.

use std::path::Path;

use anyhow::Result;
use xshell::Shell;

use crate::{
    cmd::quote,
    plan::{Plan, PlannedStep},
    steps::{context::ShellContext, session::Target},
};

/// Each step's shell lines, built as the run builds its commands. With `relative`, paths under
/// the scenario's root are written relative to it (for a document read from the repository's
/// root); otherwise they are absolute.
pub fn step_lines(plan: &Plan, relative: bool) -> Result<Vec<(&PlannedStep, Vec<String>)>> {
    let sh = Shell::new()?;
    let kubectl = match &plan.env.target {
        Target::Kind => format!("kubectl --context {}", quote(plan.env.context())),
        Target::Existing {
            kubeconfig,
            context,
        } => format!(
            "kubectl --kubeconfig {} --context {}",
            quote(kubeconfig),
            quote(context)
        ),
    };
    let root = format!("{}/", plan.root.display());
    plan.steps
        .iter()
        .map(|step| {
            let ctx = ShellContext {
                sh: &sh,
                env: &plan.env,
                kubectl: kubectl.clone(),
                timeout: step.timeout,
            };
            let mut lines = step.action.shell(&ctx)?;
            if relative {
                for line in &mut lines {
                    *line = line.replace(&root, "");
                }
            }
            Ok((step, lines))
        })
        .collect()
}

/// Fetching the pinned kind and helm into the project, verified, and putting them first on
/// `PATH` (what `cargo xtask tools` does; skip what you have).
pub fn setup_lines(plan: &Plan) -> Result<Vec<String>> {
    let sh = Shell::new()?;
    let platform = crate::tools::platform()?;
    let mut out = vec![
        String::new(),
        format!(
            "# [set-up] the pinned {} for {platform}, verified (cargo xtask tools; skip what you have)",
            plan.tools
                .iter()
                .map(|f| format!("{} {}", f.tool.name(), f.version))
                .collect::<Vec<_>>()
                .join(" and ")
        ),
    ];
    for fetch in &plan.tools {
        out.extend(fetch.shell_lines(&sh, &platform));
    }
    let dirs: Vec<String> = plan.tools.iter().map(|f| quote(&f.dir)).collect();
    out.push(format!("export PATH={}:\"$PATH\"", dirs.join(":")));
    Ok(out)
}

/// What the printed commands leave running in the background (the port-forwards), stopped.
pub fn stop_lines(plan: &Plan) -> Vec<String> {
    plan.steps
        .iter()
        .filter_map(|step| match &step.action {
            crate::steps::Planned::PortForward(p) => Some(p.stop_line()),
            _ => None,
        })
        .collect()
}

/// The cleanup line (`kind delete cluster`).
pub fn cleanup_line(plan: &Plan) -> Result<String> {
    Ok(plan
        .env
        .cluster
        .delete(&Shell::new()?, Path::new("KUBECONFIG"))
        .shell_line()
        .replace(" --kubeconfig KUBECONFIG", ""))
}

pub fn render(plan: &Plan) -> Result<String> {
    let mut out = vec![
        format!(
            "# {} — the tutorial as shell commands (cargo xtask e2e --dry-run)",
            plan.name
        ),
        format!("# tutorial: {}", plan.tutorial.as_deref().unwrap_or("-")),
        format!(
            "# scenario: {} (paths resolve against {})",
            plan.scenario_file.display(),
            plan.root.display()
        ),
        format!(
            "# versions: node image {}, KubeRay chart {}, Ray image {}",
            plan.versions.node_image, plan.versions.kuberay_chart, plan.versions.ray_image
        ),
    ];
    if !plan.tools.is_empty() {
        out.extend(setup_lines(plan)?);
    }
    for (step, lines) in step_lines(plan, false)? {
        out.push(String::new());
        out.push(format!("# [doc {}] {}: {}", step.doc, step.id, step.title));
        out.extend(lines);
    }
    out.push(String::new());
    let stop = stop_lines(plan);
    if !stop.is_empty() {
        out.push("# stop what runs in the background".into());
        out.extend(stop);
        out.push(String::new());
    }
    match &plan.env.target {
        Target::Kind => {
            out.push("# cleanup (skipped with --keep-cluster)".into());
            out.push(cleanup_line(plan)?);
        }
        Target::Existing {
            kubeconfig,
            context,
        } => {
            out.push("# cleanup: only what the run created (the cluster and its CRDs stay)".into());
            let sh = Shell::new()?;
            let target = crate::helm::Target {
                kubeconfig: Some(kubeconfig),
                context,
            };
            for (release, ns) in &plan.env.helm_releases {
                out.push(crate::helm::uninstall(&sh, release, ns, &target).shell_line());
            }
            for ns in &plan.env.scenario_namespaces {
                out.push(format!(
                    "kubectl --kubeconfig {} --context {} delete namespace {} --wait",
                    quote(kubeconfig),
                    quote(context),
                    quote(ns)
                ));
            }
        }
    }
    Ok(out.join("\n") + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{plan, scenario};

    #[test]
    fn every_tutorial_command_is_printed_with_real_paths_and_pins() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/pod-security.yaml");
        let plan = plan::build(
            &scenario::load(&path).unwrap(),
            &plan::Overrides::default(),
            plan::ClusterOptions::default(),
        )
        .unwrap();
        let text = render(&plan).unwrap();
        let root = plan.root.display().to_string();
        for want in [
            &format!(
                "sed -e 's#hostPath: audit-policy.yaml#hostPath: {root}/kind/audit-policy.yaml#' {root}/kind/kind-config.yaml > /tmp/kuberay-pod-security.kind-config.yaml"
            ),
            "kind create cluster --name kuberay-pod-security --config /tmp/kuberay-pod-security.kind-config.yaml --image ",
            "for _ in $(seq 180); do docker exec kuberay-pod-security-control-plane cat /var/log/kubernetes/kube-apiserver-audit.log | grep -F '\"code\":403' | grep -F raycluster-complete-head- && break; sleep 1; done",
            "--image kindest/node:v1.26.15@sha256:c79602a44b4056d7e48dc20f7504350f1e87530fe953428b792def00bc1076dd",
            "docker exec kuberay-pod-security-control-plane cat /var/log/kubernetes/kube-apiserver-audit.log",
            "kubectl --context kind-kuberay-pod-security create ns pod-security",
            "pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/enforce-version=latest",
            "pod-security.kubernetes.io/warn-version=latest",
            "helm install kuberay-operator kuberay-operator --repo https://ray-project.github.io/kuberay-helm/ --version 1.5.1 --namespace pod-security",
            &format!(
                "--values {root}/manifests/kuberay-operator.values.yaml --kube-context kind-kuberay-pod-security"
            ),
            &format!(
                "apply --server-side -n pod-security -f {root}/manifests/ray-cluster.complete.yaml"
            ),
            &format!(
                "sed -e 's#image: rayproject/ray-ml:2\\.4\\.0#image: rayproject/ray-ml:2.4.0-cpu#' {root}/manifests/ray-cluster.pod-security.yaml > /tmp/ray-cluster.pod-security.yaml\nkubectl --context kind-kuberay-pod-security apply --server-side -n pod-security -f /tmp/ray-cluster.pod-security.yaml"
            ),
            "port-forward --address 127.0.0.1 svc/raycluster-pod-security-head-svc 8265:8265 &\nPORT_FORWARD_8265=$!",
            "# stop what runs in the background\nkill \"$PORT_FORWARD_8265\"   # the port-forward of svc/raycluster-pod-security-head-svc\n",
            "-c ray-head -- python3 samples/xgboost_example.py\necho \"exit code: $?\"   # expect: 0",
            "-c ray-head -- pip3 install jsonpatch\n",
            "curl -fsS http://127.0.0.1:8265/api/jobs/",
            "kind delete cluster --name kuberay-pod-security",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
        assert!(!text.contains("KUBECONFIG"), "{text}");
        assert!(!text.contains("<("), "no process substitution: {text}");
    }
}
