//! The Pod Security checks, evaluated on a pod given as JSON.
//!
//! Behaviour and wording follow `k8s.io/pod-security-admission` `policy/check_*.go`, one
//! function here per upstream check file, so that each can be reviewed against its source.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::policy::Level;

/// `field(v, "a")`: the member `a` of object `v`, treating JSON `null` as absent (Go nil pointer).
pub(crate) fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v.get(key) {
        Some(Value::Null) | None => None,
        Some(x) => Some(x),
    }
}

/// Follows a path of object keys, treating `null` as absent.
pub(crate) fn path<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(v, |cur, k| field(cur, k))
}

fn str_at<'a>(v: &'a Value, keys: &[&str]) -> &'a str {
    path(v, keys).and_then(Value::as_str).unwrap_or("")
}

fn array(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn is_true(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true)))
}

fn is_zero(v: &Value) -> bool {
    v.as_i64() == Some(0) || v.as_u64() == Some(0) || v.as_f64() == Some(0.0)
}

fn int_of(v: Option<&Value>) -> i64 {
    match v {
        Some(x) => x
            .as_i64()
            .or_else(|| x.as_f64().map(|f| f as i64))
            .unwrap_or(0),
        None => 0,
    }
}

/// `"a", "b"` — each item double-quoted, no escaping (policy/helpers.go `joinQuote`).
pub(crate) fn join_quote<S: AsRef<str>>(items: &[S]) -> String {
    let mut out = String::new();
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('"');
        out.push_str(s.as_ref());
        out.push('"');
    }
    out
}

fn pluralize<'a>(singular: &'a str, plural: &'a str, n: usize) -> &'a str {
    if n == 1 { singular } else { plural }
}

/// `container "a"` / `containers "a", "b"`.
fn containers_phrase<S: AsRef<str>>(names: &[S]) -> String {
    format!(
        "{} {}",
        pluralize("container", "containers", names.len()),
        join_quote(names)
    )
}

/// One container of the pod, in visit order.
pub(crate) struct Container<'a> {
    pub(crate) v: &'a Value,
    pub(crate) name: &'a str,
    /// Ephemeral containers get no hostNetwork port defaulting.
    pub(crate) ephemeral: bool,
}

impl<'a> Container<'a> {
    fn sc(&self, keys: &[&str]) -> Option<&'a Value> {
        field(self.v, "securityContext").and_then(|sc| path(sc, keys))
    }
}

/// The pod as the checks see it.
pub(crate) struct PodView<'a> {
    /// `metadata.annotations` with string values.
    pub(crate) annotations: Vec<(&'a str, &'a str)>,
    pub(crate) spec: &'a Value,
    /// initContainers, containers, ephemeralContainers (policy/visitor.go order).
    pub(crate) containers: Vec<Container<'a>>,
    /// API defaulting: with hostNetwork, an unset hostPort defaults to the containerPort.
    pub(crate) default_host_ports: bool,
}

static NULL: Value = Value::Null;

impl<'a> PodView<'a> {
    /// Builds the view of a Pod / PodTemplateSpec JSON object. `host_port_defaulting` says whether
    /// the hostNetwork hostPort defaulting applies (see [`crate::EvalOptions`]).
    pub(crate) fn new(pod: &'a Value, host_port_defaulting: bool) -> PodView<'a> {
        let annotations = path(pod, &["metadata", "annotations"])
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.as_str(), s)))
                    .collect()
            })
            .unwrap_or_default();
        let spec = field(pod, "spec").unwrap_or(&NULL);
        let mut containers = Vec::new();
        for (key, ephemeral) in [
            ("initContainers", false),
            ("containers", false),
            ("ephemeralContainers", true),
        ] {
            for c in array(field(spec, key)) {
                if c.is_object() {
                    containers.push(Container {
                        v: c,
                        name: str_at(c, &["name"]),
                        ephemeral,
                    });
                }
            }
        }
        let default_host_ports = host_port_defaulting && is_true(field(spec, "hostNetwork"));
        PodView {
            annotations,
            spec,
            containers,
            default_host_ports,
        }
    }

    fn pod_sc(&self, keys: &[&str]) -> Option<&'a Value> {
        field(self.spec, "securityContext").and_then(|sc| path(sc, keys))
    }

    fn is_windows(&self) -> bool {
        str_at(self.spec, &["os", "name"]) == "windows"
    }

    /// `spec.hostUsers: false` (user namespaces), which relaxes some checks from policy 1.35.
    fn host_users_false(&self) -> bool {
        matches!(field(self.spec, "hostUsers"), Some(Value::Bool(false)))
    }

    fn volumes(&self) -> &'a [Value] {
        array(field(self.spec, "volumes"))
    }
}

