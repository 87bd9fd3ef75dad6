//! Exec in a container, with the command's exit code read from the exec status channel.

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::Pod;
use kube::{
    Client,
    api::{Api, AttachParams},
};
use tokio::io::AsyncReadExt;

/// What a command run in a container did.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` in a container and reads its exit code from the exec status channel: `Success`,
/// or `Failure`/`NonZeroExitCode` with the code in `details.causes[reason=ExitCode]`. Any other
/// failure (no such container, cannot start) is an error, not an exit code.
pub async fn exec(
    client: &Client,
    ns: &str,
    pod: &str,
    container: &str,
    command: &[String],
) -> Result<ExecOutput> {
    let api = Api::<Pod>::namespaced(client.clone(), ns);
    let params = AttachParams::default()
        .container(container)
        .stdin(false)
        .stdout(true)
        .stderr(true);
    let mut proc = api
        .exec(pod, command.to_vec(), &params)
        .await
        .with_context(|| format!("cannot exec in {ns}/{pod} container {container}"))?;
    let status = proc
        .take_status()
        .ok_or_else(|| anyhow!("exec gave no status channel"))?;
    let (mut so, mut se) = (
        proc.stdout().ok_or_else(|| anyhow!("no stdout"))?,
        proc.stderr().ok_or_else(|| anyhow!("no stderr"))?,
    );
    let (mut out, mut err) = (Vec::new(), Vec::new());
    // Both pipes must be drained at once: an unread pipe blocks the other.
    let (a, b) = tokio::join!(so.read_to_end(&mut out), se.read_to_end(&mut err));
    a.context("reading the exec's stdout")?;
    b.context("reading the exec's stderr")?;
    let status = status.await;
    let _ = proc.join().await;
    let exit_code = exit_code_of(status.as_ref())?;
    Ok(ExecOutput {
        exit_code,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    })
}

/// The exit code in an exec's final Status.
pub fn exit_code_of(
    status: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>,
) -> Result<i32> {
    let Some(s) = status else {
        bail!("the exec stream closed without a status")
    };
    match (s.status.as_deref(), s.reason.as_deref()) {
        (Some("Success"), _) => Ok(0),
        (Some("Failure"), Some("NonZeroExitCode")) => s
            .details
            .as_ref()
            .and_then(|d| d.causes.as_ref())
            .into_iter()
            .flatten()
            .find(|c| c.reason.as_deref() == Some("ExitCode"))
            .and_then(|c| c.message.as_deref()?.parse().ok())
            .ok_or_else(|| {
                anyhow!(
                    "NonZeroExitCode without an ExitCode cause: {}",
                    s.message.clone().unwrap_or_default()
                )
            }),
        _ => bail!(
            "exec failed: {} ({})",
            s.message.clone().unwrap_or_default(),
            s.reason.clone().unwrap_or_default()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        Status as K8sStatus, StatusCause, StatusDetails,
    };

    #[test]
    fn exit_codes_come_from_the_status_channel() {
        let ok = K8sStatus {
            status: Some("Success".into()),
            ..Default::default()
        };
        assert_eq!(exit_code_of(Some(&ok)).unwrap(), 0);
        let failed = K8sStatus {
            status: Some("Failure".into()),
            reason: Some("NonZeroExitCode".into()),
            message: Some("command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3".into()),
            details: Some(StatusDetails {
                causes: Some(vec![StatusCause { reason: Some("ExitCode".into()), message: Some("3".into()), field: None }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(exit_code_of(Some(&failed)).unwrap(), 3);
        let other = K8sStatus {
            status: Some("Failure".into()),
            reason: Some("InternalError".into()),
            message: Some("container not found".into()),
            ..Default::default()
        };
        assert!(
            exit_code_of(Some(&other))
                .unwrap_err()
                .to_string()
                .contains("container not found")
        );
        assert!(exit_code_of(None).is_err());
    }
}
