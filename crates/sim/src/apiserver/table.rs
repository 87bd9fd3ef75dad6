//! Server-side printing: a core/v1 Event list answered as a `meta.k8s.io/v1` Table when the
//! client asks for one (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`, as `kubectl get`
//! does), with kube-apiserver's event columns (`pkg/printers/internalversion/printers.go`:
//! Last Seen, Type, Reason, Object, Message, and at priority 1 Subobject, Source, First Seen,
//! Count, Name). Other resources are answered as plain lists, which kubectl prints by name.

use serde_json::{Value, json};

/// Whether the request's Accept header asks for a Table first.
pub fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

/// An EventList as a Table; `now` is when the ages are counted to.
pub fn events(list: &Value, now: jiff::Timestamp) -> Value {
    let columns: Vec<Value> = [
        ("Last Seen", 0),
        ("Type", 0),
        ("Reason", 0),
        ("Object", 0),
        ("Subobject", 1),
        ("Source", 1),
        ("Message", 0),
        ("First Seen", 1),
        ("Count", 1),
        ("Name", 1),
    ]
    .iter()
    .map(|(name, priority)| {
        json!({"name": name, "type": "string", "format": "", "description": "", "priority": priority})
    })
    .collect();
    let rows: Vec<Value> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| event_row(e, now))
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": list["metadata"]["resourceVersion"]},
        "columnDefinitions": columns,
        "rows": rows,
    })
}

fn event_row(e: &Value, now: jiff::Timestamp) -> Value {
    let s = |p: &str| e.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let last = [s("/lastTimestamp"), s("/eventTime"), s("/firstTimestamp")]
        .into_iter()
        .find(|t| !t.is_empty())
        .unwrap_or_default();
    let first = [s("/firstTimestamp"), s("/eventTime")]
        .into_iter()
        .find(|t| !t.is_empty())
        .unwrap_or_default();
    let object = format!(
        "{}/{}",
        s("/involvedObject/kind").to_lowercase(),
        s("/involvedObject/name")
    );
    let source = match (s("/source/component"), s("/source/host")) {
        ("", _) => s("/reportingComponent").to_string(),
        (c, "") => c.to_string(),
        (c, h) => format!("{c}, {h}"),
    };
    let count = e.pointer("/count").and_then(Value::as_i64).unwrap_or(1);
    json!({
        "cells": [
            since(last, now), s("/type"), s("/reason"), object, s("/involvedObject/fieldPath"),
            source, s("/message"), since(first, now), count.to_string(), s("/metadata/name"),
        ],
        "object": {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": e["metadata"],
        },
    })
}

/// `<unknown>` or the age, as apimachinery's `duration.HumanDuration` writes it.
fn since(t: &str, now: jiff::Timestamp) -> String {
    let Ok(at) = t.parse::<jiff::Timestamp>() else {
        return "<unknown>".into();
    };
    let secs = (now.as_second() - at.as_second()).max(0);
    human_duration(secs)
}

fn human_duration(secs: i64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    match () {
        _ if secs < 120 => format!("{secs}s"),
        _ if m < 10 => match secs % 60 {
            0 => format!("{m}m"),
            s => format!("{m}m{s}s"),
        },
        _ if m < 180 => format!("{m}m"),
        _ if h < 8 => match m % 60 {
            0 => format!("{h}h"),
            mm => format!("{h}h{mm}m"),
        },
        _ if h < 48 => format!("{h}h"),
        _ if h < 192 => match h % 24 {
            0 => format!("{d}d"),
            hh => format!("{d}d{hh}h"),
        },
        _ => format!("{d}d"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_a_row_of_kubectls_columns() {
        let now: jiff::Timestamp = "2026-12-01T10:00:05Z".parse().unwrap();
        let list = json!({"metadata": {"resourceVersion": "9"}, "items": [{
            "metadata": {"name": "rc.1", "namespace": "ns"},
            "involvedObject": {"kind": "RayCluster", "name": "rc"},
            "reason": "FailedToCreateHeadPod", "type": "Warning", "message": "Failed to create head Pod ns/, …",
            "source": {"component": "raycluster-controller"}, "count": 3,
            "firstTimestamp": "2026-12-01T09:58:00Z", "lastTimestamp": "2026-12-01T10:00:00Z"}]});
        let t = events(&list, now);
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["columnDefinitions"][2]["name"], "Reason");
        assert_eq!(
            t["rows"][0]["cells"],
            json!([
                "5s",
                "Warning",
                "FailedToCreateHeadPod",
                "raycluster/rc",
                "",
                "raycluster-controller",
                "Failed to create head Pod ns/, …",
                "2m5s",
                "3",
                "rc.1"
            ])
        );
        assert!(wants_table(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        ));
        assert!(!wants_table("application/json"));
        assert_eq!(human_duration(600), "10m");
        assert_eq!(human_duration(3 * 3600 + 60), "3h1m");
    }
}
