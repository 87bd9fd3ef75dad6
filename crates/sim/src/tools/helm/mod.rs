//! Fake `helm` (v3.16.3): `version`, `install`, `template`, `uninstall`, `list`. Renders a built-in
//! approximation of the kuberay-operator chart (facts §4) with the user's values, and installs it
//! through the apiserver's REST API from the kubeconfig, so PodSecurity `Warning` headers come back
//! and are printed the way client-go's default warning handler (klog) prints them.

mod chart;
mod kube;
mod strvals;

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

use super::args::{parse_flags, resolve};
use super::invocation::{Invocation, ToolOutput};
use crate::faults::Fault;
use crate::util;
use crate::world::World;
use chart::{Chart, KUBERAY_REPO, crds, deep_merge, default_values, load_chart, render, yaml_doc};
use kube::{HELM_COMMIT, HELM_VERSION, Kube, api_path, klog_warning};

pub async fn run(world: &Arc<World>, inv: &Invocation) -> ToolOutput {
    let a: Vec<&str> = inv.args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["version", "--short"] => {
            ToolOutput::ok(format!("{HELM_VERSION}+g{}\n", &HELM_COMMIT[..7]))
        }
        ["version", ..] => ToolOutput::ok(format!(
            "version.BuildInfo{{Version:\"{HELM_VERSION}\", GitCommit:\"{HELM_COMMIT}\", GitTreeState:\"clean\", GoVersion:\"go1.22.7\"}}\n"
        )),
        ["install", rest @ ..] => install(world, inv, rest).await,
        ["template", rest @ ..] => template(world, inv, rest).await,
        ["uninstall", rest @ ..] | ["delete", rest @ ..] => uninstall(inv, rest).await,
        ["status", rest @ ..] => status(inv, rest).await,
        ["get", "values", rest @ ..] => get_values(inv, rest).await,
        [cmd, ..] => ToolOutput::fail(
            format!(
                "Error: unknown command \"{cmd}\" for \"helm\"\nRun 'helm --help' for usage.\n"
            ),
            1,
        ),
        [] => ToolOutput::ok("The Kubernetes package manager\n"),
    }
}

const VALUE_FLAGS: &[&str] = &[
    "namespace",
    "n",
    "values",
    "f",
    "kubeconfig",
    "kube-context",
    "repo",
    "version",
    "timeout",
    "set",
    "set-string",
    "output",
    "o",
];
const BOOL_FLAGS: &[&str] = &[
    "create-namespace",
    "wait",
    "debug",
    "atomic",
    "include-crds",
    "skip-crds",
    "dry-run",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verb {
    Install,
    Template,
}

impl Verb {
    fn as_str(self) -> &'static str {
        match self {
            Verb::Install => "install",
            Verb::Template => "template",
        }
    }
    /// How helm prefixes this command's errors.
    fn error_prefix(self) -> &'static str {
        match self {
            Verb::Install => "Error: INSTALLATION FAILED: ",
            Verb::Template => "Error: ",
        }
    }
}

/// A release's chart rendered with its values: what `install` applies and `template` prints.
struct Release {
    name: String,
    ns: String,
    chart: Chart,
    /// The chart's defaults coalesced with the user's values (what `helm get values --all` says).
    values: Value,
    objs: Vec<(String, Value)>,
    flags: BTreeMap<String, Vec<String>>,
}

impl Release {
    /// The last value of `--long` or `-short`.
    fn flag(&self, long: &str, short: &str) -> Option<&str> {
        flag_value(&self.flags, long, short)
    }
}

fn flag_value<'a>(
    flags: &'a BTreeMap<String, Vec<String>>,
    long: &str,
    short: &str,
) -> Option<&'a str> {
    flags
        .get(long)
        .or_else(|| flags.get(short))
        .and_then(|v| v.last())
        .map(String::as_str)
}

