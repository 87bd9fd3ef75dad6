//! The baseline checks (`k8s.io/pod-security-admission` `policy/check_*.go` of level baseline),
//! one function per upstream check.

use std::collections::BTreeSet;

use serde_json::Value;

use super::view::*;

const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

pub(crate) fn allowed_apparmor_annotation(v: &str) -> bool {
    v.is_empty() || v == "runtime/default" || v.starts_with("localhost/")
}

pub(crate) fn allowed_apparmor_type(t: &str) -> bool {
    t == "RuntimeDefault" || t == "Localhost"
}

pub(crate) fn app_armor_profile(ctx: &Ctx) -> Outcome {
    let pod = &ctx.pod;
    let mut bad_annotations: Vec<String> = pod
        .annotations
        .iter()
        .filter(|(k, v)| {
            k.starts_with(APPARMOR_ANNOTATION_PREFIX) && !allowed_apparmor_annotation(v)
        })
        .map(|(k, v)| format!("{k}={}", crate::go::go_quote(v)))
        .collect();
    bad_annotations.sort();

    if ctx.build < 30 {
        // PSA before v0.30: annotations only, the detail is the list of `key="value"`.
        if bad_annotations.is_empty() {
            return None;
        }
        return Some((
            pluralize(
                "forbidden AppArmor profile",
                "forbidden AppArmor profiles",
                bad_annotations.len(),
            )
            .to_string(),
            bad_annotations.join(", "),
        ));
    }

    let mut bad_values = BTreeSet::new();
    let mut pod_bad = false;
    if let Some(p) = pod.pod_sc(&["appArmorProfile"]) {
        let t = str_at(p, &["type"]);
        if !allowed_apparmor_type(t) {
            pod_bad = true;
            bad_values.insert(t.to_string());
        }
    }
    let mut bad_containers = Vec::new();
    for c in &pod.containers {
        if let Some(p) = c.sc(&["appArmorProfile"]) {
            let t = str_at(p, &["type"]);
            if !allowed_apparmor_type(t) {
                bad_containers.push(c.name);
                bad_values.insert(t.to_string());
            }
        }
    }
    let mut who = setters(pod_bad, &bad_containers);
    let mut values: Vec<String> = bad_values.into_iter().collect();
    if !bad_annotations.is_empty() {
        who.push(pluralize("annotation", "annotations", bad_annotations.len()).to_string());
        values.extend(bad_annotations);
    }
    if who.is_empty() {
        return None;
    }
    Some((
        pluralize(
            "forbidden AppArmor profile",
            "forbidden AppArmor profiles",
            values.len(),
        )
        .to_string(),
        format!(
            "{} must not set AppArmor profile type to {}",
            who.join(" and "),
            join_quote(&values)
        ),
    ))
}

const CAPABILITIES_ALLOWED_BASELINE: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

pub(crate) fn capabilities_baseline(ctx: &Ctx) -> Outcome {
    let mut bad_containers = Vec::new();
    let mut caps = BTreeSet::new();
    for c in &ctx.pod.containers {
        let mut bad = false;
        for cap in array(c.sc(&["capabilities", "add"])) {
            let cap = cap.as_str().unwrap_or("");
            if !CAPABILITIES_ALLOWED_BASELINE.contains(&cap) {
                bad = true;
                caps.insert(cap);
            }
        }
        if bad {
            bad_containers.push(c.name);
        }
    }
    if bad_containers.is_empty() {
        return None;
    }
    let caps: Vec<&str> = caps.into_iter().collect();
    Some((
        "non-default capabilities".to_string(),
        format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&bad_containers),
            join_quote(&caps)
        ),
    ))
}

pub(crate) fn host_namespaces(ctx: &Ctx) -> Outcome {
    let spec = ctx.pod.spec;
    let found: Vec<&str> = [
        ("hostNetwork", "hostNetwork=true"),
        ("hostPID", "hostPID=true"),
        ("hostIPC", "hostIPC=true"),
    ]
    .iter()
    .filter(|(k, _)| is_true(field(spec, k)))
    .map(|(_, s)| *s)
    .collect();
    if found.is_empty() {
        return None;
    }
    Some(("host namespaces".to_string(), found.join(", ")))
}

