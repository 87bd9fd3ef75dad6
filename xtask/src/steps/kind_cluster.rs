//! `kind_cluster`: create the kind cluster from the tutorial's config (with API audit logging),
//! or reuse one with `--reuse-cluster`; the API answers and every node is Ready.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{
    NotApplicable,
    context::{PlanContext, ShellContext},
    session::{Session, Target},
};
use crate::{
    cmd::quote,
    kind,
    kube_api::{access, client, objects, wait},
    progress::Status,
    scenario::ScenarioError,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The kind config, relative to the scenario's root.
    pub config: Spanned<String>,
}

#[derive(Debug)]
pub struct Planned {
    pub config: PathBuf,
}

impl Spec {
    pub fn plan(&self, ctx: &PlanContext) -> Result<Planned, ScenarioError> {
        Ok(Planned {
            config: ctx.source.resolve(&self.config)?,
        })
    }
}

impl Planned {
    pub async fn run(&self, session: &mut Session<'_>, status: &Status) -> Result<Vec<String>> {
        if let Target::Existing {
            kubeconfig,
            context,
        } = &session.env.target
        {
            let reached = connect_existing(session, kubeconfig, context, status).await?;
            return Err(NotApplicable(format!(
                "the cluster exists (--kubeconfig {}, context {context}); this run never creates or deletes it. {}",
                kubeconfig.display(),
                reached.join("; ")
            ))
            .into());
        }
        let cluster = &session.env.cluster;
        status.awaiting("kind get clusters");
        let mut evidence = vec![if cluster.exists(&session.sh).await? {
            reuse(session).await?
        } else {
            self.create(session, status).await?
        }];
        let cluster = &session.env.cluster;
        let client = client::connect(&session.kubeconfig, &cluster.context()).await?;
        let (info, ready) = api_and_nodes(&client, &cluster.context(), status).await?;
        evidence.extend(ready);
        if session.reused_cluster {
            // An earlier run's namespaces would make step 3 fail and its pods pollute the audit
            // log; deleting them (and with them the operator's release) makes the re-run clean.
            for ns in &session.env.scenario_namespaces {
                if objects::namespace_exists(&client, ns).await? {
                    objects::delete_namespace_and_wait(&client, ns, status).await?;
                    evidence.push(format!("deleted namespace {ns}, left by an earlier run"));
                }
            }
        }
        let server_version = pss::KubeVersion::from_server_info(&info.major, &info.minor);
        session.connected(client, server_version).await;
        evidence.extend(session.start_prepull());
        Ok(evidence)
    }

    async fn create(&self, session: &mut Session<'_>, status: &Status) -> Result<String> {
        let cluster = &session.env.cluster;
        let generated = session.workdir.path().join("kind-config.yaml");
        std::fs::write(&generated, kind::absolute_config(&self.config)?)?;
        status.awaiting(format!(
            "kind create cluster --name {} (pulls {} the first time)",
            cluster.name, cluster.node_image
        ));
        session.cluster_created = true;
        cluster
            .create(&session.sh, &generated, &session.kubeconfig)
            .checked()
            .await?;
        Ok(format!(
            "kind created cluster {:?} from {} with node image {}",
            cluster.name,
            self.config.display(),
            cluster.node_image
        ))
    }

    /// What the verdict rests on, in a sentence for the documentation.
    pub fn proof(&self) -> String {
        "the API server answers `GET /version`, and every node is Ready".into()
    }

