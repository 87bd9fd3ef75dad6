//! Faults that `sim run --fault NAME` injects into the world. Recoverable ones (`expect=pass`) must
//! be survived by a correct harness (retries, relists, reconnects); breaking ones (`expect=fail`)
//! must make the harness fail the matching step.

use std::collections::BTreeSet;
use std::sync::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    Apiserver503Burst,
    Apiserver429Burst,
    WatchDropped,
    PortForwardDroppedOnce,
    KindCreateFails,
    HelmInstallFails,
    OperatorNeverReady,
    OperatorNeverCreatesPods,
    HeadImagePullBackoff,
    XgboostExits1,
    PipInstallExits1,
    AuditLogUnreadable,
    PsaLabelsIgnored,
    DashboardNeverAnswers,
    RegistryRateLimitedOnce,
    ImageUserNotNumeric,
    WorkerUnschedulable,
    OperatorCrashLoop,
}

/// What `sim list-faults` says about a fault and how it behaves.
pub struct FaultSpec {
    pub fault: Fault,
    /// The `--fault NAME`.
    pub name: &'static str,
    /// A correct harness survives it (`expect=pass`) instead of failing a step (`expect=fail`).
    pub recoverable: bool,
    /// What the world does differently.
    pub what: &'static str,
}

const fn spec(
    fault: Fault,
    name: &'static str,
    recoverable: bool,
    what: &'static str,
) -> FaultSpec {
    FaultSpec {
        fault,
        name,
        recoverable,
        what,
    }
}

pub const ALL: &[FaultSpec] = &[
    spec(
        Fault::Apiserver503Burst,
        "apiserver-503-burst",
        true,
        "a few consecutive API requests from outside the cluster get 503 ServiceUnavailable",
    ),
    spec(
        Fault::Apiserver429Burst,
        "apiserver-429-burst",
        true,
        "a few consecutive API requests from outside the cluster get 429 TooManyRequests with Retry-After",
    ),
    spec(
        Fault::WatchDropped,
        "watch-dropped",
        true,
        "the first watches are cut after their first events and history is compacted (resume gets 410 Gone)",
    ),
    spec(
        Fault::PortForwardDroppedOnce,
        "port-forward-dropped-once",
        true,
        "the first port-forward connection is closed before answering",
    ),
    spec(
        Fault::KindCreateFails,
        "kind-create-fails",
        false,
        "kind create cluster fails (kubeadm init times out)",
    ),
    spec(
        Fault::HelmInstallFails,
        "helm-install-fails",
        false,
        "helm install cannot fetch the chart",
    ),
    spec(
        Fault::OperatorNeverReady,
        "operator-never-ready",
        false,
        "the operator pod runs but its readiness probe keeps failing",
    ),
    spec(
        Fault::OperatorNeverCreatesPods,
        "operator-never-creates-pods",
        false,
        "the operator creates the head Service but never any pod",
    ),
    spec(
        Fault::HeadImagePullBackoff,
        "head-image-pull-backoff",
        false,
        "Ray head pods stay in ImagePullBackOff",
    ),
    spec(
        Fault::XgboostExits1,
        "xgboost-exits-1",
        false,
        "the XGBoost script crashes (exit 1); the dashboard still says SUCCEEDED",
    ),
    spec(
        Fault::PipInstallExits1,
        "pip-install-exits-1",
        false,
        "pip3 install jsonpatch fails (exit 1)",
    ),
    spec(
        Fault::AuditLogUnreadable,
        "audit-log-unreadable",
        false,
        "the audit log file is not readable in the node",
    ),
    spec(
        Fault::PsaLabelsIgnored,
        "psa-labels-ignored",
        false,
        "Pod Security admission ignores namespace labels (every pod admitted)",
    ),
    spec(
        Fault::DashboardNeverAnswers,
        "dashboard-never-answers",
        false,
        "the Ray dashboard accepts connections but never answers",
    ),
    spec(
        Fault::RegistryRateLimitedOnce,
        "registry-rate-limited-once",
        true,
        "the first pull of the Ray image is refused with 429 Too Many Requests (toomanyrequests); the kubelet backs off and pulls it",
    ),
    spec(
        Fault::ImageUserNotNumeric,
        "image-user-not-numeric",
        false,
        "the Ray image's user is `ray`, not a number, so runAsNonRoot cannot be verified (CreateContainerConfigError)",
    ),
    spec(
        Fault::WorkerUnschedulable,
        "worker-unschedulable",
        false,
        "no node has the CPU the Ray worker requests (FailedScheduling: Insufficient cpu)",
    ),
    spec(
        Fault::OperatorCrashLoop,
        "operator-crash-loop",
        false,
        "the operator exits 1 as soon as it starts and is restarted with a growing back-off (CrashLoopBackOff)",
    ),
];

impl Fault {
    pub fn spec(self) -> &'static FaultSpec {
        ALL.iter()
            .find(|s| s.fault == self)
            .expect("every fault has a spec")
    }
    pub fn name(self) -> &'static str {
        self.spec().name
    }
    pub fn parse(s: &str) -> Option<Fault> {
        ALL.iter()
            .find(|spec| spec.name == s)
            .map(|spec| spec.fault)
    }
}

