//! What a request asks for: the resource path (`/api/v1/namespaces/ns/pods/name/exec`) and query
//! parsed into a [`ReqInfo`], the way kube-apiserver's RequestInfoFactory does, so that routing,
//! audit policy and the WebSocket streams all see the same request.

use http::Method;

/// The Kubernetes verb of a resource request (from the HTTP method, the name and `?watch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
    #[default]
    Unknown,
}

impl Verb {
    /// The verb as audit policy and audit events spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
            Verb::Unknown => "unknown",
        }
    }

    fn of(method: &Method, named: bool, watch: bool) -> Verb {
        match *method {
            Method::GET | Method::HEAD if watch => Verb::Watch,
            Method::GET | Method::HEAD if named => Verb::Get,
            Method::GET | Method::HEAD => Verb::List,
            Method::POST => Verb::Create,
            Method::PUT => Verb::Update,
            Method::PATCH => Verb::Patch,
            Method::DELETE if named => Verb::Delete,
            Method::DELETE => Verb::DeleteCollection,
            _ => Verb::Unknown,
        }
    }
}

/// Decode `%XX` escapes and `+` (as Go's `url.QueryUnescape`, leniently: a bad escape stays).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a=1&b=x%20y&c` → `[("a","1"), ("b","x y"), ("c","")]`, in order, repeats kept.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// A resource request: verb, group/version/resource, namespace, name, subresource and query.
#[derive(Debug, Clone, Default)]
pub struct ReqInfo {
    pub verb: Verb,
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    pub query: Vec<(String, String)>,
}