/// Flags, chart, values, render: what `helm install` and `helm template` share.
async fn load_and_render(
    world: &Arc<World>,
    inv: &Invocation,
    rest: &[&str],
    verb: Verb,
) -> Result<Release, ToolOutput> {
    let args: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
    let (pos, flags) = parse_flags(&args, VALUE_FLAGS, BOOL_FLAGS)
        .map_err(|e| ToolOutput::fail(format!("Error: {e}\n"), 1))?;
    let prefix = verb.error_prefix();
    let [name, chart_ref] = match pos.as_slice() {
        [r, c] => [r.clone(), c.clone()],
        _ => {
            let verb = verb.as_str();
            return Err(ToolOutput::fail(
                format!(
                    "Error: \"helm {verb}\" requires at least 1 argument\n\nUsage:  helm {verb} [NAME] [CHART] [flags]\n"
                ),
                1,
            ));
        }
    };
    let ns = flag_value(&flags, "namespace", "n")
        .unwrap_or("default")
        .to_string();
    if world.env.faults.has(Fault::HelmInstallFails) && verb == Verb::Install {
        world.env.faults.hit(Fault::HelmInstallFails, &name);
        let repo = flag_value(&flags, "repo", "").unwrap_or(KUBERAY_REPO);
        return Err(ToolOutput::fail(
            format!(
                "{prefix}failed to fetch {}kuberay-operator-{}.tgz : 503 Service Unavailable\n",
                repo.trim_end_matches('/').to_string() + "/",
                flag_value(&flags, "version", "").unwrap_or("1.5.1")
            ),
            1,
        ));
    }
    let repo = flags.get("repo").and_then(|v| v.last()).map(String::as_str);
    let version = flags
        .get("version")
        .and_then(|v| v.last())
        .map(String::as_str);
    let chart = load_chart(inv, &chart_ref, repo, version)
        .map_err(|e| ToolOutput::fail(format!("{prefix}{e}\n"), 1))?;
    let values = user_values(inv, &chart, &flags)?;
    let objs = render(&name, &ns, &chart, &values);
    Ok(Release {
        name,
        ns,
        chart,
        values,
        objs,
        flags,
    })
}

/// The chart's defaults coalesced with every `--values`/`-f` file, in order, then every `--set`
/// and `--set-string` (which win, as in helm).
fn user_values(
    inv: &Invocation,
    chart: &Chart,
    flags: &BTreeMap<String, Vec<String>>,
) -> Result<Value, ToolOutput> {
    let mut values = chart.defaults.clone();
    for f in flags
        .get("values")
        .into_iter()
        .chain(flags.get("f"))
        .flatten()
    {
        let Ok(t) = std::fs::read_to_string(resolve(&inv.cwd, f)) else {
            return Err(ToolOutput::fail(
                format!("Error: open {f}: no such file or directory\n"),
                1,
            ));
        };
        match serde_saphyr::from_str::<Value>(&t) {
            Ok(v) if v.is_object() => deep_merge(&mut values, &v),
            Ok(_) => {}
            Err(e) => {
                return Err(ToolOutput::fail(
                    format!("Error: failed to parse {f}: error converting YAML to JSON: {e}\n"),
                    1,
                ));
            }
        }
    }
    for (flag, strings) in [("set", false), ("set-string", true)] {
        for arg in flags.get(flag).into_iter().flatten() {
            match strvals::parse(arg, strings) {
                Ok(v) => deep_merge(&mut values, &v),
                Err(e) => {
                    return Err(ToolOutput::fail(
                        format!("Error: failed parsing --{flag} data: {e}\n"),
                        1,
                    ));
                }
            }
        }
    }
    Ok(values)
}

/// `helm template`: the rendered manifests, as YAML documents with their `# Source:`.
async fn template(world: &Arc<World>, inv: &Invocation, rest: &[&str]) -> ToolOutput {
    let r = match load_and_render(world, inv, rest, Verb::Template).await {
        Ok(r) => r,
        Err(out) => return out,
    };
    let mut out = String::new();
    for (src, o) in &r.objs {
        out.push_str(&yaml_doc(&format!("{}/{src}", r.chart.name), o));
    }
    ToolOutput::ok(out)
}

