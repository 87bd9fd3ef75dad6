//! The restricted checks (`k8s.io/pod-security-admission` `policy/check_*.go` of level
//! restricted), one function per upstream check.

use std::collections::BTreeSet;

use serde_json::Value;

use super::baseline::*;
use super::view::*;

/// From policy 1.25, pods declaring `spec.os.name: windows` skip some Linux-only checks.
pub(crate) fn windows_exempt(ctx: &Ctx) -> bool {
    ctx.version >= 25 && ctx.pod.is_windows()
}

pub(crate) fn allow_privilege_escalation(ctx: &Ctx) -> Outcome {
    if windows_exempt(ctx) {
        return None;
    }
    let bad: Vec<&str> = ctx
        .pod
        .containers
        .iter()
        .filter(|c| {
            !matches!(
                c.sc(&["allowPrivilegeEscalation"]),
                Some(Value::Bool(false))
            )
        })
        .map(|c| c.name)
        .collect();
    if bad.is_empty() {
        return None;
    }
    Some((
        "allowPrivilegeEscalation != false".to_string(),
        format!(
            "{} must set securityContext.allowPrivilegeEscalation=false",
            containers_phrase(&bad)
        ),
    ))
}

pub(crate) fn capabilities_restricted(ctx: &Ctx) -> Outcome {
    if windows_exempt(ctx) {
        return None;
    }
    let mut missing_drop = Vec::new();
    let mut adding = Vec::new();
    let mut forbidden = BTreeSet::new();
    for c in &ctx.pod.containers {
        let Some(caps) = c.sc(&["capabilities"]) else {
            missing_drop.push(c.name);
            continue;
        };
        if !array(field(caps, "drop"))
            .iter()
            .any(|d| d.as_str() == Some("ALL"))
        {
            missing_drop.push(c.name);
        }
        let mut bad = false;
        for a in array(field(caps, "add")) {
            let a = a.as_str().unwrap_or("");
            if a != "NET_BIND_SERVICE" {
                bad = true;
                forbidden.insert(a);
            }
        }
        if bad {
            adding.push(c.name);
        }
    }
    let mut details = Vec::new();
    if !missing_drop.is_empty() {
        details.push(format!(
            "{} must set securityContext.capabilities.drop=[\"ALL\"]",
            containers_phrase(&missing_drop)
        ));
    }
    if !adding.is_empty() {
        let caps: Vec<&str> = forbidden.into_iter().collect();
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&adding),
            join_quote(&caps)
        ));
    }
    if details.is_empty() {
        return None;
    }
    Some(("unrestricted capabilities".to_string(), details.join("; ")))
}

const ALLOWED_VOLUME_SOURCES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

const RESTRICTED_VOLUME_TYPES: &[&str] = &[
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
];

/// API defaulting: a volume with no source at all becomes an `emptyDir`.
pub(crate) fn volume_has_no_source(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|m| m.iter().all(|(k, val)| k == "name" || val.is_null()))
}

pub(crate) fn restricted_volumes(ctx: &Ctx) -> Outcome {
    let mut names = Vec::new();
    let mut types = BTreeSet::new();
    for v in ctx.pod.volumes() {
        let allowed = volume_has_no_source(v)
            || ALLOWED_VOLUME_SOURCES.iter().any(|k| field(v, k).is_some())
            // `image` volumes are allowed by PSA v0.33+ builds, for every policy version.
            || (ctx.build >= 33 && field(v, "image").is_some());
        if allowed {
            continue;
        }
        names.push(str_at(v, &["name"]));
        types.insert(
            RESTRICTED_VOLUME_TYPES
                .iter()
                .copied()
                .find(|k| field(v, k).is_some())
                .unwrap_or("unknown"),
        );
    }
    if names.is_empty() {
        return None;
    }
    let types: Vec<&str> = types.into_iter().collect();
    Some((
        "restricted volume types".to_string(),
        format!(
            "{} {} {} {} {}",
            pluralize("volume", "volumes", names.len()),
            join_quote(&names),
            pluralize("uses", "use", names.len()),
            pluralize(
                "restricted volume type",
                "restricted volume types",
                types.len()
            ),
            join_quote(&types)
        ),
    ))
}

pub(crate) fn run_as_non_root(ctx: &Ctx) -> Outcome {
    if ctx.version >= 35 && ctx.pod.host_users_false() {
        return None;
    }
    let mut pod_bad = false;
    let mut pod_ok = false;
    if let Some(v) = ctx.pod.pod_sc(&["runAsNonRoot"]).and_then(Value::as_bool) {
        if v {
            pod_ok = true;
        } else {
            pod_bad = true;
        }
    }
    let mut explicit = Vec::new();
    let mut implicit = Vec::new();
    for c in &ctx.pod.containers {
        match c.sc(&["runAsNonRoot"]).and_then(Value::as_bool) {
            Some(false) => explicit.push(c.name),
            Some(true) => {}
            None => {
                if !pod_ok {
                    implicit.push(c.name);
                }
            }
        }
    }
    let who = setters(pod_bad, &explicit);
    if !who.is_empty() {
        return Some((
            "runAsNonRoot != true".to_string(),
            format!(
                "{} must not set securityContext.runAsNonRoot=false",
                who.join(" and ")
            ),
        ));
    }
    if !implicit.is_empty() {
        return Some((
            "runAsNonRoot != true".to_string(),
            format!(
                "pod or {} must set securityContext.runAsNonRoot=true",
                containers_phrase(&implicit)
            ),
        ));
    }
    None
}

pub(crate) fn run_as_user(ctx: &Ctx) -> Outcome {
    if ctx.version >= 35 && ctx.pod.host_users_false() {
        return None;
    }
    let pod_bad = ctx.pod.pod_sc(&["runAsUser"]).is_some_and(is_zero);
    let bad: Vec<&str> = ctx
        .pod
        .containers
        .iter()
        .filter(|c| c.sc(&["runAsUser"]).is_some_and(is_zero))
        .map(|c| c.name)
        .collect();
    let who = setters(pod_bad, &bad);
    if who.is_empty() {
        return None;
    }
    Some((
        "runAsUser=0".to_string(),
        format!("{} must not set runAsUser=0", who.join(" and ")),
    ))
}

pub(crate) fn seccomp_profile_restricted(ctx: &Ctx) -> Outcome {
    if windows_exempt(ctx) {
        return None;
    }
    let (pod_bad, _pod_ok, bad, implicit, values) = seccomp_scan(ctx);
    let who = setters(pod_bad, &bad);
    if !who.is_empty() {
        return Some((
            "seccompProfile".to_string(),
            format!(
                "{} must not set securityContext.seccompProfile.type to {}",
                who.join(" and "),
                join_quote(&values)
            ),
        ));
    }
    if !implicit.is_empty() {
        return Some((
            "seccompProfile".to_string(),
            format!(
                "pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"",
                containers_phrase(&implicit)
            ),
        ));
    }
    None
}