pub(crate) fn host_path_volumes(ctx: &Ctx) -> Outcome {
    let names: Vec<&str> = ctx
        .pod
        .volumes()
        .iter()
        .filter(|v| field(v, "hostPath").is_some())
        .map(|v| str_at(v, &["name"]))
        .collect();
    if names.is_empty() {
        return None;
    }
    Some((
        "hostPath volumes".to_string(),
        format!(
            "{} {}",
            pluralize("volume", "volumes", names.len()),
            join_quote(&names)
        ),
    ))
}

pub(crate) fn host_ports(ctx: &Ctx) -> Outcome {
    let mut bad_containers = Vec::new();
    let mut ports = BTreeSet::new();
    for c in &ctx.pod.containers {
        let mut bad = false;
        for p in array(field(c.v, "ports")) {
            let mut host_port = int_of(field(p, "hostPort"));
            if host_port == 0 && ctx.pod.default_host_ports && !c.ephemeral {
                host_port = int_of(field(p, "containerPort"));
            }
            if host_port != 0 {
                bad = true;
                ports.insert(host_port.to_string());
            }
        }
        if bad {
            bad_containers.push(c.name);
        }
    }
    if bad_containers.is_empty() {
        return None;
    }
    let ports: Vec<String> = ports.into_iter().collect(); // sorted as strings
    Some((
        "hostPort".to_string(),
        format!(
            "{} {} {} {}",
            containers_phrase(&bad_containers),
            pluralize("uses", "use", bad_containers.len()),
            pluralize("hostPort", "hostPorts", ports.len()),
            ports.join(", ")
        ),
    ))
}

pub(crate) fn host_probes_and_host_lifecycle(ctx: &Ctx) -> Outcome {
    let mut bad_containers = BTreeSet::new();
    let mut hosts = BTreeSet::new();
    for c in &ctx.pod.containers {
        let handlers = [
            path(c.v, &["livenessProbe"]),
            path(c.v, &["readinessProbe"]),
            path(c.v, &["startupProbe"]),
            path(c.v, &["lifecycle", "postStart"]),
            path(c.v, &["lifecycle", "preStop"]),
        ];
        for h in handlers.into_iter().flatten() {
            for kind in ["httpGet", "tcpSocket"] {
                let host = str_at(h, &[kind, "host"]);
                if !host.is_empty() {
                    bad_containers.insert(c.name);
                    hosts.insert(host);
                }
            }
        }
    }
    if bad_containers.is_empty() {
        return None;
    }
    let names: Vec<&str> = bad_containers.into_iter().collect();
    let hosts: Vec<&str> = hosts.into_iter().collect();
    Some((
        "probe or lifecycle host".to_string(),
        format!(
            "{} {} {} {}",
            containers_phrase(&names),
            pluralize("uses", "use", names.len()),
            pluralize(
                "probe or lifecycle host",
                "probe or lifecycle hosts",
                hosts.len()
            ),
            join_quote(&hosts)
        ),
    ))
}

pub(crate) fn privileged(ctx: &Ctx) -> Outcome {
    let bad: Vec<&str> = ctx
        .pod
        .containers
        .iter()
        .filter(|c| is_true(c.sc(&["privileged"])))
        .map(|c| c.name)
        .collect();
    if bad.is_empty() {
        return None;
    }
    Some((
        "privileged".to_string(),
        format!(
            "{} must not set securityContext.privileged=true",
            containers_phrase(&bad)
        ),
    ))
}

pub(crate) fn proc_mount_common(ctx: &Ctx) -> Outcome {
    let mut bad = Vec::new();
    let mut types = BTreeSet::new();
    for c in &ctx.pod.containers {
        if let Some(pm) = c.sc(&["procMount"]) {
            let pm = pm.as_str().unwrap_or("");
            if pm != "Default" {
                bad.push(c.name);
                types.insert(pm);
            }
        }
    }
    if bad.is_empty() {
        return None;
    }
    let types: Vec<&str> = types.into_iter().collect();
    Some((
        "procMount".to_string(),
        format!(
            "{} must not set securityContext.procMount to {}",
            containers_phrase(&bad),
            join_quote(&types)
        ),
    ))
}

