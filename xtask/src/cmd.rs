//! External commands (kind, helm, docker): built with xshell, run with tokio so that a run can be
//! interrupted, and shown as copy-paste-safe shell lines for `--dry-run` and error messages.

use std::{ffi::OsStr, process::ExitStatus};

use anyhow::{Context, Result};

/// A command line, ready to run or to print.
pub struct Command {
    inner: std::process::Command,
}

/// What a finished command printed and how it exited.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status.success()
    }
    /// What a failure message should quote: the first `ERROR…`/`Error…` line of stderr (how kind,
    /// helm and docker state their failure), else the last non-empty line of stderr, else of stdout.
    pub fn last_words(&self) -> String {
        let stated = self
            .stderr
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("ERROR") || l.starts_with("Error"));
        let pick = |s: &str| {
            s.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_string())
        };
        stated
            .map(str::to_string)
            .or_else(|| pick(&self.stderr))
            .or_else(|| pick(&self.stdout))
            .unwrap_or_else(|| "(no output)".into())
    }
}

impl From<xshell::Cmd<'_>> for Command {
    fn from(cmd: xshell::Cmd<'_>) -> Self {
        Command { inner: cmd.into() }
    }
}

impl From<std::process::Command> for Command {
    fn from(inner: std::process::Command) -> Self {
        Command { inner }
    }
}

impl Command {
    /// The command as a line a person can paste into a POSIX shell.
    pub fn shell_line(&self) -> String {
        std::iter::once(self.inner.get_program())
            .chain(self.inner.get_args())
            .map(quote)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs the command to completion, capturing stdout and stderr. The child is killed if the
    /// returned future is dropped (that is how Ctrl-C stops a running `kind create`).
    pub async fn output(self) -> Result<Output> {
        let line = self.shell_line();
        let mut cmd = tokio::process::Command::from(self.inner);
        cmd.kill_on_drop(true).stdin(std::process::Stdio::null());
        let out = cmd
            .output()
            .await
            .with_context(|| format!("cannot run `{line}` (is it installed and on PATH?)"))?;
        Ok(Output {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Runs the command in the foreground, its output going straight to ours, and waits for it.
    pub fn interactive(mut self) -> Result<ExitStatus> {
        let line = self.shell_line();
        self.inner
            .status()
            .with_context(|| format!("cannot run `{line}`"))
    }

    /// Runs the command and fails, quoting its last words, unless it exits 0.
    pub async fn checked(self) -> Result<Output> {
        let line = self.shell_line();
        let out = self.output().await?;
        if !out.success() {
            anyhow::bail!(
                "`{line}` exited with {}: {}",
                exit_text(out.status),
                out.last_words()
            );
        }
        Ok(out)
    }
}

/// "code 1", or "signal 9" when there was no code.
pub fn exit_text(status: ExitStatus) -> String {
    match status.code() {
        Some(c) => format!("code {c}"),
        None => {
            #[cfg(unix)]
            {
                use std::os::unix::process::ExitStatusExt;
                if let Some(s) = status.signal() {
                    return format!("signal {s}");
                }
            }
            "no exit code".into()
        }
    }
}

/// Quotes one word for a POSIX shell; words of only safe characters (as in paths, images, label
/// selectors) stay as they are.
pub fn quote(word: impl AsRef<OsStr>) -> String {
    let word = word.as_ref().to_string_lossy();
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        return word.into_owned();
    }
    if !word.contains('\'') {
        return format!("'{word}'");
    }
    shlex::try_quote(&word)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| format!("'{}'", word.replace('\0', "")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_line_quotes_what_needs_quoting() {
        let sh = xshell::Shell::new().unwrap();
        let selector = "ray.io/cluster=a,ray.io/node-type=head";
        let template = "{.x}";
        let c: Command = xshell::cmd!(
            sh,
            "kubectl get pods -l {selector} --template {template} 'two words'"
        )
        .into();
        assert_eq!(
            c.shell_line(),
            "kubectl get pods -l ray.io/cluster=a,ray.io/node-type=head --template '{.x}' 'two words'"
        );
    }

    #[tokio::test]
    async fn checked_reports_exit_code_and_last_stderr_line() {
        let sh = xshell::Shell::new().unwrap();
        let c: Command = xshell::cmd!(
            sh,
            "sh -c 'echo out; echo first >&2; echo last words >&2; exit 3'"
        )
        .into();
        let err = c.checked().await.unwrap_err().to_string();
        assert!(err.contains("exited with code 3: last words"), "{err}");
    }

    #[tokio::test]
    async fn a_stated_error_line_wins_over_the_last_line() {
        let sh = xshell::Shell::new().unwrap();
        let script = "echo ' ✗ Starting control-plane' >&2; echo 'ERROR: failed to create cluster: failed to init node with kubeadm' >&2; echo 'timed out waiting for the condition' >&2; exit 1";
        let c: Command = xshell::cmd!(sh, "sh -c {script}").into();
        let err = c.checked().await.unwrap_err().to_string();
        assert!(err.ends_with("exited with code 1: ERROR: failed to create cluster: failed to init node with kubeadm"), "{err}");
    }

    #[tokio::test]
    async fn a_missing_program_says_so() {
        let sh = xshell::Shell::new().unwrap();
        let c: Command = xshell::cmd!(sh, "no-such-tool-xtask version").into();
        let err = c.output().await.unwrap_err().to_string();
        assert!(err.contains("is it installed and on PATH"), "{err}");
    }
}
