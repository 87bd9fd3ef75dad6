//! core/v1 Event → events.k8s.io/v1 Event: both APIs serve the same stored events, and the
//! apiserver converts them field by field.

use serde_json::{Value, json};

/// A core/v1 Event or EventList in events.k8s.io/v1 form (other values unchanged).
pub fn to_events_v1(v: &Value) -> Value {
    if v["kind"] == "EventList" || v.get("items").is_some() {
        let items: Vec<Value> = v["items"]
            .as_array()
            .map(|a| a.iter().map(convert_event).collect())
            .unwrap_or_default();
        let mut l = v.clone();
        l["apiVersion"] = json!("events.k8s.io/v1");
        l["items"] = json!(items);
        return l;
    }
    if v["kind"] == "Event" {
        convert_event(v)
    } else {
        v.clone()
    }
}

/// One core/v1 Event as events.k8s.io/v1 (field renames of the apiserver's conversion).
pub fn convert_event(e: &Value) -> Value {
    let mut o = serde_json::Map::new();
    o.insert("kind".into(), json!("Event"));
    o.insert("apiVersion".into(), json!("events.k8s.io/v1"));
    o.insert("metadata".into(), e["metadata"].clone());
    o.insert(
        "eventTime".into(),
        e.get("eventTime").cloned().unwrap_or(Value::Null),
    );
    let mut put = |k: &str, v: Option<&Value>| {
        if let Some(v) = v.filter(|v| !v.is_null() && *v != "") {
            o.insert(k.into(), v.clone());
        }
    };
    put("series", e.get("series"));
    put(
        "reportingController",
        e.get("reportingComponent")
            .or_else(|| e.pointer("/source/component")),
    );
    put("reportingInstance", e.get("reportingInstance"));
    put("action", e.get("action"));
    put("reason", e.get("reason"));
    put("regarding", e.get("involvedObject"));
    put("related", e.get("related"));
    put("note", e.get("message"));
    put("type", e.get("type"));
    put("deprecatedSource", e.get("source"));
    put("deprecatedFirstTimestamp", e.get("firstTimestamp"));
    put("deprecatedLastTimestamp", e.get("lastTimestamp"));
    put("deprecatedCount", e.get("count"));
    Value::Object(o)
}
