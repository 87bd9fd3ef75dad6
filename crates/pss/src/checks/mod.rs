//! The Pod Security checks, evaluated on a pod given as JSON: the registry of every check, with
//! the level and policy version it applies from, and which checks run for a level and version.
//!
//! Behaviour and wording follow `k8s.io/pod-security-admission` `policy/check_*.go`, one
//! function per upstream check file (`baseline`, `restricted`), so that each can be reviewed
//! against its source.

mod baseline;
mod restricted;
mod view;

use std::collections::BTreeSet;

use crate::policy::Level;
use baseline::*;
use restricted::*;
pub(crate) use view::{Ctx, Outcome, PodView, field, path};

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

#[cfg(test)]
mod tests {
    use super::view::*;
    use super::*;

    fn ids(level: Level, version: u32) -> Vec<&'static str> {
        active_checks(level, version).iter().map(|c| c.id).collect()
    }

    #[test]
    fn registry_order_per_version() {
        // pod-security-admission policy/registry.go: each version's check set, in message order
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