impl ReqInfo {
    /// The first value of query parameter `k`.
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(kk, _)| kk == k)
            .map(|(_, v)| v.as_str())
    }
    /// Every value of query parameter `k` (`command=a&command=b`).
    pub fn q_all(&self, k: &str) -> Vec<String> {
        self.query
            .iter()
            .filter(|(kk, _)| kk == k)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// Parse a resource path (`/api/v1/namespaces/ns/pods/name/exec`). None for non-resource paths.
pub fn parse_resource_path(method: &Method, uri: &str) -> Option<ReqInfo> {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] if !rest.is_empty() => ("".to_string(), v.to_string(), rest.to_vec()),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => {
            (g.to_string(), v.to_string(), rest.to_vec())
        }
        _ => return None,
    };
    let mut info = ReqInfo {
        group,
        version,
        query: parse_query(query),
        ..Default::default()
    };
    let rest: Vec<String> = rest.iter().map(|s| percent_decode(s)).collect();
    // `namespaces/{ns}/{resource}…`, except `namespaces/{name}/status|finalize` (the namespace's
    // own subresources).
    let parts: &[String] = if rest[0] == "namespaces"
        && rest.len() >= 3
        && !(rest.len() == 3 && (rest[2] == "status" || rest[2] == "finalize"))
    {
        info.namespace = rest[1].clone();
        &rest[2..]
    } else {
        &rest
    };
    if parts.len() > 3 {
        return None;
    }
    info.resource = parts[0].clone();
    info.name = parts.get(1).cloned().unwrap_or_default();
    info.subresource = parts.get(2).cloned().unwrap_or_default();
    let watch = matches!(info.q("watch"), Some("true") | Some("1"));
    info.verb = Verb::of(method, !info.name.is_empty(), watch);
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(method: Method, uri: &str) -> ReqInfo {
        parse_resource_path(&method, uri).unwrap_or_else(|| panic!("{uri} is a resource path"))
    }

    #[test]
    fn core_and_group_paths() {
        let i = parse(Method::GET, "/api/v1/namespaces/ns1/pods/p1");
        assert_eq!(
            (
                i.verb,
                i.group.as_str(),
                i.version.as_str(),
                i.resource.as_str()
            ),
            (Verb::Get, "", "v1", "pods")
        );
        assert_eq!(
            (
                i.namespace.as_str(),
                i.name.as_str(),
                i.subresource.as_str()
            ),
            ("ns1", "p1", "")
        );

        let i = parse(Method::GET, "/apis/ray.io/v1/rayclusters");
        assert_eq!((i.group.as_str(), i.version.as_str()), ("ray.io", "v1"));
        assert_eq!(
            (i.resource.as_str(), i.namespace.as_str(), i.name.as_str()),
            ("rayclusters", "", "")
        );
        assert_eq!(i.verb, Verb::List);
    }

    #[test]
    fn subresources_and_namespace_subresources() {
        let i = parse(
            Method::POST,
            "/api/v1/namespaces/ns1/pods/p1/exec?command=ls",
        );
        assert_eq!(
            (i.resource.as_str(), i.name.as_str(), i.subresource.as_str()),
            ("pods", "p1", "exec")
        );
        assert_eq!(i.verb, Verb::Create);

        // A namespace's own subresource, not "resource status in namespace ns1".
        let i = parse(Method::PUT, "/api/v1/namespaces/ns1/status");
        assert_eq!(
            (i.resource.as_str(), i.name.as_str(), i.subresource.as_str()),
            ("namespaces", "ns1", "status")
        );
        assert_eq!(i.namespace, "");
        let i = parse(Method::GET, "/api/v1/namespaces/ns1");
        assert_eq!(
            (i.resource.as_str(), i.name.as_str(), i.namespace.as_str()),
            ("namespaces", "ns1", "")
        );
        let i = parse(Method::GET, "/api/v1/namespaces");
        assert_eq!((i.resource.as_str(), i.verb), ("namespaces", Verb::List));

        let i = parse(
            Method::GET,
            "/apis/apps/v1/namespaces/a%20b/deployments/d/status",
        );
        assert_eq!(
            (i.namespace.as_str(), i.subresource.as_str()),
            ("a b", "status")
        );
    }

    #[test]
    fn non_resource_and_too_deep_paths() {
        for uri in [
            "/version",
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps",
            "/apis/apps/v1",
            "/healthz",
        ] {
            assert!(parse_resource_path(&Method::GET, uri).is_none(), "{uri}");
        }
        assert!(
            parse_resource_path(&Method::GET, "/api/v1/namespaces/n/pods/p/exec/extra").is_none()
        );
    }

    #[test]
    fn verbs_from_method_name_and_watch() {
        let verb = |m: Method, uri: &str| parse(m, uri).verb;
        assert_eq!(verb(Method::GET, "/api/v1/pods?watch=true"), Verb::Watch);
        assert_eq!(verb(Method::GET, "/api/v1/pods?watch=1"), Verb::Watch);
        assert_eq!(verb(Method::GET, "/api/v1/pods?watch=false"), Verb::List);
        assert_eq!(verb(Method::HEAD, "/api/v1/namespaces/n/pods/p"), Verb::Get);
        assert_eq!(
            verb(Method::PUT, "/api/v1/namespaces/n/pods/p"),
            Verb::Update
        );
        assert_eq!(
            verb(Method::PATCH, "/api/v1/namespaces/n/pods/p"),
            Verb::Patch
        );
        assert_eq!(
            verb(Method::DELETE, "/api/v1/namespaces/n/pods/p"),
            Verb::Delete
        );
        assert_eq!(
            verb(Method::DELETE, "/api/v1/namespaces/n/pods"),
            Verb::DeleteCollection
        );
        assert_eq!(verb(Method::OPTIONS, "/api/v1/pods"), Verb::Unknown);
        assert_eq!(Verb::DeleteCollection.as_str(), "deletecollection");
        assert_eq!(Verb::Watch.as_str(), "watch");
    }

    #[test]
    fn query_parsing_decodes_and_keeps_repeats() {
        let i = parse(
            Method::GET,
            "/api/v1/namespaces/n/pods/p/exec?command=sh&command=-c&command=echo+a%3Db&stdout=true&tty",
        );
        assert_eq!(i.q_all("command"), ["sh", "-c", "echo a=b"]);
        assert_eq!(i.q("stdout"), Some("true"));
        assert_eq!(i.q("tty"), Some(""));
        assert_eq!(i.q("stderr"), None);
        assert_eq!(
            parse_query("labelSelector=ray.io%2Fnode-type%3Dhead&&x=%zz"),
            [
                (
                    "labelSelector".to_string(),
                    "ray.io/node-type=head".to_string()
                ),
                ("x".to_string(), "%zz".to_string())
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
    }
}
