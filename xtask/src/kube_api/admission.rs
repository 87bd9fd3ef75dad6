//! Server-side dry runs (`dryRun=All`) of pod creates: admission, Pod Security included, decides
//! as for a real create, and nothing is stored. The answer keeps what kube's typed API drops: the
//! `Warning` headers (`299 - "would violate PodSecurity …"`).

use anyhow::{Context, Result};
use kube::{Client, client::Body};
use serde_json::Value;

/// What the API server answered a dry-run pod create.
#[derive(Debug, Clone, PartialEq)]
pub struct DryRunAnswer {
    /// 201 when admitted.
    pub code: u16,
    /// The refusal's Status message (empty when admitted).
    pub message: String,
    /// The `Warning` headers' texts, unquoted.
    pub warnings: Vec<String>,
}

impl DryRunAnswer {
    pub fn admitted(&self) -> bool {
        (200..300).contains(&self.code)
    }
}

/// `POST /api/v1/namespaces/NS/pods?dryRun=All` with `pod` (JSON).
pub async fn dry_run_pod_create(client: &Client, ns: &str, pod: &Value) -> Result<DryRunAnswer> {
    let request = http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("/api/v1/namespaces/{ns}/pods?dryRun=All"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json")
        .body(Body::from(serde_json::to_vec(pod)?))?;
    let response = client
        .send(request)
        .await
        .with_context(|| format!("dry-run pod create in namespace {ns}"))?;
    let code = response.status().as_u16();
    let warnings = response
        .headers()
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(warning_text)
        .collect();
    let body = response.into_body().collect_bytes().await?;
    let message = if (200..300).contains(&code) {
        String::new()
    } else {
        serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|s| s["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned())
    };
    Ok(DryRunAnswer {
        code,
        message,
        warnings,
    })
}

/// The text of a `Warning` header: `299 - "text"` (RFC 7234, Go-quoted by the API server).
fn warning_text(header: &str) -> String {
    header
        .strip_prefix("299 - ")
        .and_then(|q| pss::parse_go_quoted(q).map(|(text, _)| text))
        .unwrap_or_else(|| header.to_string())
}

/// A pod to dry-run from a pod template `{"metadata": …, "spec": …}`: named by the API server
/// from `generate_name`, in `ns`, with the template's labels.
pub fn pod_from_template(template: &Value, generate_name: &str, ns: &str) -> Value {
    let mut pod = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": generate_name, "namespace": ns},
        "spec": template["spec"].clone(),
    });
    if let Some(labels) = template["metadata"].get("labels") {
        pod["metadata"]["labels"] = labels.clone();
    }
    if let Some(spec) = pod["spec"].as_object_mut() {
        // A running pod's binding: a new pod is scheduled afresh.
        spec.remove("nodeName");
    }
    pod
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_headers_are_unquoted() {
        assert_eq!(
            warning_text(
                r#"299 - "would violate PodSecurity \"restricted:latest\": runAsNonRoot != true""#
            ),
            r#"would violate PodSecurity "restricted:latest": runAsNonRoot != true"#
        );
        assert_eq!(warning_text("something else"), "something else");
    }

    #[test]
    fn a_template_becomes_a_pod_with_a_generated_name_and_no_node() {
        let t = serde_json::json!({"metadata": {"labels": {"ray.io/node-type": "head"}, "name": "x"},
            "spec": {"nodeName": "n1", "containers": [{"name": "ray-head", "image": "i"}]}});
        let pod = pod_from_template(&t, "rc-head-", "ns");
        assert_eq!(pod["metadata"]["generateName"], "rc-head-");
        assert_eq!(pod["metadata"]["namespace"], "ns");
        assert!(pod["metadata"].get("name").is_none());
        assert_eq!(pod["metadata"]["labels"]["ray.io/node-type"], "head");
        assert!(pod["spec"].get("nodeName").is_none());
        assert_eq!(pod["spec"]["containers"][0]["name"], "ray-head");
    }
}
