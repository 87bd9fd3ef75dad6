//! How the checks see a pod: JSON helpers that treat `null` as absent (as Go's nil pointers),
//! the pod's containers in visit order, the evaluation context, and the wording helpers shared by
//! the checks (`joinQuote`, plurals, setters).

use serde_json::Value;

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

pub(crate) fn str_at<'a>(v: &'a Value, keys: &[&str]) -> &'a str {
    path(v, keys).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn array(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub(crate) fn is_true(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true)))
}

pub(crate) fn is_zero(v: &Value) -> bool {
    v.as_i64() == Some(0) || v.as_u64() == Some(0) || v.as_f64() == Some(0.0)
}

pub(crate) fn int_of(v: Option<&Value>) -> i64 {
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

pub(crate) fn pluralize<'a>(singular: &'a str, plural: &'a str, n: usize) -> &'a str {
    if n == 1 { singular } else { plural }
}

/// `container "a"` / `containers "a", "b"`.
pub(crate) fn containers_phrase<S: AsRef<str>>(names: &[S]) -> String {
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
    pub(crate) fn sc(&self, keys: &[&str]) -> Option<&'a Value> {
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

pub(crate) static NULL: Value = Value::Null;

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

    pub(crate) fn pod_sc(&self, keys: &[&str]) -> Option<&'a Value> {
        field(self.spec, "securityContext").and_then(|sc| path(sc, keys))
    }

    pub(crate) fn is_windows(&self) -> bool {
        str_at(self.spec, &["os", "name"]) == "windows"
    }

    /// `spec.hostUsers: false` (user namespaces), which relaxes some checks from policy 1.35.
    pub(crate) fn host_users_false(&self) -> bool {
        matches!(field(self.spec, "hostUsers"), Some(Value::Bool(false)))
    }

    pub(crate) fn volumes(&self) -> &'a [Value] {
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

/// Joins setters (`pod`, `containers "a"`, …) with " and ".
pub(crate) fn setters(pod: bool, containers: &[&str]) -> Vec<String> {
    let mut s = Vec::new();
    if pod {
        s.push("pod".to_string());
    }
    if !containers.is_empty() {
        s.push(containers_phrase(containers));
    }
    s
}

/// `Some((reason, detail))` when the check fails.
pub(crate) type Outcome = Option<(String, String)>;
