//! Streaming lists (KEP-3157 "watch-list"): a watch with `sendInitialEvents=true` and
//! `resourceVersionMatch=NotOlderThan`, as client-go ≥ 1.35 informers (and so `kubectl wait`)
//! open them. What the apiserver answers depends on its version:
//!
//! * before 1.27: `resourceVersionMatch` on a watch is refused (422); client-go falls back to
//!   LIST then WATCH;
//! * 1.27 on: the options are validated as `validateWatchOptions` does, and with the `WatchList`
//!   feature gate off (its default in 1.27–1.31 and 1.33) `sendInitialEvents` is refused (422);
//! * with the gate on (1.32, 1.34 on): the current objects as ADDED events, then a BOOKMARK
//!   annotated `k8s.io/initial-events-end: "true"`, then the live events.

use crate::util::Status;
use serde_json::json;

use super::request::ReqInfo;

/// The annotation that ends a streaming list's initial events.
pub const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

/// What a valid watch asks for: `Some(true)` a streaming list, `Some(false)` no initial events,
/// None the classic watch.
pub fn send_initial_events(minor: u32, info: &ReqInfo) -> Result<Option<bool>, Status> {
    let mut errs: Vec<String> = vec![];
    let rv_match = info.q("resourceVersionMatch").unwrap_or("");
    if minor < 27 {
        if !rv_match.is_empty() {
            errs.push(
                "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch"
                    .into(),
            );
        }
        return invalid(errs).map(|()| None);
    }
    let send = info.q("sendInitialEvents").map(|v| v == "true");
    let gate = minor == 32 || minor >= 34;
    if send.is_some() {
        if rv_match != "NotOlderThan" {
            errs.push("resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan".into());
        }
        if !gate {
            errs.push("sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled".into());
        }
    }
    if !rv_match.is_empty() {
        if send.is_none() {
            errs.push("resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided".into());
        }
        if rv_match != "NotOlderThan" {
            errs.push(format!("resourceVersionMatch: Unsupported value: \"{rv_match}\": supported values: \"NotOlderThan\""));
        }
        if info.q("allowWatchBookmarks") != Some("true") {
            errs.push("allowWatchBookmarks: Forbidden: allowWatchBookmarks must be set to true when sendInitialEvents is provided".into());
        }
    }
    invalid(errs).map(|()| send)
}

/// `errors.NewInvalid(ListOptions.meta.k8s.io, "", errs)`: one error, or `[a, b]`.
fn invalid(errs: Vec<String>) -> Result<(), Status> {
    let detail = match errs.len() {
        0 => return Ok(()),
        1 => errs[0].clone(),
        _ => format!("[{}]", errs.join(", ")),
    };
    let causes: Vec<_> = errs
        .iter()
        .map(|e| {
            let (field, msg) = e.split_once(": ").unwrap_or(("", e));
            json!({"reason": if msg.starts_with("Unsupported") { "FieldValueNotSupported" } else { "FieldValueForbidden" }, "message": msg, "field": field})
        })
        .collect();
    Err(Status::failure(
        422,
        "Invalid",
        format!("ListOptions.meta.k8s.io \"\" is invalid: {detail}"),
        Some(json!({"group": "meta.k8s.io", "kind": "ListOptions", "causes": causes})),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::request::parse_resource_path;
    use http::Method;

    const STREAMING: &str = "/api/v1/nodes?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true";

    fn ask(minor: u32, uri: &str) -> Result<Option<bool>, Status> {
        send_initial_events(minor, &parse_resource_path(&Method::GET, uri).unwrap())
    }

    #[test]
    fn before_1_27_resource_version_match_is_forbidden_on_a_watch() {
        let st = ask(26, STREAMING).unwrap_err();
        assert_eq!(st.code, 422);
        assert_eq!(
            st.message.unwrap(),
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch"
        );
        assert_eq!(
            ask(26, "/api/v1/nodes?watch=true&sendInitialEvents=true").ok(),
            Some(None)
        );
    }

    #[test]
    fn the_watch_list_gate_follows_the_version() {
        for minor in [27, 31, 33] {
            let st = ask(minor, STREAMING).unwrap_err();
            assert!(
                st.message.unwrap().ends_with("sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled"),
                "1.{minor}"
            );
        }
        for minor in [32, 34, 35] {
            assert_eq!(ask(minor, STREAMING).ok(), Some(Some(true)), "1.{minor}");
        }
        assert_eq!(ask(35, "/api/v1/nodes?watch=true").ok(), Some(None));
    }

    #[test]
    fn incomplete_streaming_options_are_invalid() {
        let st = ask(35, "/api/v1/nodes?watch=true&sendInitialEvents=true").unwrap_err();
        assert_eq!(
            st.message.unwrap(),
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
        );
        let st = ask(
            35,
            "/api/v1/nodes?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan",
        )
        .unwrap_err();
        assert!(
            st.message
                .unwrap()
                .contains("allowWatchBookmarks must be set to true")
        );
    }
}