/// Evaluation context: the pod, the policy version in effect, the apiserver build.
pub(crate) struct Ctx<'a> {
    pub(crate) pod: PodView<'a>,
    /// Minor of the policy version being evaluated (after clamping to the build).
    pub(crate) version: u32,
    /// Minor of the apiserver build (decides build-wide wording and volume allowances).
    pub(crate) build: u32,
}

/// `Some((reason, detail))` when the check fails.
pub(crate) type Outcome = Option<(String, String)>;

/// A check in the registry.
pub(crate) struct CheckDef {
    pub(crate) id: &'static str,
    pub(crate) level: Level,
    /// First policy minor version the check applies to.
    pub(crate) since: u32,
    /// Baseline checks this restricted check replaces at the restricted level (from `since`).
    pub(crate) overrides: &'static [&'static str],
    pub(crate) run: fn(&Ctx) -> Outcome,
}

/// All checks: baseline sorted by ID (Go byte order), then restricted sorted by ID.
pub(crate) static CHECKS: &[CheckDef] = &[
    CheckDef {
        id: "appArmorProfile",
        level: Level::Baseline,
        since: 0,
        overrides: &[],
        run: app_armor_profile,
    },
    CheckDef {
        id: "capabilities_baseline",
        level: Level::Baseline,
        since: 0,
        overrides: &[],
        run: capabilities_baseline,
    },
    CheckDef {
        id: "hostNamespaces",
        level: Level::Baseline,
        since: 0,
        overrides: &[],
        run: host_namespaces,
    },
    CheckDef {
        id: "hostPathVolumes",
        level: Level::Baseline,
        since: 0,
        overrides: &[],
        run: host_path_volumes,
    },
    CheckDef {
        id: "hostPorts",
        level: Level::Baseline,
        since: 0,
        overrides: &[],
        run: host_ports,
    },
    CheckDef {
        id: "hostProbesAndHostLifecycle",
        level: Level::Baseline,
        since: 34,
        overrides: &[],
        run: host_probes_and_host_lifecycle,
    },
    CheckDef {
        id: "privileged",
        level: Level::Baseline,
        since: 0,
        overrides: &[],
        run: privileged,
    },
    CheckDef {
        id: "procMount",
        level: Level::Baseline,
        since: 0,
        overrides: &[],
        run: proc_mount_baseline,
    },
    CheckDef {
        id: "seLinuxOptions",
        level: Level::Baseline,
        since: 0,
        overrides: &[],
        run: se_linux_options,
    },
    CheckDef {
        id: "seccompProfile_baseline",
        level: Level::Baseline,
        since: 0,
        overrides: &[],
        run: seccomp_profile_baseline,
    },
    CheckDef {
        id: "sysctls",
        level: Level::Baseline,
        since: 0,
        overrides: &[],
        run: sysctls,
    },
    CheckDef {
        id: "windowsHostProcess",
        level: Level::Baseline,
        since: 0,
        overrides: &[],
        run: windows_host_process,
    },
    CheckDef {
        id: "allowPrivilegeEscalation",
        level: Level::Restricted,
        since: 8,
        overrides: &[],
        run: allow_privilege_escalation,
    },
    CheckDef {
        id: "capabilities_restricted",
        level: Level::Restricted,
        since: 22,
        overrides: &["capabilities_baseline"],
        run: capabilities_restricted,
    },
    CheckDef {
        id: "procMount_restricted",
        level: Level::Restricted,
        since: 35,
        overrides: &["procMount"],
        run: proc_mount_restricted,
    },
    CheckDef {
        id: "restrictedVolumes",
        level: Level::Restricted,
        since: 0,
        overrides: &["hostPathVolumes"],
        run: restricted_volumes,
    },
    CheckDef {
        id: "runAsNonRoot",
        level: Level::Restricted,
        since: 0,
        overrides: &[],
        run: run_as_non_root,
    },
    CheckDef {
        id: "runAsUser",
        level: Level::Restricted,
        since: 23,
        overrides: &[],
        run: run_as_user,
    },
    CheckDef {
        id: "seccompProfile_restricted",
        level: Level::Restricted,
        since: 19,
        overrides: &["seccompProfile_baseline"],
        run: seccomp_profile_restricted,
    },
];

