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
}

pub const ALL: &[(Fault, &str, bool, &str)] = &[
    (
        Fault::Apiserver503Burst,
        "apiserver-503-burst",
        true,
        "a few consecutive API requests from outside the cluster get 503 ServiceUnavailable",
    ),
    (
        Fault::Apiserver429Burst,
        "apiserver-429-burst",
        true,
        "a few consecutive API requests from outside the cluster get 429 TooManyRequests with Retry-After",
    ),
    (
        Fault::WatchDropped,
        "watch-dropped",
        true,
        "the first watches are cut after their first events and history is compacted (resume gets 410 Gone)",
    ),
    (
        Fault::PortForwardDroppedOnce,
        "port-forward-dropped-once",
        true,
        "the first port-forward connection is closed before answering",
    ),
    (
        Fault::KindCreateFails,
        "kind-create-fails",
        false,
        "kind create cluster fails (kubeadm init times out)",
    ),
    (
        Fault::HelmInstallFails,
        "helm-install-fails",
        false,
        "helm install cannot fetch the chart",
    ),
    (
        Fault::OperatorNeverReady,
        "operator-never-ready",
        false,
        "the operator pod runs but its readiness probe keeps failing",
    ),
    (
        Fault::OperatorNeverCreatesPods,
        "operator-never-creates-pods",
        false,
        "the operator creates the head Service but never any pod",
    ),
    (
        Fault::HeadImagePullBackoff,
        "head-image-pull-backoff",
        false,
        "Ray head pods stay in ImagePullBackOff",
    ),
    (
        Fault::XgboostExits1,
        "xgboost-exits-1",
        false,
        "the XGBoost script crashes (exit 1); the dashboard still says SUCCEEDED",
    ),
    (
        Fault::PipInstallExits1,
        "pip-install-exits-1",
        false,
        "pip3 install jsonpatch fails (exit 1)",
    ),
    (
        Fault::AuditLogUnreadable,
        "audit-log-unreadable",
        false,
        "the audit log file is not readable in the node",
    ),
    (
        Fault::PsaLabelsIgnored,
        "psa-labels-ignored",
        false,
        "Pod Security admission ignores namespace labels (every pod admitted)",
    ),
    (
        Fault::DashboardNeverAnswers,
        "dashboard-never-answers",
        false,
        "the Ray dashboard accepts connections but never answers",
    ),
];

impl Fault {
    pub fn name(self) -> &'static str {
        ALL.iter()
            .find(|(f, ..)| *f == self)
            .map(|(_, n, ..)| *n)
            .expect("listed")
    }
    pub fn parse(s: &str) -> Option<Fault> {
        ALL.iter().find(|(_, n, ..)| *n == s).map(|(f, ..)| *f)
    }
    pub fn expect_pass(self) -> bool {
        ALL.iter()
            .find(|(f, ..)| *f == self)
            .map(|(_, _, p, _)| *p)
            .expect("listed")
    }
}

/// `NAME expect=pass|fail` lines for `sim list-faults`.
pub fn list_lines() -> Vec<String> {
    ALL.iter()
        .map(|(_, n, pass, _)| format!("{n} expect={}", if *pass { "pass" } else { "fail" }))
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
