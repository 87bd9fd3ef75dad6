//! `--dry-run`: the plan as the shell commands a person would type to reproduce the tutorial with
//! our pinned versions and absolute paths. Touches nothing; the commands kind, helm and docker get
//! are built by the same functions the real run uses.

use std::path::Path;

use anyhow::Result;
use xshell::Shell;

use crate::{
    cmd::quote,
    helm, manifest,
    plan::{Action, Plan},
};

pub fn render(plan: &Plan) -> Result<String> {
    let sh = Shell::new()?;
    let ctx = plan.cluster.context();
    let kubectl = format!("kubectl --context {}", quote(&ctx));
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
    for step in &plan.steps {
        out.push(String::new());
        out.push(format!("# [doc {}] {}: {}", step.doc, step.id, step.title));
        let lines: Vec<String> = match &step.action {
            Action::Preflight(p) => {
                let mut l = Vec::new();
                let version_of =
                    |lv: &pss::LevelVersion| (lv.level.to_string(), lv.version.to_string());
                for (m, lv) in &p.rejected {
                    let (level, version) = version_of(lv);
                    l.push(format!("cargo xtask pss --level {level} --version {version} {}   # expect: forbidden", quote(m)));
                }
                for (m, _, lv) in &p.admitted {
                    let (level, version) = version_of(lv);
                    l.push(format!("cargo xtask pss --level {level} --version {version} {}   # expect: allowed", quote(m)));
                }
                if let Some((install, lv)) = &p.chart {
                    let (level, version) = version_of(lv);
                    l.push(format!(
                        "{} > /tmp/kuberay-operator.rendered.yaml && cargo xtask pss --level {level} --version {version} /tmp/kuberay-operator.rendered.yaml   # expect: allowed",
                        install.template(&sh).shell_line()
                    ));
                }
                l
            }
            Action::KindCluster { config } => {
                let mut rewritten = format!("cat {}", quote(config));
                let mounts = crate::kind::relative_mounts(config)?;
                if !mounts.is_empty() {
                    let exprs: Vec<String> = mounts
                        .iter()
                        .map(|(rel, abs)| {
                            format!(
                                "-e {}",
                                quote(format!("s#hostPath: {rel}#hostPath: {}#", abs.display()))
                            )
                        })
                        .collect();
                    rewritten = format!("sed {} {}", exprs.join(" "), quote(config));
                }
                let create = plan
                    .cluster
                    .create(&sh, Path::new("CONFIG"), Path::new("KUBECONFIG"))
                    .shell_line();
                let create = create
                    .replace(" --kubeconfig KUBECONFIG", "")
                    .replace("--config CONFIG", &format!("--config <({rewritten})"));
                vec![
                    create,
                    format!(
                        "{kubectl} wait --for=condition=Ready nodes --all --timeout={}s",
                        step.timeout.as_secs()
                    ),
                ]
            }
            Action::AuditQuiet { namespace } => vec![format!(
                "{}   # expect: no event whose objectRef.namespace is {namespace}",
                plan.audit.read_command(&sh).shell_line()
            )],
            Action::Namespace { name, labels } => {
                let pairs: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| quote(format!("{k}={v}")))
                    .collect();
                vec![
                    format!("{kubectl} create ns {}", quote(name)),
                    format!(
                        "{kubectl} label --overwrite ns {} {}",
                        quote(name),
                        pairs.join(" ")
                    ),
                ]
            }
            Action::HelmInstall {
                install,
                deployment,
                crd,
            } => {
                let mut l = vec![format!(
                    "{}   # expect: no PodSecurity warning on stderr",
                    install
                        .install(
                            &sh,
                            &helm::Target {
                                kubeconfig: None,
                                context: &ctx
                            }
                        )
                        .shell_line()
                )];
                if let Some(crd) = crd {
                    l.push(format!(
                        "{kubectl} wait --for=condition=Established crd/{crd} --timeout=60s"
                    ));
                }
                l.push(format!(
                    "{kubectl} -n {} wait --for=condition=Available deployment/{deployment} --timeout={}s",
                    quote(&install.namespace),
                    step.timeout.as_secs()
                ));
                l
            }
            Action::ApplyRejected {
                manifest,
                namespace,
                raycluster,
                settle,
                policy,
            } => vec![
                format!(
                    "{kubectl} apply --server-side -n {} -f {}",
                    quote(namespace),
                    quote(manifest)
                ),
                format!(
                    "{} | grep '\"code\":403' | grep -F {}-head-   # expect: violates PodSecurity \"{policy}\" for the head pod",
                    plan.audit.read_command(&sh).shell_line(),
                    quote(raycluster)
                ),
                format!(
                    "{kubectl} -n {} get events --field-selector involvedObject.name={raycluster}   # expect: Warning FailedToCreateHeadPod (or the RayCluster's ReplicaFailure condition)",
                    quote(namespace)
                ),
                format!(
                    "{kubectl} -n {} get pods -l ray.io/cluster={raycluster}   # expect: none, for {}s",
                    quote(namespace),
                    settle.as_secs()
                ),
            ],
            Action::ApplyAdmitted(a) => {
                let apply = format!(
                    "{kubectl} apply --server-side -n {} -f",
                    quote(&a.namespace)
                );
                let first = match &a.ray_image {
                    Some(image) => {
                        let mut objs = manifest::read(&a.manifest)?;
                        let replaced = manifest::set_ray_image(&mut objs, image);
                        if replaced.is_empty() {
                            format!("{apply} {}", quote(&a.manifest))
                        } else {
                            let exprs: Vec<String> = replaced
                                .iter()
                                .map(|old| {
                                    format!(
                                        "-e {}",
                                        quote(format!(
                                            "s#image: {}#image: {image}#",
                                            old.replace('.', "\\.")
                                        ))
                                    )
                                })
                                .collect();
                            format!("sed {} {} | {apply} -", exprs.join(" "), quote(&a.manifest))
                        }
                    }
                    None => format!("{apply} {}", quote(&a.manifest)),
                };
                vec![
                    first,
                    format!(
                        "{kubectl} -n {} wait --for=condition=Ready pod -l ray.io/cluster={} --timeout={}s   # expect: {} head, {} worker",
                        quote(&a.namespace),
                        a.raycluster,
                        step.timeout.as_secs(),
                        a.heads,
                        a.workers
                    ),
                    format!(
                        "{}   # expect: their pod creates allowed under enforce-policy {}, no audit-violations",
                        plan.audit.read_command(&sh).shell_line(),
                        a.policy
                    ),
                ]
            }
            Action::PortForward {
                namespace,
                service,
                port,
                probe,
            } => vec![
                format!(
                    "{kubectl} -n {} port-forward --address 127.0.0.1 svc/{service} {port}:{port} &",
                    quote(namespace)
                ),
                format!("curl -fsS http://127.0.0.1:{port}{probe}"),
            ],
            Action::Exec(e) => {
                let pod = format!(
                    "\"$({kubectl} -n {} get pod -l {} -o name)\"",
                    quote(&e.namespace),
                    quote(&e.selector)
                );
                let argv: Vec<String> = e.command.iter().map(quote).collect();
                let mut l = vec![format!(
                    "{kubectl} -n {} exec {pod} -c {} -- {}; echo \"exit code: $?\"   # expect: {}",
                    quote(&e.namespace),
                    quote(&e.container),
                    argv.join(" "),
                    e.expect.exit_code
                )];
                if let (Some(status), Some(_)) = (&e.expect.dashboard_status, &e.dashboard) {
                    let port = plan
                        .steps
                        .iter()
                        .find_map(|s| match &s.action {
                            Action::PortForward { service, port, .. }
                                if Some(service) == e.dashboard.as_ref() =>
                            {
                                Some(*port)
                            }
                            _ => None,
                        })
                        .unwrap_or(8265);
                    l.push(format!(
                        "curl -fsS http://127.0.0.1:{port}/api/jobs/   # expect: a DRIVER job with entrypoint \"{}\" {status}",
                        e.expect.command_line
                    ));
                }
                l
            }
            Action::Delete {
                manifest,
                namespace,
            } => {
                vec![format!(
                    "{kubectl} delete -n {} -f {} --wait",
                    quote(namespace),
                    quote(manifest)
                )]
            }
        };
        out.extend(lines);
    }
    out.push(String::new());
    out.push("# cleanup (skipped with --keep-cluster)".into());
    out.push(
        plan.cluster
            .delete(&sh, Path::new("KUBECONFIG"))
            .shell_line()
            .replace(" --kubeconfig KUBECONFIG", ""),
    );
    Ok(out.join("\n") + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{plan, scenario};

    #[test]
    fn every_tutorial_command_is_printed_with_real_paths_and_pins() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/pod-security.yaml");
        let plan =
            plan::build(&scenario::load(&path).unwrap(), &plan::Overrides::default()).unwrap();
        let text = render(&plan).unwrap();
        let root = plan.root.display().to_string();
        for want in [
            "kind create cluster --name kuberay-pod-security --config <(sed -e ",
            &format!("hostPath: {root}/kind/audit-policy.yaml#' {root}/kind/kind-config.yaml)"),
            "| grep '\"code\":403' | grep -F raycluster-complete-head-",
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
                "sed -e 's#image: rayproject/ray-ml:2\\.4\\.0#image: rayproject/ray-ml:2.4.0-cpu#' {root}/manifests/ray-cluster.pod-security.yaml | kubectl"
            ),
            "port-forward --address 127.0.0.1 svc/raycluster-pod-security-head-svc 8265:8265 &",
            "-c ray-head -- python3 samples/xgboost_example.py; echo \"exit code: $?\"",
            "-c ray-head -- pip3 install jsonpatch;",
            "curl -fsS http://127.0.0.1:8265/api/jobs/",
            "kind delete cluster --name kuberay-pod-security",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
        assert!(!text.contains("KUBECONFIG"), "{text}");
    }
}
