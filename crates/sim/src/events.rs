//! Events as a component's event recorder emits them, and client-go's EventCorrelator
//! (tools/record): identical events are counted on one object, 10+ distinct messages of the same
//! (source, object, type, reason) within 10 minutes are combined ("(combined from similar events):
//! …"), and a per-(source, object) token bucket (burst 25, one token per 5 minutes) drops the
//! rest. Times are simulated (scaled).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// One event about an object, before correlation.
#[derive(Clone, Debug)]
pub struct Event<'a> {
    pub typ: EventType,
    pub reason: &'a str,
    pub message: &'a str,
    /// `source.component` / `reportingComponent`.
    pub component: &'a str,
    /// `source.host` (the kubelet's node).
    pub host: Option<&'a str>,
    /// `involvedObject.fieldPath` (`spec.containers{name}`).
    pub field_path: Option<&'a str>,
}

impl<'a> Event<'a> {
    pub fn new(typ: EventType, reason: &'a str, message: &'a str, component: &'a str) -> Self {
        Event {
            typ,
            reason,
            message,
            component,
            host: None,
            field_path: None,
        }
    }
    pub fn normal(reason: &'a str, message: &'a str, component: &'a str) -> Self {
        Self::new(EventType::Normal, reason, message, component)
    }
    pub fn warning(reason: &'a str, message: &'a str, component: &'a str) -> Self {
        Self::new(EventType::Warning, reason, message, component)
    }
    pub fn on_host(self, host: &'a str) -> Self {
        Event {
            host: Some(host),
            ..self
        }
    }
    pub fn at(self, field_path: &'a str) -> Self {
        Event {
            field_path: Some(field_path),
            ..self
        }
    }
}

/// What the correlator made of an event that was not dropped.
pub struct Correlated {
    /// The message to store (possibly "(combined from similar events): …").
    pub message: String,
    /// Identifies the stored event this one repeats (or will be stored as).
    pub dedup_key: String,
    /// An earlier identical event: its object name and the new count.
    pub repeat_of: Option<(String, i64)>,
}

#[derive(Default)]
pub struct EventCorrelator {
    spam: HashMap<String, (f64, Instant)>,
    aggregate: HashMap<String, (HashSet<String>, Instant)>,
    seen: HashMap<String, (String, i64)>,
}

/// Seconds per refilled spam-filter token, and the aggregation window (unscaled).
const SPAM_REFILL_SECS: f64 = 300.0;
const SPAM_BURST: f64 = 25.0;
const AGGREGATE_WINDOW_SECS: f64 = 600.0;
const AGGREGATE_MAX_MESSAGES: usize = 10;

impl EventCorrelator {
    /// `None` when the spam filter drops the event. `uid` is the involved object's.
    pub fn correlate(
        &mut self,
        ev: &Event,
        uid: &str,
        now: Instant,
        scale: f64,
    ) -> Option<Correlated> {
        let source = format!("{}/{}/{uid}", ev.component, ev.host.unwrap_or(""));
        if !self.take_token(&source, now, scale) {
            return None;
        }
        let agg_key = format!("{source}/{}/{}", ev.typ.as_str(), ev.reason);
        let (message, dedup_key) =
            if self.similar_messages(&agg_key, ev.message, now, scale) >= AGGREGATE_MAX_MESSAGES {
                (
                    format!("(combined from similar events): {}", ev.message),
                    format!("{agg_key}/combined"),
                )
            } else {
                (
                    ev.message.to_string(),
                    format!("{agg_key}/{}/{}", ev.field_path.unwrap_or(""), ev.message),
                )
            };
        let repeat_of = self.seen.get_mut(&dedup_key).map(|(name, count)| {
            *count += 1;
            (name.clone(), *count)
        });
        Some(Correlated {
            message,
            dedup_key,
            repeat_of,
        })
    }

    /// The event was stored as a new object called `name`.
    pub fn stored(&mut self, dedup_key: String, name: String) {
        self.seen.insert(dedup_key, (name, 1));
    }

    /// Spam filter: burst 25, one token back per 5 (scaled) minutes.
    fn take_token(&mut self, source: &str, now: Instant, scale: f64) -> bool {
        let (tokens, last) = self
            .spam
            .entry(source.to_string())
            .or_insert((SPAM_BURST, now));
        let refill = now.duration_since(*last).as_secs_f64() / (SPAM_REFILL_SECS * scale);
        *tokens = (*tokens + refill).min(SPAM_BURST);
        *last = now;
        if *tokens < 1.0 {
            return false;
        }
        *tokens -= 1.0;
        true
    }

    /// How many distinct messages this (source, object, type, reason) had in the window.
    fn similar_messages(
        &mut self,
        agg_key: &str,
        message: &str,
        now: Instant,
        scale: f64,
    ) -> usize {
        let (msgs, first) = self
            .aggregate
            .entry(agg_key.to_string())
            .or_insert_with(|| (HashSet::new(), now));
        if now.duration_since(*first).as_secs_f64() > AGGREGATE_WINDOW_SECS * scale {
            msgs.clear();
            *first = now;
        }
        msgs.insert(message.to_string());
        msgs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(message: &str) -> Event<'_> {
        Event::warning("FailedCreate", message, "replicaset-controller")
    }

    #[test]
    fn identical_events_repeat_the_stored_one() {
        let mut c = EventCorrelator::default();
        let now = Instant::now();
        let first = c.correlate(&ev("boom"), "u1", now, 1.0).unwrap();
        assert!(first.repeat_of.is_none());
        c.stored(first.dedup_key, "rs.1".into());
        let again = c.correlate(&ev("boom"), "u1", now, 1.0).unwrap();
        assert_eq!(again.repeat_of, Some(("rs.1".to_string(), 2)));
        assert_eq!(again.message, "boom");
    }

    #[test]
    fn the_tenth_distinct_message_is_combined() {
        let mut c = EventCorrelator::default();
        let now = Instant::now();
        let msgs: Vec<String> = (0..10).map(|i| format!("error {i}")).collect();
        let out: Vec<Correlated> = msgs
            .iter()
            .map(|m| c.correlate(&ev(m), "u1", now, 1.0).unwrap())
            .collect();
        assert_eq!(out[8].message, "error 8");
        assert_eq!(out[9].message, "(combined from similar events): error 9");
    }

    #[test]
    fn the_spam_filter_drops_after_a_burst_of_25() {
        let mut c = EventCorrelator::default();
        let now = Instant::now();
        let kept = (0..30)
            .filter(|_| c.correlate(&ev("same"), "u1", now, 1.0).is_some())
            .count();
        assert_eq!(kept, 25);
        // Another object has its own bucket.
        assert!(c.correlate(&ev("same"), "u2", now, 1.0).is_some());
    }
}
