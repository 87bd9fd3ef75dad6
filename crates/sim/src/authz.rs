//! Authorization, reduced to what the world's users need: the kind admin and the cluster's
//! components may do everything; a limited user (`sim run --limited-user NAME --forbid …`) may do
//! everything but the rules it is refused. A refused request gets the apiserver's 403
//! (`responsewriters.Forbidden`: `<resource> is forbidden: User "<name>" cannot <verb> resource
//! "<resource>" in API group "<group>" in the namespace "<ns>"`), and SelfSubjectAccessReviews
//! answer from the same rules.

use serde_json::{Value, json};
use std::sync::Arc;

use crate::util::Status;

/// A refused right: `VERB:RESOURCE[.GROUP][/SUBRESOURCE]` (`*` for any verb), e.g.
/// `create:pods/exec`, `list:rayclusters.ray.io`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
}

/// The verbs a rule may name.
pub const VERBS: [&str; 9] = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "*",
];

impl Rule {
    pub fn parse(s: &str) -> Result<Rule, String> {
        let bad = || {
            format!(
                "{s:?}: expected VERB:RESOURCE[.GROUP][/SUBRESOURCE], e.g. create:pods/exec or list:rayclusters.ray.io"
            )
        };
        let (verb, rest) = s.split_once(':').ok_or_else(bad)?;
        if !VERBS.contains(&verb) {
            return Err(format!(
                "{s:?}: unknown verb {verb:?} (one of {})",
                VERBS.join(", ")
            ));
        }
        let (res, sub) = rest.split_once('/').unwrap_or((rest, ""));
        let (resource, group) = res.split_once('.').unwrap_or((res, ""));
        if resource.is_empty() {
            return Err(bad());
        }
        Ok(Rule {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
        })
    }

    fn refuses(&self, a: &Attributes) -> bool {
        (self.verb == "*" || self.verb == a.verb)
            && self.group == a.group
            && self.resource == a.resource
            && self.subresource == a.subresource
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.verb, self.resource)?;
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        if !self.subresource.is_empty() {
            write!(f, "/{}", self.subresource)?;
        }
        Ok(())
    }
}

/// A user with every right but some.
#[derive(Clone, Debug)]
pub struct LimitedUser {
    pub name: String,
    pub forbidden: Vec<Rule>,
}

/// What a request asks to do (authorizer.Attributes of a resource request).
#[derive(Clone, Debug, Default)]
pub struct Attributes {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
}

/// Who may do what: everything, or everything but a limited user's refused rules.
#[derive(Clone, Debug, Default)]
pub struct Rights(pub Option<Arc<LimitedUser>>);

impl Rights {
    pub fn allows(&self, a: &Attributes) -> bool {
        match &self.0 {
            None => true,
            Some(u) => !u.forbidden.iter().any(|r| r.refuses(a)),
        }
    }
}

/// The apiserver's 403 for a refused resource request.
pub fn forbidden(user: &str, a: &Attributes) -> Status {
    let resource = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let scope = if a.namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace {:?}", a.namespace)
    };
    let why = format!(
        "User {user:?} cannot {} resource {resource:?} in API group {:?} {scope}",
        a.verb, a.group
    );
    let qualified = if a.group.is_empty() {
        a.resource.clone()
    } else {
        format!("{}.{}", a.resource, a.group)
    };
    let message = if a.name.is_empty() {
        format!("{qualified} is forbidden: {why}")
    } else {
        format!("{qualified} {:?} is forbidden: {why}", a.name)
    };
    let mut details = serde_json::Map::new();
    if !a.name.is_empty() {
        details.insert("name".into(), json!(a.name));
    }
    if !a.group.is_empty() {
        details.insert("group".into(), json!(a.group));
    }
    details.insert("kind".into(), json!(a.resource));
    Status::failure(403, "Forbidden", message, Some(Value::Object(details)))
}

/// The answer to a SelfSubjectAccessReview: the review with its `status` (RBAC never denies,
/// it only has no opinion, so a refused right is `allowed: false` without `denied`).
pub fn self_subject_access_review(review: &Value, rights: &Rights, allowed_reason: &str) -> Value {
    let ra = &review["spec"]["resourceAttributes"];
    let s = |k: &str| ra[k].as_str().unwrap_or_default().to_string();
    let allowed = if ra.is_object() {
        rights.allows(&Attributes {
            verb: s("verb"),
            group: s("group"),
            resource: s("resource"),
            subresource: s("subresource"),
            namespace: s("namespace"),
            name: s("name"),
        })
    } else {
        // Non-resource URLs (discovery, /version): everyone may get them.
        true
    };
    let mut status = json!({"allowed": allowed});
    if allowed && !allowed_reason.is_empty() {
        status["reason"] = json!(allowed_reason);
    }
    json!({
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": review["spec"],
        "status": status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(
        verb: &str,
        group: &str,
        resource: &str,
        sub: &str,
        ns: &str,
        name: &str,
    ) -> Attributes {
        Attributes {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            namespace: ns.into(),
            name: name.into(),
        }
    }

    #[test]
    fn rules_read_verb_resource_group_and_subresource() {
        let r = Rule::parse("create:pods/exec").unwrap();
        assert_eq!(
            (
                r.verb.as_str(),
                r.resource.as_str(),
                r.subresource.as_str(),
                r.group.as_str()
            ),
            ("create", "pods", "exec", "")
        );
        let r = Rule::parse("list:rayclusters.ray.io").unwrap();
        assert_eq!(
            (r.resource.as_str(), r.group.as_str()),
            ("rayclusters", "ray.io")
        );
        assert_eq!(r.to_string(), "list:rayclusters.ray.io");
        let r = Rule::parse("create:customresourcedefinitions.apiextensions.k8s.io").unwrap();
        assert_eq!(r.group, "apiextensions.k8s.io");
        assert!(Rule::parse("pods").is_err());
        assert!(
            Rule::parse("fly:pods")
                .unwrap_err()
                .contains("unknown verb")
        );
    }

    #[test]
    fn forbidden_messages_are_the_apiservers() {
        let st = forbidden("jane", &attrs("list", "", "pods", "", "ns1", ""));
        assert_eq!(
            st.message.as_deref(),
            Some(
                "pods is forbidden: User \"jane\" cannot list resource \"pods\" in API group \"\" in the namespace \"ns1\""
            )
        );
        assert_eq!(st.details, Some(json!({"kind": "pods"})));
        let st = forbidden("jane", &attrs("get", "", "pods", "exec", "ns1", "p"));
        assert_eq!(
            st.message.as_deref(),
            Some(
                "pods \"p\" is forbidden: User \"jane\" cannot get resource \"pods/exec\" in API group \"\" in the namespace \"ns1\""
            )
        );
        let st = forbidden(
            "jane",
            &attrs(
                "create",
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                "",
                "",
                "",
            ),
        );
        assert_eq!(
            st.message.as_deref(),
            Some(
                "customresourcedefinitions.apiextensions.k8s.io is forbidden: User \"jane\" cannot create resource \"customresourcedefinitions\" in API group \"apiextensions.k8s.io\" at the cluster scope"
            )
        );
        assert_eq!(
            st.details,
            Some(json!({"group": "apiextensions.k8s.io", "kind": "customresourcedefinitions"}))
        );
    }
}