/// The checks that run for `level` at policy minor `version`, in message order.
pub(crate) fn active_checks(level: Level, version: u32) -> Vec<&'static CheckDef> {
    if level == Level::Privileged {
        return Vec::new();
    }
    let overridden: BTreeSet<&str> = if level == Level::Restricted {
        CHECKS
            .iter()
            .filter(|c| c.level == Level::Restricted && c.since <= version)
            .flat_map(|c| c.overrides.iter().copied())
            .collect()
    } else {
        BTreeSet::new()
    };
    let mut out: Vec<&CheckDef> = CHECKS
        .iter()
        .filter(|c| c.level <= level && c.since <= version && !overridden.contains(c.id))
        .collect();
    // Baseline before restricted, each group in Go byte order of the ID.
    out.sort_by(|a, b| a.level.cmp(&b.level).then(a.id.cmp(b.id)));
    out
}

// ---------------------------------------------------------------------------------------------
// Setter helpers

/// Joins setters (`pod`, `containers "a"`, …) with " and ".
fn setters(pod: bool, containers: &[&str]) -> Vec<String> {
    let mut s = Vec::new();
    if pod {
        s.push("pod".to_string());
    }
    if !containers.is_empty() {
        s.push(containers_phrase(containers));
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Baseline checks

const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

fn allowed_apparmor_annotation(v: &str) -> bool {
    v.is_empty() || v == "runtime/default" || v.starts_with("localhost/")
}

fn allowed_apparmor_type(t: &str) -> bool {
    t == "RuntimeDefault" || t == "Localhost"
}

fn app_armor_profile(ctx: &Ctx) -> Outcome {
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

fn capabilities_baseline(ctx: &Ctx) -> Outcome {
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

fn host_namespaces(ctx: &Ctx) -> Outcome {
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

fn host_path_volumes(ctx: &Ctx) -> Outcome {
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

fn host_ports(ctx: &Ctx) -> Outcome {
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

fn host_probes_and_host_lifecycle(ctx: &Ctx) -> Outcome {
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

fn privileged(ctx: &Ctx) -> Outcome {
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

fn proc_mount_common(ctx: &Ctx) -> Outcome {
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

fn proc_mount_baseline(ctx: &Ctx) -> Outcome {
    if ctx.version >= 35 && ctx.pod.host_users_false() {
        return None;
    }
    proc_mount_common(ctx)
}

fn proc_mount_restricted(ctx: &Ctx) -> Outcome {
    proc_mount_common(ctx)
}

fn se_linux_options(ctx: &Ctx) -> Outcome {
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

fn valid_seccomp_annotation(v: &str) -> bool {
    v == "runtime/default" || v == "docker/default" || v.starts_with("localhost/")
}

fn valid_seccomp_type(t: &str) -> bool {
    t == "RuntimeDefault" || t == "Localhost"
}

fn annotation<'a>(ctx: &Ctx<'a>, key: &str) -> Option<&'a str> {
    ctx.pod
        .annotations
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
}

fn seccomp_profile_baseline(ctx: &Ctx) -> Outcome {
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

fn seccomp_scan<'a>(ctx: &Ctx<'a>) -> SeccompScan<'a> {
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

fn sysctls(ctx: &Ctx) -> Outcome {
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

fn windows_host_process(ctx: &Ctx) -> Outcome {
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

// ---------------------------------------------------------------------------------------------
// Restricted checks

/// From policy 1.25, pods declaring `spec.os.name: windows` skip some Linux-only checks.
fn windows_exempt(ctx: &Ctx) -> bool {
    ctx.version >= 25 && ctx.pod.is_windows()
}

fn allow_privilege_escalation(ctx: &Ctx) -> Outcome {
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

fn capabilities_restricted(ctx: &Ctx) -> Outcome {
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
fn volume_has_no_source(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|m| m.iter().all(|(k, val)| k == "name" || val.is_null()))
}

fn restricted_volumes(ctx: &Ctx) -> Outcome {
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

fn run_as_non_root(ctx: &Ctx) -> Outcome {
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

fn run_as_user(ctx: &Ctx) -> Outcome {
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

fn seccomp_profile_restricted(ctx: &Ctx) -> Outcome {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(level: Level, version: u32) -> Vec<&'static str> {
        active_checks(level, version).iter().map(|c| c.id).collect()
    }

    #[test]
    fn registry_order_per_version() {
        // facts §1.4
        let r25 = [
            "appArmorProfile",
            "hostNamespaces",
            "hostPorts",
            "privileged",
            "procMount",
            "seLinuxOptions",
            "sysctls",
            "windowsHostProcess",
            "allowPrivilegeEscalation",
            "capabilities_restricted",
            "restrictedVolumes",
            "runAsNonRoot",
            "runAsUser",
            "seccompProfile_restricted",
        ];
        for v in [23, 25, 33] {
            assert_eq!(ids(Level::Restricted, v), r25, "restricted v1.{v}");
        }
        let mut r34 = r25.to_vec();
        r34.insert(3, "hostProbesAndHostLifecycle");
        assert_eq!(ids(Level::Restricted, 34), r34);
        let mut r35 = r34.clone();
        r35.retain(|id| *id != "procMount");
        r35.insert(
            r35.iter()
                .position(|id| *id == "capabilities_restricted")
                .unwrap()
                + 1,
            "procMount_restricted",
        );
        assert_eq!(ids(Level::Restricted, 35), r35);
        assert_eq!(ids(Level::Restricted, 37), r35);
        assert!(!ids(Level::Restricted, 22).contains(&"runAsUser"));
        let r19 = ids(Level::Restricted, 19);
        assert!(
            r19.contains(&"capabilities_baseline") && !r19.contains(&"capabilities_restricted")
        );
        let r8 = ids(Level::Restricted, 8);
        assert!(
            r8.contains(&"seccompProfile_baseline") && r8.contains(&"allowPrivilegeEscalation")
        );
        assert!(!ids(Level::Restricted, 7).contains(&"allowPrivilegeEscalation"));
        assert_eq!(
            ids(Level::Baseline, 0),
            [
                "appArmorProfile",
                "capabilities_baseline",
                "hostNamespaces",
                "hostPathVolumes",
                "hostPorts",
                "privileged",
                "procMount",
                "seLinuxOptions",
                "seccompProfile_baseline",
                "sysctls",
                "windowsHostProcess"
            ]
        );
        assert_eq!(ids(Level::Baseline, 37).len(), 12);
        assert!(ids(Level::Privileged, 37).is_empty());
    }

    #[test]
    fn table_is_sorted_like_go() {
        let ids: Vec<(Level, &str)> = CHECKS.iter().map(|c| (c.level, c.id)).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }

    #[test]
    fn join_quote_and_pluralize() {
        assert_eq!(join_quote::<&str>(&[]), "");
        assert_eq!(join_quote(&["a"]), r#""a""#);
        assert_eq!(join_quote(&["a", "b\"c"]), r#""a", "b"c""#);
        assert_eq!(containers_phrase(&["x"]), r#"container "x""#);
        assert_eq!(containers_phrase(&["x", "y"]), r#"containers "x", "y""#);
        assert_eq!(pluralize("a", "b", 0), "b");
    }

    #[test]
    fn sourceless_volume_detection() {
        assert!(volume_has_no_source(&serde_json::json!({"name": "v"})));
        assert!(volume_has_no_source(
            &serde_json::json!({"name": "v", "hostPath": null})
        ));
        assert!(!volume_has_no_source(
            &serde_json::json!({"name": "v", "nfs": {}})
        ));
        assert!(!volume_has_no_source(&serde_json::json!("v")));
    }
}
