//! helm's `--set` / `--set-string` syntax (pkg/strvals), reduced: `a.b=c,d=e`, `\,` and `\.`
//! escapes, lists as `{x,y}`, and helm's typing of `--set` values (`true`/`false`, `null`,
//! integers without a leading zero; everything else a string).

use serde_json::{Map, Value, json};

/// Parses one `--set` (or, with `strings`, `--set-string`) argument into a values tree.
pub fn parse(arg: &str, strings: bool) -> Result<Value, String> {
    let mut out = json!({});
    for pair in split_unescaped(arg, ',', true) {
        if pair.is_empty() {
            continue;
        }
        let Some((key, value)) = split_once_unescaped(&pair, '=') else {
            return Err(format!("key \"{}\" has no value", unescape(&pair)));
        };
        let value = if let Some(list) = value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
            Value::Array(
                split_unescaped(list, ',', false)
                    .iter()
                    .map(|v| typed(&unescape(v), strings))
                    .collect(),
            )
        } else {
            typed(&unescape(&value), strings)
        };
        let path: Vec<String> = split_unescaped(&key, '.', false)
            .iter()
            .map(|k| unescape(k))
            .collect();
        set_path(&mut out, &path, value);
    }
    Ok(out)
}

/// strvals' typedVal.
fn typed(v: &str, strings: bool) -> Value {
    if strings {
        return json!(v);
    }
    match v {
        "true" => return json!(true),
        "false" => return json!(false),
        "null" => return Value::Null,
        "0" => return json!(0),
        _ => {}
    }
    if !v.starts_with('0')
        && let Ok(n) = v.parse::<i64>()
    {
        return json!(n);
    }
    json!(v)
}

fn set_path(root: &mut Value, path: &[String], value: Value) {
    let mut cur = root;
    for (i, k) in path.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let m = cur.as_object_mut().expect("object");
        if i + 1 == path.len() {
            m.insert(k.clone(), value);
            return;
        }
        cur = m.entry(k.clone()).or_insert_with(|| json!({}));
    }
}

/// Splits on `sep` where it is not escaped (and, with `braces`, not inside `{…}`); escapes kept.
fn split_unescaped(s: &str, sep: char, braces: bool) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut depth = 0;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.last_mut().unwrap().push(c);
                if let Some(n) = chars.next() {
                    out.last_mut().unwrap().push(n);
                }
            }
            '{' if braces => {
                depth += 1;
                out.last_mut().unwrap().push(c);
            }
            '}' if braces => {
                depth -= 1;
                out.last_mut().unwrap().push(c);
            }
            c if c == sep && depth == 0 => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

fn split_once_unescaped(s: &str, sep: char) -> Option<(String, String)> {
    let parts = split_unescaped(s, sep, false);
    let (first, rest) = parts.split_first()?;
    (!rest.is_empty()).then(|| (first.clone(), rest.join(&sep.to_string())))
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_values_are_typed_like_helm() {
        assert_eq!(
            parse(
                "singleNamespaceInstall=true,image.tag=v1.5.1,replicas=2,x=012",
                false
            )
            .unwrap(),
            json!({"singleNamespaceInstall": true, "image": {"tag": "v1.5.1"}, "replicas": 2, "x": "012"})
        );
        assert_eq!(
            parse("watchNamespace={a,b},securityContext=null", false).unwrap(),
            json!({"watchNamespace": ["a", "b"], "securityContext": null})
        );
        assert_eq!(parse("a=true", true).unwrap(), json!({"a": "true"}));
        assert_eq!(
            parse("labels.app\\.kubernetes\\.io/x=y\\,z", false).unwrap(),
            json!({"labels": {"app.kubernetes.io/x": "y,z"}})
        );
        assert!(parse("novalue", false).is_err());
    }
}
