//! Manifests: multi-document YAML files of Kubernetes objects, and the one change the harness
//! makes to them (the pinned Ray image).

use std::path::Path;

use anyhow::{Context, Result, bail};
use kube::api::DynamicObject;
use serde_json::Value;

/// Every object in a YAML file, in order (empty and comment-only documents are skipped).
pub fn read(path: &Path) -> Result<Vec<DynamicObject>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(path, &text)
}

pub fn parse(path: &Path, text: &str) -> Result<Vec<DynamicObject>> {
    let objects: Vec<DynamicObject> = serde_saphyr::from_multiple(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(":{}:{}", l.line(), l.column()))
            .unwrap_or_default();
        anyhow::anyhow!("{}{at}: {}", path.display(), e.without_snippet())
    })?;
    for (i, o) in objects.iter().enumerate() {
        if o.types.is_none() || o.metadata.name.is_none() {
            bail!(
                "{}: document {} has no apiVersion/kind or no metadata.name",
                path.display(),
                i + 1
            );
        }
    }
    Ok(objects)
}

pub fn kind_of(obj: &DynamicObject) -> &str {
    obj.types.as_ref().map(|t| t.kind.as_str()).unwrap_or("")
}

/// The pod templates of a RayCluster: head group and every worker group.
fn raycluster_templates(spec: &mut Value) -> Vec<&mut Value> {
    let mut out = Vec::new();
    let Some(spec) = spec.as_object_mut() else {
        return out;
    };
    let (mut head, mut workers) = (None, None);
    for (k, v) in spec.iter_mut() {
        match k.as_str() {
            "headGroupSpec" => head = v.get_mut("template"),
            "workerGroupSpecs" => workers = v.as_array_mut(),
            _ => {}
        }
    }
    out.extend(head);
    for w in workers.into_iter().flatten() {
        out.extend(w.get_mut("template"));
    }
    out
}

/// Sets `image` on every container and init container of every RayCluster's pod templates and
/// returns the images it replaced (distinct, in order).
pub fn set_ray_image(objects: &mut [DynamicObject], image: &str) -> Vec<String> {
    let mut replaced = Vec::new();
    for obj in objects.iter_mut().filter(|o| kind_of(o) == "RayCluster") {
        let Some(spec) = obj.data.get_mut("spec") else {
            continue;
        };
        for template in raycluster_templates(spec) {
            for list in ["initContainers", "containers"] {
                let Some(containers) = template
                    .pointer_mut(&format!("/spec/{list}"))
                    .and_then(Value::as_array_mut)
                else {
                    continue;
                };
                for c in containers {
                    if let Some(old) = c.get("image").and_then(Value::as_str).map(str::to_string)
                        && old != image
                        && !replaced.contains(&old)
                    {
                        replaced.push(old);
                    }
                    c["image"] = Value::String(image.to_string());
                }
            }
        }
    }
    replaced
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn project(path: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
    }

    #[test]
    fn the_compliant_manifest_holds_the_raycluster_and_the_script() {
        let objs = read(&project("manifests/ray-cluster.pod-security.yaml")).unwrap();
        let kinds: Vec<&str> = objs.iter().map(kind_of).collect();
        assert_eq!(kinds, ["RayCluster", "ConfigMap"]);
        assert!(
            objs[1].data["data"]["xgboost_example.py"]
                .as_str()
                .unwrap()
                .contains("XGBoostTrainer(")
        );
    }

    #[test]
    fn ray_image_is_set_on_head_and_workers() {
        let mut objs = read(&project("manifests/ray-cluster.pod-security.yaml")).unwrap();
        let replaced = set_ray_image(&mut objs, "rayproject/ray-ml:2.4.0-cpu");
        assert_eq!(replaced, ["rayproject/ray-ml:2.4.0"]);
        let spec = &objs[0].data["spec"];
        assert_eq!(
            spec["headGroupSpec"]["template"]["spec"]["containers"][0]["image"],
            "rayproject/ray-ml:2.4.0-cpu"
        );
        assert_eq!(
            spec["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["image"],
            "rayproject/ray-ml:2.4.0-cpu"
        );
        assert!(set_ray_image(&mut objs, "rayproject/ray-ml:2.4.0-cpu").is_empty());
    }

    #[test]
    fn a_document_without_kind_is_an_error() {
        let err = parse(
            Path::new("m.yaml"),
            "apiVersion: v1\nmetadata:\n  name: x\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("m.yaml"), "{err}");
    }

    #[test]
    fn bad_yaml_names_the_line() {
        let err = parse(
            Path::new("m.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("m.yaml:"), "{err}");
    }
}
