//! `audit_log`: the API server's audit log is readable (audit logging is configured) and has no
//! event about the tutorial's namespace yet.

use anyhow::{Result, bail};
use serde::Deserialize;

use super::{NotApplicable, context::ShellContext, session::Session};
use crate::{
    audit::{self, AuditEvent},
    progress::Status,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub no_events_in_namespace: String,
}

#[derive(Debug)]
pub struct Planned {
    /// The namespace no event may be about yet.
    pub namespace: String,
}

impl Spec {
    pub fn plan(&self) -> Planned {
        Planned {
            namespace: self.no_events_in_namespace.clone(),
        }
    }
}

impl Planned {
    pub async fn run(&self, session: &mut Session<'_>, status: &Status) -> Result<Vec<String>> {
        let (log, namespace) = (&session.env.audit, &self.namespace);
        status.awaiting(format!(
            "the audit log ({})",
            log.read_command(&session.sh).shell_line()
        ));
        let events = match session.audit_events_after(0).await {
            Ok(events) => events,
            Err(e) if session.env.existing() => {
                return Err(NotApplicable(format!(
                    "the audit log cannot be read on this cluster ({e:#}); steps 5.1 and 5.2 rest on the API server's own answers instead (events, conditions, server-side dry runs)"
                ))
                .into());
            }
            Err(e) => return Err(e),
        };
        let about: Vec<&AuditEvent> = audit::in_namespace(&events, namespace).collect();
        if let Some(first) = about.first() {
            bail!(
                "the audit log already has {} event(s) about namespace {namespace}, e.g. {} {} by {}",
                about.len(),
                first.verb,
                first.request_uri,
                first.user.username
            );
        }
        session.audit_log_found();
        let scope = match session.audit_baseline() {
            0 => String::new(),
            older => format!(" (since this run began; {older} older events skipped)"),
        };
        Ok(vec![format!(
            "audit log {} in {} is readable: {} event(s){scope}, none about namespace {namespace}",
            log.path,
            log.node,
            events.len()
        )])
    }

    /// What the verdict rests on, in a sentence for the documentation.
    pub fn proof(&self) -> String {
        format!(
            "the audit log can be read (a missing log fails: audit logging is not configured) and has no event about namespace {}",
            self.namespace
        )
    }

    pub fn shell(&self, ctx: &ShellContext) -> Vec<String> {
        match ctx.audit_read() {
            Some(read) => vec![format!(
                "{read}   # expect: no event whose objectRef.namespace is {}",
                self.namespace
            )],
            None => vec![
                "# skipped: no command reaches this cluster's audit log; steps 5.1 and 5.2 rest on events, conditions and server-side dry runs".into(),
            ],
        }
    }
}
