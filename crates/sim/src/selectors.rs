//! Label selectors (`a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`) and field
//! selectors (`f=v`, `f==v`, `f!=v`), as accepted by kube-apiserver list/watch.

use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
enum Req {
    Eq(String, String),
    NotEq(String, String),
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<Req>);

/// Split on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c)
            }
            ')' => {
                depth -= 1;
                cur.push(c)
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn parse_set(rest: &str) -> Result<Vec<String>, String> {
    let r = rest.trim();
    let inner = r
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .ok_or_else(|| format!("found '{r}', expected: '('"))?;
    Ok(inner
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for term in split_top(s) {
            if let Some(k) = term.strip_prefix('!') {
                reqs.push(Req::NotExists(k.trim().into()));
            } else if let Some((k, v)) = term.split_once("!=") {
                reqs.push(Req::NotEq(k.trim().into(), v.trim().into()));
            } else if let Some((k, v)) = term.split_once("==") {
                reqs.push(Req::Eq(k.trim().into(), v.trim().into()));
            } else if let Some((k, v)) = term.split_once('=') {
                reqs.push(Req::Eq(k.trim().into(), v.trim().into()));
            } else if let Some(idx) = term.find(" notin ") {
                reqs.push(Req::NotIn(
                    term[..idx].trim().into(),
                    parse_set(&term[idx + 7..])?,
                ));
            } else if let Some(idx) = term.find(" in ") {
                reqs.push(Req::In(
                    term[..idx].trim().into(),
                    parse_set(&term[idx + 4..])?,
                ));
            } else if term
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
            {
                reqs.push(Req::Exists(term));
            } else {
                return Err(format!("unable to parse requirement: {term}"));
            }
        }
        Ok(LabelSelector(reqs))
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => labels.get(k) == Some(v),
            Req::NotEq(k, v) => labels.get(k) != Some(v),
            Req::Exists(k) => labels.contains_key(k),
            Req::NotExists(k) => !labels.contains_key(k),
            Req::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Req::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parse and check every field against the fields the resource supports (like the apiserver:
    /// `field label not supported: X`).
    pub fn parse(s: &str, supported: &[&str]) -> Result<Self, String> {
        let mut out = Vec::new();
        for term in split_top(s) {
            let (k, neg, v) = if let Some((k, v)) = term.split_once("!=") {
                (k, true, v)
            } else if let Some((k, v)) = term.split_once("==") {
                (k, false, v)
            } else if let Some((k, v)) = term.split_once('=') {
                (k, false, v)
            } else {
                return Err(format!(
                    "invalid selector: '{term}'; can't understand '{term}'"
                ));
            };
            let k = k.trim();
            if !supported.contains(&k) {
                return Err(format!("field label not supported: {k}"));
            }
            out.push((k.to_string(), neg, v.trim().to_string()));
        }
        Ok(FieldSelector(out))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(path, neg, want)| {
            let mut cur = Some(obj);
            for p in path.split('.') {
                cur = cur.and_then(|c| c.get(p));
            }
            let have = match cur {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Bool(b)) => b.to_string(),
                _ => String::new(),
            };
            (have == *want) != *neg
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_selector_forms() {
        let l = labels(&[("ray.io/cluster", "c"), ("ray.io/node-type", "head")]);
        assert!(
            LabelSelector::parse("ray.io/cluster=c,ray.io/node-type=head")
                .unwrap()
                .matches(&l)
        );
        assert!(
            !LabelSelector::parse("ray.io/cluster=c,ray.io/node-type=worker")
                .unwrap()
                .matches(&l)
        );
        assert!(
            LabelSelector::parse("ray.io/node-type in (head, worker)")
                .unwrap()
                .matches(&l)
        );
        assert!(
            !LabelSelector::parse("ray.io/node-type notin (head)")
                .unwrap()
                .matches(&l)
        );
        assert!(
            LabelSelector::parse("!app,ray.io/cluster")
                .unwrap()
                .matches(&l)
        );
        assert!(!LabelSelector::parse("app").unwrap().matches(&l));
        assert!(
            LabelSelector::parse("ray.io/cluster!=d")
                .unwrap()
                .matches(&l)
        );
        assert!(LabelSelector::parse("").unwrap().matches(&l));
    }

    #[test]
    fn field_selector_checks_support() {
        let pod = serde_json::json!({"metadata": {"name": "p"}, "status": {"phase": "Running"}});
        let fs = FieldSelector::parse(
            "metadata.name=p,status.phase!=Pending",
            &["metadata.name", "status.phase"],
        )
        .unwrap();
        assert!(fs.matches(&pod));
        let err = FieldSelector::parse("spec.foo=x", &["metadata.name"]).unwrap_err();
        assert_eq!(err, "field label not supported: spec.foo");
    }

    #[test]
    fn label_selector_negations_match_missing_labels() {
        let l = labels(&[("a", "1")]);
        assert!(LabelSelector::parse("b!=1").unwrap().matches(&l));
        assert!(LabelSelector::parse("b notin (1)").unwrap().matches(&l));
        assert!(!LabelSelector::parse("b in (1)").unwrap().matches(&l));
        assert!(LabelSelector::parse("a==1").unwrap().matches(&l));
        assert!(!LabelSelector::parse("a!=1").unwrap().matches(&l));
        assert!(LabelSelector::parse(" a = 1 , !b ").unwrap().matches(&l));
    }

    #[test]
    fn label_selector_rejects_bad_input() {
        assert_eq!(
            LabelSelector::parse("a in x").unwrap_err(),
            "found 'x', expected: '('"
        );
        assert_eq!(
            LabelSelector::parse("a b").unwrap_err(),
            "unable to parse requirement: a b"
        );
        assert!(LabelSelector::parse("a notin (x").is_err());
    }

    #[test]
    fn field_selector_matches_scalars_and_rejects_bad_input() {
        let node = serde_json::json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true}, "status": {"n": 3}});
        let supported = ["metadata.name", "spec.unschedulable", "status.n"];
        assert!(
            FieldSelector::parse("spec.unschedulable=true", &supported)
                .unwrap()
                .matches(&node)
        );
        assert!(
            FieldSelector::parse("status.n==3", &supported)
                .unwrap()
                .matches(&node)
        );
        assert!(
            !FieldSelector::parse("metadata.name!=n", &supported)
                .unwrap()
                .matches(&node)
        );
        // A missing field reads as "".
        let pod = serde_json::json!({"metadata": {"name": "p"}});
        assert!(
            FieldSelector::parse("spec.unschedulable=", &supported)
                .unwrap()
                .matches(&pod)
        );
        assert_eq!(
            FieldSelector::parse("metadata.name", &supported).unwrap_err(),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
        );
        assert!(FieldSelector::parse("", &supported).unwrap().matches(&pod));
    }
}