/// `helm install`: CRDs, a pending release secret, every object (adopting its own), then the
/// release marked deployed or failed.
async fn install(world: &Arc<World>, inv: &Invocation, rest: &[&str]) -> ToolOutput {
    let r = match load_and_render(world, inv, rest, Verb::Install).await {
        Ok(r) => r,
        Err(out) => return out,
    };
    let prefix = Verb::Install.error_prefix();
    let fail = |e: String| ToolOutput::fail(format!("{prefix}{e}\n"), 1);
    let mut kube =
        match Kube::from_kubeconfig(inv, r.flag("kubeconfig", ""), r.flag("kube-context", "")) {
            Ok(k) => k,
            Err(e) => return fail(e),
        };
    if let Err(e) = prepare(&mut kube, &r).await {
        return fail(e);
    }
    let now = util::ansic_now();
    match kube
        .req(
            "POST",
            &format!("/api/v1/namespaces/{}/secrets", r.ns),
            Some(&release_secret(&r, "pending-install")),
        )
        .await
    {
        Ok((201, _)) => {}
        Ok((_, b)) => {
            let m = b["message"].as_str().unwrap_or_default();
            return fail(format!("create: failed to create: {m}"));
        }
        Err(e) => return fail(e),
    }
    let failure = apply_objects(&mut kube, &r).await.err();
    let mut stderr = String::new();
    for w in std::mem::take(&mut kube.warnings) {
        stderr.push_str(&klog_warning(&w));
    }
    let secret_path = format!(
        "/api/v1/namespaces/{}/secrets/sh.helm.release.v1.{}.v1",
        r.ns, r.name
    );
    let status = if failure.is_some() {
        "failed"
    } else {
        "deployed"
    };
    let _ = kube
        .req("PUT", &secret_path, Some(&release_secret(&r, status)))
        .await;
    if let Some(f) = failure {
        return ToolOutput {
            stdout: String::new(),
            stderr: format!("{stderr}{prefix}{f}\n"),
            code: 1,
        };
    }
    let stdout = format!(
        "NAME: {}\nLAST DEPLOYED: {now}\nNAMESPACE: {}\nSTATUS: deployed\nREVISION: 1\nTEST SUITE: None\n",
        r.name, r.ns
    );
    ToolOutput {
        stdout,
        stderr,
        code: 0,
    }
}

/// Before anything is applied: the server answers, the release name is free, the namespace
/// exists (`--create-namespace`) and so do the CRDs (unless `--skip-crds`).
async fn prepare(kube: &mut Kube, r: &Release) -> Result<(), String> {
    kube.req("GET", "/version", None).await?;
    let sel = format!(
        "/api/v1/namespaces/{}/secrets?labelSelector=name%3D{}%2Cowner%3Dhelm",
        r.ns, r.name
    );
    if let (200, l) = kube.req("GET", &sel, None).await?
        && l["items"].as_array().is_some_and(|i| !i.is_empty())
    {
        return Err("cannot re-use a name that is still in use".into());
    }
    if r.flags.contains_key("create-namespace") {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": r.ns, "labels": {"name": r.ns}}});
        // An existing namespace is fine; any other refusal ends the install.
        match kube.req("POST", "/api/v1/namespaces", Some(&ns)).await? {
            (201 | 409, _) => {}
            (_, b) => return Err(b["message"].as_str().unwrap_or("unknown error").to_string()),
        }
    }
    if !r.flags.contains_key("skip-crds") {
        install_crds(kube, &r.chart.version).await?;
    }
    Ok(())
}