pub(crate) fn proc_mount_baseline(ctx: &Ctx) -> Outcome {
    if ctx.version >= 35 && ctx.pod.host_users_false() {
        return None;
    }
    proc_mount_common(ctx)
}

pub(crate) fn proc_mount_restricted(ctx: &Ctx) -> Outcome {
    proc_mount_common(ctx)
}

pub(crate) fn se_linux_options(ctx: &Ctx) -> Outcome {
    let allowed: &[&str] = if ctx.version >= 31 {
        &[
            "",
            "container_t",
            "container_init_t",
            "container_kvm_t",
            "container_engine_t",
        ]
    } else {
        &["", "container_t", "container_init_t", "container_kvm_t"]
    };
    let mut bad_types = BTreeSet::new();
    let mut set_user = false;
    let mut set_role = false;
    let mut check = |opts: &Value| -> bool {
        let mut valid = true;
        let t = str_at(opts, &["type"]);
        if !allowed.contains(&t) {
            valid = false;
            bad_types.insert(t.to_string());
        }
        if !str_at(opts, &["user"]).is_empty() {
            valid = false;
            set_user = true;
        }
        if !str_at(opts, &["role"]).is_empty() {
            valid = false;
            set_role = true;
        }
        valid
    };
    let pod_bad = ctx
        .pod
        .pod_sc(&["seLinuxOptions"])
        .is_some_and(|o| !check(o));
    let mut bad_containers = Vec::new();
    for c in &ctx.pod.containers {
        if let Some(o) = c.sc(&["seLinuxOptions"])
            && !check(o)
        {
            bad_containers.push(c.name);
        }
    }
    let who = setters(pod_bad, &bad_containers);
    if who.is_empty() {
        return None;
    }
    let mut data = Vec::new();
    if !bad_types.is_empty() {
        let types: Vec<String> = bad_types.into_iter().collect();
        data.push(format!(
            "{} {}",
            pluralize("type", "types", types.len()),
            join_quote(&types)
        ));
    }
    if set_user {
        data.push("user may not be set".to_string());
    }
    if set_role {
        data.push("role may not be set".to_string());
    }
    Some((
        "seLinuxOptions".to_string(),
        format!(
            "{} set forbidden securityContext.seLinuxOptions: {}",
            who.join(" and "),
            data.join("; ")
        ),
    ))
}

const SECCOMP_POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
const SECCOMP_CONTAINER_ANNOTATION_PREFIX: &str = "container.seccomp.security.alpha.kubernetes.io/";

pub(crate) fn valid_seccomp_annotation(v: &str) -> bool {
    v == "runtime/default" || v == "docker/default" || v.starts_with("localhost/")
}

pub(crate) fn valid_seccomp_type(t: &str) -> bool {
    t == "RuntimeDefault" || t == "Localhost"
}

pub(crate) fn annotation<'a>(ctx: &Ctx<'a>, key: &str) -> Option<&'a str> {
    ctx.pod
        .annotations
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
}

pub(crate) fn seccomp_profile_baseline(ctx: &Ctx) -> Outcome {
    if ctx.version < 19 {
        let mut forbidden = BTreeSet::new();
        if let Some(v) = annotation(ctx, SECCOMP_POD_ANNOTATION)
            && !valid_seccomp_annotation(v)
        {
            forbidden.insert(format!(
                "{SECCOMP_POD_ANNOTATION}={}",
                crate::go::go_quote(v)
            ));
        }
        for c in &ctx.pod.containers {
            let key = format!("{SECCOMP_CONTAINER_ANNOTATION_PREFIX}{}", c.name);
            if let Some(v) = annotation(ctx, &key)
                && !valid_seccomp_annotation(v)
            {
                forbidden.insert(format!("{key}={}", crate::go::go_quote(v)));
            }
        }
        if forbidden.is_empty() {
            return None;
        }
        let list: Vec<String> = forbidden.into_iter().collect();
        return Some((
            "seccompProfile".to_string(),
            format!(
                "forbidden {} {}",
                pluralize("annotation", "annotations", list.len()),
                list.join(", ")
            ),
        ));
    }
    let (pod_bad, _pod_ok, bad_containers, _implicit, values) = seccomp_scan(ctx);
    let who = setters(pod_bad, &bad_containers);
    if who.is_empty() {
        return None;
    }
    Some((
        "seccompProfile".to_string(),
        format!(
            "{} must not set securityContext.seccompProfile.type to {}",
            who.join(" and "),
            join_quote(&values)
        ),
    ))
}

