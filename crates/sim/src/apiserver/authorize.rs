//! Whether the caller may make a resource request: the authorizer's attributes read from the
//! request (as RequestInfoFactory reads them) and, when refused, the apiserver's 403.

use super::request::{ReqInfo, Verb};
use crate::authz;
use crate::cluster::Caller;
use crate::util::Status;

/// The authorizer's refusal of a resource request (`verb` as authorized), if it refuses. Lists
/// and watches selecting one `metadata.name` are authorized for that name, as
/// RequestInfoFactory reads them.
pub fn authorize(caller: &Caller, info: &ReqInfo, verb: &str) -> Option<Status> {
    let mut name = info.name.clone();
    if name.is_empty() && matches!(info.verb, Verb::List | Verb::Watch) {
        let fs = info.q("fieldSelector").unwrap_or_default();
        if let Some(n) = fs.split(',').find_map(|t| {
            t.strip_prefix("metadata.name==")
                .or_else(|| t.strip_prefix("metadata.name="))
        }) {
            name = n.to_string();
        }
    }
    let a = authz::Attributes {
        verb: verb.to_string(),
        group: info.group.clone(),
        resource: info.resource.clone(),
        subresource: info.subresource.clone(),
        namespace: info.namespace.clone(),
        name,
    };
    (!caller.rights.allows(&a)).then(|| authz::forbidden(&caller.user.username, &a))
}
