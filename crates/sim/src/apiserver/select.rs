//! Which stored objects a list or watch returns (label and field selectors from the query) and in
//! which form they are served (events.k8s.io events are converted from core events).

use serde_json::Value;

use super::events::convert_event;
use super::request::ReqInfo;
use crate::discovery::ResDef;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::util::{self, Status};

/// The `labelSelector` and `fieldSelector` of a list or watch request.
pub struct Selection {
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Selection {
    pub fn from_query(def: &ResDef, info: &ReqInfo) -> Result<Selection, Status> {
        let labels = LabelSelector::parse(info.q("labelSelector").unwrap_or(""))
            .map_err(|e| Status::bad_request(format!("unable to parse requirement: {e}")))?;
        let fields =
            FieldSelector::parse(info.q("fieldSelector").unwrap_or(""), &def.field_labels())
                .map_err(Status::bad_request)?;
        Ok(Selection { labels, fields })
    }

    /// Field selectors see the object as served (`regarding.name` of an events.k8s.io event).
    pub fn matches(&self, def: &ResDef, obj: &Value) -> bool {
        self.labels.matches(&util::labels_of(obj)) && self.fields.matches(&served(def, obj))
    }
}

/// A stored object as this resource serves it.
pub fn served(def: &ResDef, obj: &Value) -> Value {
    if def.group == "events.k8s.io" {
        convert_event(obj)
    } else {
        obj.clone()
    }
}