/// The chart's `crds/`: created, or skipped when they already exist (another release made them),
/// then waited for until Established.
async fn install_crds(kube: &mut Kube, version: &str) -> Result<(), String> {
    const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    for c in crds(version) {
        let n = c["metadata"]["name"].as_str().unwrap_or_default();
        match kube.req("POST", CRDS, Some(&c)).await? {
            (201, _) | (409, _) => {}
            (_, b) => {
                // The chart's file: crds/ray.io_rayclusters.yaml.
                let plural = n.split('.').next().unwrap_or_default();
                return Err(format!(
                    "failed to install CRD crds/ray.io_{plural}.yaml: {}",
                    b["message"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    for _ in 0..100 {
        let mut all = true;
        for c in crds(version) {
            let n = c["metadata"]["name"].as_str().unwrap_or_default();
            let ok = matches!(kube.req("GET", &format!("{CRDS}/{n}"), None).await, Ok((200, ref v)) if v["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == "Established" && c["status"] == "True")));
            all &= ok;
        }
        if all {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(())
}

/// helm's release record (`sh.helm.release.v1.<name>.v1`) in the given status.
fn release_secret(r: &Release, status: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": {"name": format!("sh.helm.release.v1.{}.v1", r.name), "namespace": r.ns,
            "labels": {"name": r.name, "owner": "helm", "status": status, "version": "1", "modifiedAt": util::now_millis().to_string()},
            // The sim's own record of what real helm keeps in the encoded release (see README).
            "annotations": {"sim.helm.sh/chart": format!("{}-{}", r.chart.name, r.chart.version),
                "sim.helm.sh/values": r.values.to_string(), "sim.helm.sh/deployed": util::ansic_now()}},
        "data": {"release": "SDRzSUFBQUFBQUFDLzZ1dUFRQUFBQUFBQUFBQUE9PQ=="}})
}

/// Create the rendered objects in order, stopping at the first failure.
async fn apply_objects(kube: &mut Kube, r: &Release) -> Result<(), String> {
    let message = |b: &Value| b["message"].as_str().unwrap_or("unknown error").to_string();
    for (_, o) in &r.objs {
        let mut o = o.clone();
        o["metadata"]["annotations"] =
            json!({"meta.helm.sh/release-name": r.name, "meta.helm.sh/release-namespace": r.ns});
        match kube.req("POST", &api_path(&o, &r.ns), Some(&o)).await? {
            (201, _) => {}
            (409, _) => adopt(kube, &mut o, r).await?,
            (_, b) => return Err(message(&b)),
        }
    }
    Ok(())
}

/// Like helm's existingResourceConflict: an object that already carries this release's ownership
/// metadata is adopted (replaced); any other is a conflict.
async fn adopt(kube: &mut Kube, o: &mut Value, r: &Release) -> Result<(), String> {
    let message = |b: &Value| b["message"].as_str().unwrap_or("unknown error").to_string();
    let item = format!(
        "{}/{}",
        api_path(o, &r.ns),
        o["metadata"]["name"].as_str().unwrap_or_default()
    );
    let existing = match kube.req("GET", &item, None).await? {
        (200, existing) => existing,
        (_, b) => return Err(message(&b)),
    };
    if let Some(problems) = ownership_problems(&existing, &r.name, &r.ns) {
        let obj_ns = if item.contains("/namespaces/") {
            r.ns.as_str()
        } else {
            ""
        };
        return Err(format!(
            "rendered manifests contain a resource that already exists. Unable to continue with install: {} {:?} in namespace {obj_ns:?} exists and cannot be imported into the current release: invalid ownership metadata; {problems}",
            o["kind"].as_str().unwrap_or_default(),
            o["metadata"]["name"].as_str().unwrap_or_default()
        ));
    }
    o["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"].clone();
    match kube.req("PUT", &item, Some(o)).await? {
        (200, _) => Ok(()),
        (_, b) => Err(message(&b)),
    }
}

/// Helm's `checkOwnership`: what keeps an existing object from being adopted by this release.
fn ownership_problems(existing: &Value, release: &str, ns: &str) -> Option<String> {
    let meta = &existing["metadata"];
    let require = |map: &str, key: &str, want: &str, what: &str| match meta[map][key].as_str() {
        Some(v) if v == want => None,
        Some(v) => Some(format!(
            "{what} validation error: key {key:?} must equal {want:?}: current value is {v:?}"
        )),
        None => Some(format!(
            "{what} validation error: missing key {key:?}: must be set to {want:?}"
        )),
    };
    let problems: Vec<String> = [
        require("labels", "app.kubernetes.io/managed-by", "Helm", "label"),
        require(
            "annotations",
            "meta.helm.sh/release-name",
            release,
            "annotation",
        ),
        require(
            "annotations",
            "meta.helm.sh/release-namespace",
            ns,
            "annotation",
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!problems.is_empty()).then(|| problems.join("; "))
}

async fn uninstall(inv: &Invocation, rest: &[&str]) -> ToolOutput {
    let args: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
    let (pos, flags) = match parse_flags(&args, VALUE_FLAGS, BOOL_FLAGS) {
        Ok(x) => x,
        Err(e) => return ToolOutput::fail(format!("Error: {e}\n"), 1),
    };
    let Some(release) = pos.first() else {
        return ToolOutput::fail(
            "Error: \"helm uninstall\" requires at least 1 argument\n",
            1,
        );
    };
    let get = |long: &str, short: &str| flag_value(&flags, long, short);
    let ns = get("namespace", "n").unwrap_or("default").to_string();
    let mut kube = match Kube::from_kubeconfig(inv, get("kubeconfig", ""), get("kube-context", ""))
    {
        Ok(k) => k,
        Err(e) => return ToolOutput::fail(format!("Error: {e}\n"), 1),
    };
    let secret_path = format!("/api/v1/namespaces/{ns}/secrets/sh.helm.release.v1.{release}.v1");
    let record = match kube.req("GET", &secret_path, None).await {
        Ok((200, secret)) => secret,
        _ => {
            return ToolOutput::fail(
                format!("Error: uninstall: Release not loaded: {release}: release: not found\n"),
                1,
            );
        }
    };
    // What the release installed: its chart version and values, from the release record.
    let ann = &record["metadata"]["annotations"];
    let version = ann["sim.helm.sh/chart"]
        .as_str()
        .and_then(|c| c.rsplit('-').next())
        .unwrap_or("1.5.1")
        .to_string();
    let chart = Chart {
        name: "kuberay-operator".into(),
        defaults: default_values(&version),
        version,
    };
    let values = ann["sim.helm.sh/values"]
        .as_str()
        .and_then(|v| serde_json::from_str::<Value>(v).ok())
        .unwrap_or_else(|| chart.defaults.clone());
    // Like helm, failures to delete single objects do not fail the uninstall.
    for (_, o) in render(release, &ns, &chart, &values).iter().rev() {
        let n = o["metadata"]["name"].as_str().unwrap_or_default();
        let _ = kube
            .req("DELETE", &format!("{}/{n}", api_path(o, &ns)), None)
            .await;
    }
    let _ = kube.req("DELETE", &secret_path, None).await;
    ToolOutput::ok(format!("release \"{release}\" uninstalled\n"))
}

/// The release record of `RELEASE` in the `--namespace`, as `helm status`/`get values` read it.
async fn release_record(inv: &Invocation, rest: &[&str], verb: &str) -> Result<Value, ToolOutput> {
    let args: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
    let (pos, flags) = parse_flags(&args, VALUE_FLAGS, &["all"])
        .map_err(|e| ToolOutput::fail(format!("Error: {e}\n"), 1))?;
    let Some(release) = pos.first() else {
        return Err(ToolOutput::fail(
            format!("Error: \"helm {verb}\" requires 1 argument\n"),
            1,
        ));
    };
    let get = |long: &str, short: &str| flag_value(&flags, long, short);
    let ns = get("namespace", "n").unwrap_or("default").to_string();
    let mut kube = Kube::from_kubeconfig(inv, get("kubeconfig", ""), get("kube-context", ""))
        .map_err(|e| ToolOutput::fail(format!("Error: {e}\n"), 1))?;
    let path = format!("/api/v1/namespaces/{ns}/secrets/sh.helm.release.v1.{release}.v1");
    match kube.req("GET", &path, None).await {
        Ok((200, secret)) => Ok(secret),
        _ => Err(ToolOutput::fail("Error: release: not found\n", 1)),
    }
}

/// `helm status RELEASE`: NAME, LAST DEPLOYED, NAMESPACE, STATUS, REVISION.
async fn status(inv: &Invocation, rest: &[&str]) -> ToolOutput {
    let secret = match release_record(inv, rest, "status").await {
        Ok(s) => s,
        Err(out) => return out,
    };
    let meta = &secret["metadata"];
    let label = |k: &str| meta["labels"][k].as_str().unwrap_or_default().to_string();
    ToolOutput::ok(format!(
        "NAME: {}\nLAST DEPLOYED: {}\nNAMESPACE: {}\nSTATUS: {}\nREVISION: {}\nTEST SUITE: None\n",
        label("name"),
        meta["annotations"]["sim.helm.sh/deployed"]
            .as_str()
            .unwrap_or_default(),
        meta["namespace"].as_str().unwrap_or_default(),
        label("status"),
        label("version"),
    ))
}

/// `helm get values RELEASE [--all]`: the values the release was installed with.
async fn get_values(inv: &Invocation, rest: &[&str]) -> ToolOutput {
    let secret = match release_record(inv, rest, "get values").await {
        Ok(s) => s,
        Err(out) => return out,
    };
    let values: Value = secret["metadata"]["annotations"]["sim.helm.sh/values"]
        .as_str()
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or(Value::Null);
    let heading = if rest.contains(&"--all") || rest.contains(&"-a") {
        "COMPUTED VALUES:"
    } else {
        "USER-SUPPLIED VALUES:"
    };
    let yaml = serde_saphyr::to_string(&values).unwrap_or_default();
    ToolOutput::ok(format!("{heading}\n{yaml}"))
}

#[cfg(test)]
mod tests {
    use super::kube::parse_warning;
    use super::*;

    #[test]
    fn ownership_decides_adoption_like_helm() {
        let owned = serde_json::json!({"metadata": {"labels": {"app.kubernetes.io/managed-by": "Helm"},
            "annotations": {"meta.helm.sh/release-name": "kuberay-operator", "meta.helm.sh/release-namespace": "pod-security"}}});
        assert_eq!(
            ownership_problems(&owned, "kuberay-operator", "pod-security"),
            None
        );
        assert_eq!(
            ownership_problems(&owned, "kuberay-operator", "other").as_deref(),
            Some(
                r#"annotation validation error: key "meta.helm.sh/release-namespace" must equal "other": current value is "pod-security""#
            )
        );
        let foreign = serde_json::json!({"metadata": {"name": "x"}});
        assert_eq!(
            ownership_problems(&foreign, "r", "n").as_deref(),
            Some(
                r#"label validation error: missing key "app.kubernetes.io/managed-by": must be set to "Helm"; annotation validation error: missing key "meta.helm.sh/release-name": must be set to "r"; annotation validation error: missing key "meta.helm.sh/release-namespace": must be set to "n""#
            )
        );
    }

    #[test]
    fn warning_header_roundtrip() {
        let w = "would violate PodSecurity \"restricted:latest\": x (container \"c\" must set a=[\"ALL\"])";
        let h = format!("299 - {}", pss::go_quote(w));
        assert_eq!(parse_warning(&h), w);
        let k = klog_warning(w);
        assert!(
            k.starts_with('W') && k.contains(" warnings.go:70] would violate PodSecurity"),
            "{k}"
        );
    }
}