/// (pod has a bad type, pod has a valid type, containers with bad types, containers without a
/// type, sorted bad values).
type SeccompScan<'a> = (bool, bool, Vec<&'a str>, Vec<&'a str>, Vec<String>);

pub(crate) fn seccomp_scan<'a>(ctx: &Ctx<'a>) -> SeccompScan<'a> {
    let mut values = BTreeSet::new();
    let mut pod_bad = false;
    let mut pod_ok = false;
    if let Some(p) = ctx.pod.pod_sc(&["seccompProfile"]) {
        let t = str_at(p, &["type"]);
        if valid_seccomp_type(t) {
            pod_ok = true;
        } else {
            pod_bad = true;
            values.insert(t.to_string());
        }
    }
    let mut bad = Vec::new();
    let mut implicit = Vec::new();
    for c in &ctx.pod.containers {
        match c.sc(&["seccompProfile"]) {
            Some(p) => {
                let t = str_at(p, &["type"]);
                if !valid_seccomp_type(t) {
                    bad.push(c.name);
                    values.insert(t.to_string());
                }
            }
            None => {
                if !pod_ok {
                    implicit.push(c.name);
                }
            }
        }
    }
    (pod_bad, pod_ok, bad, implicit, values.into_iter().collect())
}

pub(crate) fn sysctls(ctx: &Ctx) -> Outcome {
    let v = ctx.version;
    let allowed = |name: &str| -> bool {
        matches!(
            name,
            "kernel.shm_rmid_forced"
                | "net.ipv4.ip_local_port_range"
                | "net.ipv4.tcp_syncookies"
                | "net.ipv4.ping_group_range"
                | "net.ipv4.ip_unprivileged_port_start"
        ) || (v >= 27 && name == "net.ipv4.ip_local_reserved_ports")
            || (v >= 29
                && matches!(
                    name,
                    "net.ipv4.tcp_keepalive_time"
                        | "net.ipv4.tcp_fin_timeout"
                        | "net.ipv4.tcp_keepalive_intvl"
                        | "net.ipv4.tcp_keepalive_probes"
                ))
            || (v >= 32 && matches!(name, "net.ipv4.tcp_rmem" | "net.ipv4.tcp_wmem"))
            || (v >= 37
                && matches!(
                    name,
                    "net.ipv4.tcp_slow_start_after_idle" | "net.ipv4.tcp_notsent_lowat"
                ))
    };
    let bad: Vec<&str> = array(ctx.pod.pod_sc(&["sysctls"]))
        .iter()
        .map(|s| str_at(s, &["name"]))
        .filter(|n| !allowed(n))
        .collect();
    if bad.is_empty() {
        return None;
    }
    Some(("forbidden sysctls".to_string(), bad.join(", ")))
}

pub(crate) fn windows_host_process(ctx: &Ctx) -> Outcome {
    let bad: Vec<&str> = ctx
        .pod
        .containers
        .iter()
        .filter(|c| is_true(c.sc(&["windowsOptions", "hostProcess"])))
        .map(|c| c.name)
        .collect();
    let pod_bad = is_true(ctx.pod.pod_sc(&["windowsOptions", "hostProcess"]));
    let who = setters(pod_bad, &bad);
    if who.is_empty() {
        return None;
    }
    Some((
        "hostProcess".to_string(),
        format!(
            "{} must not set securityContext.windowsOptions.hostProcess=true",
            who.join(" and ")
        ),
    ))
}