/// `NAME expect=pass|fail` lines for `sim list-faults`.
pub fn list_lines() -> Vec<String> {
    ALL.iter()
        .map(|s| {
            let expect = if s.recoverable { "pass" } else { "fail" };
            format!("{} expect={expect}", s.name)
        })
        .collect()
}

/// The active faults plus one-shot bookkeeping.
#[derive(Default)]
pub struct Faults {
    active: BTreeSet<Fault>,
    used: Mutex<BTreeSet<&'static str>>,
    log: Mutex<Option<std::path::PathBuf>>,
}

impl Faults {
    pub fn new(active: impl IntoIterator<Item = Fault>) -> Self {
        Faults {
            active: active.into_iter().collect(),
            used: Mutex::new(BTreeSet::new()),
            log: Mutex::new(None),
        }
    }
    /// Where `hit` records that a fault actually fired (`<state dir>/fault-hits.jsonl`).
    pub fn set_log(&self, path: std::path::PathBuf) {
        *self.log.lock().unwrap() = Some(path);
    }
    /// Record that `f` fired (so tests can tell a recoverable fault was really exercised).
    pub fn hit(&self, f: Fault, detail: &str) {
        use std::io::Write;
        if let Some(p) = self.log.lock().unwrap().as_ref()
            && let Ok(mut file) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
        {
            let line = serde_json::json!({"ts": crate::util::now_rfc3339_micro(), "fault": f.name(), "detail": detail});
            let _ = writeln!(file, "{line}");
        }
    }
    pub fn has(&self, f: Fault) -> bool {
        self.active.contains(&f)
    }
    /// True the first time it is called for `tag` while `f` is active.
    pub fn once(&self, f: Fault, tag: &'static str) -> bool {
        self.has(f) && self.used.lock().unwrap().insert(tag)
    }
    pub fn names(&self) -> Vec<&'static str> {
        self.active.iter().map(|f| f.name()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant; the exhaustive `match` stops compiling when one is added and not listed here.
    const EVERY: [Fault; 18] = [
        Fault::Apiserver503Burst,
        Fault::Apiserver429Burst,
        Fault::WatchDropped,
        Fault::PortForwardDroppedOnce,
        Fault::KindCreateFails,
        Fault::HelmInstallFails,
        Fault::OperatorNeverReady,
        Fault::OperatorNeverCreatesPods,
        Fault::HeadImagePullBackoff,
        Fault::XgboostExits1,
        Fault::PipInstallExits1,
        Fault::AuditLogUnreadable,
        Fault::PsaLabelsIgnored,
        Fault::DashboardNeverAnswers,
        Fault::RegistryRateLimitedOnce,
        Fault::ImageUserNotNumeric,
        Fault::WorkerUnschedulable,
        Fault::OperatorCrashLoop,
    ];

    #[test]
    fn every_fault_variant_has_a_spec() {
        for f in EVERY {
            match f {
                Fault::Apiserver503Burst
                | Fault::Apiserver429Burst
                | Fault::WatchDropped
                | Fault::PortForwardDroppedOnce
                | Fault::KindCreateFails
                | Fault::HelmInstallFails
                | Fault::OperatorNeverReady
                | Fault::OperatorNeverCreatesPods
                | Fault::HeadImagePullBackoff
                | Fault::XgboostExits1
                | Fault::PipInstallExits1
                | Fault::AuditLogUnreadable
                | Fault::PsaLabelsIgnored
                | Fault::DashboardNeverAnswers
                | Fault::RegistryRateLimitedOnce
                | Fault::ImageUserNotNumeric
                | Fault::WorkerUnschedulable
                | Fault::OperatorCrashLoop => {}
            }
            assert_eq!(f.spec().fault, f);
        }
        assert_eq!(ALL.len(), EVERY.len());
    }

    #[test]
    fn every_fault_has_one_spec_and_its_name_parses_back() {
        for s in ALL {
            assert_eq!(s.fault.spec().name, s.name);
            assert_eq!(Fault::parse(s.name), Some(s.fault), "{}", s.name);
            assert_eq!(ALL.iter().filter(|o| o.fault == s.fault).count(), 1);
        }
        let names: BTreeSet<_> = ALL.iter().map(|s| s.name).collect();
        assert_eq!(names.len(), ALL.len(), "fault names are unique");
    }

    #[test]
    fn unknown_names_do_not_parse() {
        assert_eq!(Fault::parse("no-such-fault"), None);
        assert_eq!(Fault::parse("Apiserver503Burst"), None);
    }

    #[test]
    fn list_lines_say_expect_pass_for_recoverable_faults_only() {
        let lines = list_lines();
        assert!(lines.contains(&"watch-dropped expect=pass".to_string()));
        assert!(lines.contains(&"kind-create-fails expect=fail".to_string()));
        assert_eq!(lines.len(), ALL.len());
    }

    #[test]
    fn once_fires_once_per_tag_and_only_when_active() {
        let f = Faults::new([Fault::WatchDropped]);
        assert!(f.once(Fault::WatchDropped, "a"));
        assert!(!f.once(Fault::WatchDropped, "a"));
        assert!(f.once(Fault::WatchDropped, "b"));
        assert!(!f.once(Fault::KindCreateFails, "c"));
        assert_eq!(f.names(), vec!["watch-dropped"]);
    }
}
