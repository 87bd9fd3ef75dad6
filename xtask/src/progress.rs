//! What a running step awaits and what it saw last: shown live (one spinner line per step on a
//! terminal, plain lines otherwise) and quoted when the step fails or times out.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone, Default, Debug, PartialEq)]
pub struct Snapshot {
    pub awaiting: String,
    pub observed: String,
}

/// The live status of one step. Cheap to clone; every clone shows the same line.
#[derive(Clone, Default)]
pub struct Status {
    snapshot: Arc<Mutex<Snapshot>>,
    line: Option<Line>,
}

#[derive(Clone)]
enum Line {
    /// A spinner on a terminal: `⠋ [doc 5.1] complete-rejected 12s · awaiting … · last: …`.
    Spinner(ProgressBar),
    /// Not a terminal (CI logs): a plain line whenever what is awaited changes.
    Plain(String),
}

impl Status {
    /// A status that shows itself on stderr, prefixed with the step's doc number and id.
    pub fn shown(prefix: String) -> Status {
        let line = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} {elapsed:>4} · {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(prefix);
            bar.enable_steady_tick(Duration::from_millis(120));
            Line::Spinner(bar)
        } else {
            Line::Plain(prefix)
        };
        Status {
            snapshot: Arc::default(),
            line: Some(line),
        }
    }

    /// Says what the step waits for now.
    pub fn awaiting(&self, what: impl Into<String>) {
        let what = what.into();
        let changed = {
            let mut s = self.lock();
            let changed = s.awaiting != what;
            s.awaiting = what.clone();
            changed
        };
        if changed && let Some(Line::Plain(prefix)) = &self.line {
            eprintln!("  {prefix} awaiting {what}");
        }
        self.redraw();
    }

    /// Records the latest observation.
    pub fn observed(&self, what: impl Into<String>) {
        self.lock().observed = what.into();
        self.redraw();
    }

    pub fn snapshot(&self) -> Snapshot {
        self.lock().clone()
    }

    /// Removes the live line (the runner then prints the step's verdict).
    pub fn finish(&self) {
        if let Some(Line::Spinner(bar)) = &self.line {
            bar.finish_and_clear();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Snapshot> {
        self.snapshot.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn redraw(&self) {
        if let Some(Line::Spinner(bar)) = &self.line {
            let s = self.snapshot();
            bar.set_message(format!(
                "awaiting {} · last: {}",
                s.awaiting,
                if s.observed.is_empty() {
                    "-"
                } else {
                    &s.observed
                }
            ));
        }
    }
}