    pub fn shell(&self, ctx: &ShellContext) -> Result<Vec<String>> {
        if ctx.env.existing() {
            let rights: Vec<String> = ctx
                .env
                .permissions
                .iter()
                .map(|p| quote(p.can_i_args()))
                .collect();
            return Ok(vec![
                format!(
                    "{} wait --for=condition=Ready nodes --all --timeout={}s   # an existing cluster: nothing is created",
                    ctx.kubectl,
                    ctx.timeout.as_secs()
                ),
                format!(
                    "for right in {}; do {} auth can-i $right >/dev/null || echo \"missing: $right\"; done   # expect: nothing printed",
                    rights.join(" "),
                    ctx.kubectl
                ),
            ]);
        }
        let config = &self.config;
        let cluster = &ctx.env.cluster;
        let mounts = kind::relative_mounts(config)?;
        let mut lines = Vec::new();
        // Relative mount sources made absolute, as the run does, in a file of its own.
        let config_arg = if mounts.is_empty() {
            config.clone()
        } else {
            let exprs: Vec<String> = mounts
                .iter()
                .map(|(rel, abs)| {
                    format!(
                        "-e {}",
                        quote(format!("s#hostPath: {rel}#hostPath: {}#", abs.display()))
                    )
                })
                .collect();
            let generated = PathBuf::from(format!("/tmp/{}.kind-config.yaml", cluster.name));
            lines.push(format!(
                "sed {} {} > {}",
                exprs.join(" "),
                quote(config),
                quote(&generated)
            ));
            generated
        };
        lines.push(
            cluster
                .create(ctx.sh, &config_arg, Path::new("KUBECONFIG"))
                .shell_line()
                .replace(" --kubeconfig KUBECONFIG", ""),
        );
        lines.push(format!(
            "{} wait --for=condition=Ready nodes --all --timeout={}s",
            ctx.kubectl,
            ctx.timeout.as_secs()
        ));
        for image in &ctx.env.prepull_images {
            let nodes = cluster.nodes(ctx.sh).shell_line();
            let pull = cluster.pull_on_node(ctx.sh, "$node", image).shell_line();
            lines.push(format!(
                "for node in $({nodes}); do {} & done   # optional: pulls the Ray image while the next steps run",
                pull.replace("'$node'", "\"$node\"")
            ));
        }
        Ok(lines)
    }
}

/// The API server answers and every node is Ready: the evidence, and the server's version.
async fn api_and_nodes(
    client: &kube::Client,
    context: &str,
    status: &Status,
) -> Result<(k8s_openapi::apimachinery::pkg::version::Info, Vec<String>)> {
    let info = wait::api_answers(client, status).await?;
    let answers = format!(
        "API server {} answers (context {context})",
        info.git_version
    );
    let nodes = wait::nodes_ready(client, status).await?;
    Ok((
        info,
        vec![answers, format!("nodes Ready: {}", nodes.join(", "))],
    ))
}

/// A cluster someone else made (`--kubeconfig`): connects and checks it as a created one is
/// checked, and creates nothing (no pre-pull either: that needs kind's node containers).
async fn connect_existing(
    session: &mut Session<'_>,
    kubeconfig: &Path,
    context: &str,
    status: &Status,
) -> Result<Vec<String>> {
    let client = client::connect(kubeconfig, context).await?;
    let (info, mut reached) = api_and_nodes(&client, context, status).await?;
    // Rights needed only while a CRD is absent: each such CRD is looked up once.
    let mut installed = std::collections::BTreeSet::new();
    let crds: std::collections::BTreeSet<&String> = session
        .env
        .permissions
        .iter()
        .filter_map(|p| p.unless_crd.as_ref())
        .collect();
    for crd in crds {
        if objects::crd(&client, crd).await.is_ok_and(|c| c.is_some()) {
            installed.insert(crd.clone());
        }
    }
    let needed: &Vec<_> = &session
        .env
        .permissions
        .iter()
        .filter(|p| p.unless_crd.as_ref().is_none_or(|c| !installed.contains(c)))
        .cloned()
        .collect();
    status.awaiting(format!(
        "the API server's answer to {} SelfSubjectAccessReview(s)",
        needed.len()
    ));
    let lacking = access::missing(&client, needed).await?;
    if !lacking.is_empty() {
        let list: Vec<String> = lacking
            .iter()
            .map(|(p, a)| match a.reason.as_str() {
                "" => format!("  - {p}"),
                why => format!("  - {p} ({why})"),
            })
            .collect();
        bail!(
            "the user of context {context} lacks {} of the {} right(s) the run needs; nothing was touched. Missing (as `kubectl auth can-i` takes them):\n{}",
            lacking.len(),
            needed.len(),
            list.join("\n")
        );
    }
    reached.push(format!(
        "the user has each of the {} right(s) the run needs (SelfSubjectAccessReview)",
        needed.len()
    ));
    let server_version = pss::KubeVersion::from_server_info(&info.major, &info.minor);
    session.connected(client, server_version).await;
    Ok(reached)
}

/// An existing cluster: only with `--reuse-cluster`; its kubeconfig comes from kind.
async fn reuse(session: &mut Session<'_>) -> Result<String> {
    let cluster = &session.env.cluster;
    if !session.env.reuse_cluster {
        bail!(
            "a kind cluster named {:?} already exists; delete it (kind delete cluster --name {}) or pass --reuse-cluster",
            cluster.name,
            cluster.name
        );
    }
    let out = cluster.get_kubeconfig(&session.sh).checked().await?;
    std::fs::write(&session.kubeconfig, out.stdout)?;
    session.reused_cluster = true;
    Ok(format!(
        "reused the existing kind cluster {:?} (it is kept at the end)",
        cluster.name
    ))
}
