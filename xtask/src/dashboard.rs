//! The Ray dashboard's REST API (`/api/version`, `/api/jobs/`), reached through a loopback
//! port-forward.
//!
//! A fact that shapes every check here: a DRIVER job (a script that calls `ray.init()`, like the
//! tutorial's XGBoost example run with `kubectl exec`) is `SUCCEEDED` as soon as its process is
//! gone, whatever its exit code (recorded on Ray 2.60: ../shared/fixtures/ray). So a dashboard
//! status is necessary evidence, never sufficient: the exec's own exit code decides.

use std::{net::SocketAddr, time::Duration};

use anyhow::{Context, Result};
use serde::Deserialize;

/// Why the dashboard is polled: the Ray Jobs API has no watch.
pub const DASHBOARD_POLL: Duration = Duration::from_secs(1);

/// `GET /api/version`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RayVersion {
    pub version: String,
    pub ray_version: String,
    #[serde(default)]
    pub ray_commit: Option<String>,
    #[serde(default)]
    pub session_name: Option<String>,
}

/// A Ray job's status (`ray.job_submission.JobStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RayJobStatus {
    Pending,
    Running,
    Stopped,
    Succeeded,
    Failed,
}

impl RayJobStatus {
    pub const ALL: [RayJobStatus; 5] = [
        RayJobStatus::Pending,
        RayJobStatus::Running,
        RayJobStatus::Stopped,
        RayJobStatus::Succeeded,
        RayJobStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RayJobStatus::Pending => "PENDING",
            RayJobStatus::Running => "RUNNING",
            RayJobStatus::Stopped => "STOPPED",
            RayJobStatus::Succeeded => "SUCCEEDED",
            RayJobStatus::Failed => "FAILED",
        }
    }

    /// Whether the job has ended (it will not change any more).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RayJobStatus::Succeeded | RayJobStatus::Failed | RayJobStatus::Stopped
        )
    }
}

impl std::fmt::Display for RayJobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RayJobStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RayJobStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = RayJobStatus::ALL.iter().map(|s| s.as_str()).collect();
                format!("{s:?} is not a Ray job status ({})", all.join(", "))
            })
    }
}

impl<'de> Deserialize<'de> for RayJobStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// One entry of `GET /api/jobs/` (Ray's `JobDetails`); only `type`, `entrypoint` and `status` are
/// required by Ray's OpenAPI document, and unknown fields are ignored.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RayJob {
    #[serde(rename = "type")]
    pub job_type: String,
    pub entrypoint: String,
    pub status: RayJobStatus,
    #[serde(default)]
    pub job_id: Option<String>,
    #[serde(default)]
    pub submission_id: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub driver_exit_code: Option<i64>,
    #[serde(default)]
    pub start_time: Option<u64>,
    #[serde(default)]
    pub end_time: Option<u64>,
}

impl RayJob {
    pub fn id(&self) -> &str {
        self.job_id
            .as_deref()
            .or(self.submission_id.as_deref())
            .unwrap_or("?")
    }
}

pub fn parse_jobs(body: &str) -> Result<Vec<RayJob>> {
    serde_json::from_str(body).context("GET /api/jobs/ did not return a JSON array of jobs")
}

pub fn parse_version(body: &str) -> Result<RayVersion> {
    serde_json::from_str(body).context("GET /api/version did not return Ray's version object")
}

/// The DRIVER jobs whose entrypoint is exactly this command line, newest first.
pub fn driver_jobs<'a>(jobs: &'a [RayJob], entrypoint: &str) -> Vec<&'a RayJob> {
    let mut found: Vec<&RayJob> = jobs
        .iter()
        .filter(|j| j.job_type == "DRIVER" && j.entrypoint.trim() == entrypoint)
        .collect();
    found.sort_by_key(|j| std::cmp::Reverse(j.start_time.unwrap_or(0)));
    found
}

/// A client for one dashboard at a loopback address.
#[derive(Clone)]
pub struct Dashboard {
    base: String,
    http: reqwest::Client,
}

impl Dashboard {
    pub fn new(addr: SocketAddr) -> Result<Dashboard> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .no_proxy()
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Dashboard {
            base: format!("http://{addr}"),
            http,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// GETs a path and returns the body of a 2xx answer.
    pub async fn get(&self, path: &str) -> Result<String> {
        let url = self.url(path);
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status();
        let body = resp
            .text()
            .await
            .with_context(|| format!("GET {url}: reading the body"))?;
        if !status.is_success() {
            anyhow::bail!(
                "GET {url}: HTTP {status}: {}",
                body.chars().take(200).collect::<String>()
            );
        }
        Ok(body)
    }

    pub async fn jobs(&self) -> Result<Vec<RayJob>> {
        parse_jobs(&self.get("/api/jobs/").await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/ray")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn recorded_jobs_parse_and_drivers_are_succeeded_whatever_their_exit_code() {
        let jobs = parse_jobs(&fixture("api-jobs.ray-2.60.0.json")).unwrap();
        assert_eq!(jobs.len(), 6);
        let failed = &jobs[0];
        assert_eq!(
            (
                failed.job_type.as_str(),
                failed.status.as_str(),
                failed.driver_exit_code
            ),
            ("SUBMISSION", "FAILED", Some(3))
        );
        // driver_exit3.py exited 3, driver_raise.py 1, the XGBoost script 1: all SUCCEEDED.
        for script in [
            "samples/driver_exit3.py",
            "samples/driver_raise.py",
            "samples/xgboost_example_local_csv.py",
        ] {
            let d = driver_jobs(&jobs, &format!("python3 {script}"));
            assert_eq!(d.len(), 1, "{script}");
            assert_eq!(d[0].status, RayJobStatus::Succeeded, "{script}");
            assert_eq!(d[0].driver_exit_code, None, "{script}");
            assert!(d[0].status.is_terminal());
        }
        assert!(driver_jobs(&jobs, "python3 samples/xgboost_example.py").is_empty());
    }

    #[test]
    fn recorded_version_parses() {
        let v = parse_version(&fixture("api-version.ray-2.60.0.json")).unwrap();
        assert_eq!(v.ray_version, "2.60.0");
        assert_eq!(v.version, "4");
    }

    #[test]
    fn job_statuses_are_rays_five() {
        for st in RayJobStatus::ALL {
            assert_eq!(st.as_str().parse::<RayJobStatus>(), Ok(st));
        }
        assert!(!RayJobStatus::Running.is_terminal());
        let err = "DONE".parse::<RayJobStatus>().unwrap_err();
        assert!(
            err.contains("not a Ray job status (PENDING, RUNNING"),
            "{err}"
        );
        assert!(
            parse_jobs(r#"[{"type": "DRIVER", "entrypoint": "x", "status": "DONE"}]"#).is_err()
        );
    }

    #[test]
    fn a_non_list_is_an_error() {
        assert!(parse_jobs("{\"jobs\": []}").is_err());
    }
}
