//! The fake apiserver's storage: one etcd-like keyspace per cluster with a global resourceVersion,
//! a bounded event history (so watches can resume from a resourceVersion, and get 410 Gone when it
//! was compacted away) and a broadcast channel for live watchers.

use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

use crate::util;

/// Storage key: resource id (`pods`, `deployments.apps`, `rayclusters.ray.io`), namespace ("" for
/// cluster-scoped objects), name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub res: String,
    pub ns: String,
    pub name: String,
}

impl Key {
    pub fn new(res: &str, ns: &str, name: &str) -> Self {
        Key {
            res: res.into(),
            ns: ns.into(),
            name: name.into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug)]
pub struct WatchEvent {
    pub rv: u64,
    pub typ: EventType,
    pub key: Key,
    pub obj: Value,
}

#[derive(Debug)]
pub enum StoreError {
    AlreadyExists,
    NotFound,
    Conflict,
    Invalid(String),
}

struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    log: VecDeque<Arc<WatchEvent>>,
    /// Watches from a resourceVersion below this get 410 Gone.
    compacted_rv: u64,
}

const LOG_CAP: usize = 20_000;

pub struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<WatchEvent>>,
}

pub enum WatchStart {
    /// Events after the requested resourceVersion that are still in history, plus a live receiver.
    Ok(Vec<Arc<WatchEvent>>, broadcast::Receiver<Arc<WatchEvent>>),
    /// The requested resourceVersion is older than the compaction point: (requested, oldest kept).
    Gone(u64, u64),
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(8192);
        Store {
            inner: Mutex::new(Inner {
                rv: 100,
                objects: BTreeMap::new(),
                log: VecDeque::new(),
                compacted_rv: 0,
            }),
            tx,
        }
    }

    fn push(&self, inner: &mut Inner, ev: WatchEvent) {
        let ev = Arc::new(ev);
        inner.log.push_back(ev.clone());
        while inner.log.len() > LOG_CAP {
            if let Some(old) = inner.log.pop_front() {
                inner.compacted_rv = inner.compacted_rv.max(old.rv);
            }
        }
        let _ = self.tx.send(ev);
    }

    pub fn current_rv(&self) -> u64 {
        self.inner.lock().unwrap().rv
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<WatchEvent>> {
        self.tx.subscribe()
    }

    /// Drop all history: a watch resuming from any earlier resourceVersion now gets 410 Gone.
    pub fn compact(&self) {
        let mut inner = self.inner.lock().unwrap();
        inner.compacted_rv = inner.rv;
        inner.log.clear();
    }

    pub fn get(&self, key: &Key) -> Option<Value> {
        self.inner.lock().unwrap().objects.get(key).cloned()
    }

    /// Objects of a resource, optionally in one namespace, plus the store's resourceVersion.
    pub fn list(&self, res: &str, ns: Option<&str>) -> (Vec<Value>, u64) {
        let inner = self.inner.lock().unwrap();
        let items = inner
            .objects
            .iter()
            .filter(|(k, _)| k.res == res && ns.is_none_or(|n| k.ns == n))
            .map(|(_, v)| v.clone())
            .collect();
        (items, inner.rv)
    }

    pub fn list_all_in_ns(&self, ns: &str) -> Vec<(Key, Value)> {
        let inner = self.inner.lock().unwrap();
        inner
            .objects
            .iter()
            .filter(|(k, _)| k.ns == ns)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Create an object: fills uid, creationTimestamp, resourceVersion (and generation when asked).
    pub fn create(
        &self,
        key: Key,
        mut obj: Value,
        with_generation: bool,
    ) -> Result<Value, StoreError> {
        let mut inner = self.inner.lock().unwrap();
        if inner.objects.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        inner.rv += 1;
        let rv = inner.rv;
        {
            let meta = obj
                .as_object_mut()
                .ok_or_else(|| StoreError::Invalid("object is not a JSON object".into()))?
                .entry("metadata")
                .or_insert_with(|| json!({}));
            let m = meta
                .as_object_mut()
                .ok_or_else(|| StoreError::Invalid("metadata".into()))?;
            m.insert("name".into(), json!(key.name));
            if !key.ns.is_empty() {
                m.insert("namespace".into(), json!(key.ns));
            }
            if m.get("uid")
                .and_then(|u| u.as_str())
                .is_none_or(|u| u.is_empty())
            {
                m.insert("uid".into(), json!(util::new_uid()));
            }
            m.insert("resourceVersion".into(), json!(rv.to_string()));
            if with_generation {
                m.insert("generation".into(), json!(1));
            }
            m.insert("creationTimestamp".into(), json!(util::now_rfc3339()));
            m.remove("deletionTimestamp");
        }
        inner.objects.insert(key.clone(), obj.clone());
        self.push(
            &mut inner,
            WatchEvent {
                rv,
                typ: EventType::Added,
                key,
                obj: obj.clone(),
            },
        );
        Ok(obj)
    }

    /// Mutate an object in place. The closure returns false for "no change" (no RV bump, no event).
    pub fn update<F>(&self, key: &Key, expect_rv: Option<&str>, f: F) -> Result<Value, StoreError>
    where
        F: FnOnce(&mut Value) -> Result<bool, StoreError>,
    {
        let mut inner = self.inner.lock().unwrap();
        let cur = inner
            .objects
            .get(key)
            .cloned()
            .ok_or(StoreError::NotFound)?;
        if let Some(exp) = expect_rv.filter(|e| !e.is_empty())
            && util::get_str(&cur, &["metadata", "resourceVersion"]) != Some(exp)
        {
            return Err(StoreError::Conflict);
        }
        let mut new = cur.clone();
        if !f(&mut new)? {
            return Ok(cur);
        }
        // Identity fields are immutable.
        for f in ["uid", "creationTimestamp", "name", "namespace"] {
            if let Some(v) = cur.pointer(&format!("/metadata/{f}")) {
                new["metadata"][f] = v.clone();
            }
        }
        inner.rv += 1;
        let rv = inner.rv;
        new["metadata"]["resourceVersion"] = json!(rv.to_string());
        inner.objects.insert(key.clone(), new.clone());
        self.push(
            &mut inner,
            WatchEvent {
                rv,
                typ: EventType::Modified,
                key: key.clone(),
                obj: new.clone(),
            },
        );
        Ok(new)
    }

    pub fn delete(&self, key: &Key) -> Option<Value> {
        let mut inner = self.inner.lock().unwrap();
        let mut obj = inner.objects.remove(key)?;
        inner.rv += 1;
        let rv = inner.rv;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.push(
            &mut inner,
            WatchEvent {
                rv,
                typ: EventType::Deleted,
                key: key.clone(),
                obj: obj.clone(),
            },
        );
        Some(obj)
    }

    /// Start a watch of `res` (optionally in one namespace) after resourceVersion `from`.
    /// `from == None` means "current state as ADDED events, then changes".
    pub fn watch(&self, res: &str, ns: Option<&str>, from: Option<u64>) -> WatchStart {
        let inner = self.inner.lock().unwrap();
        let rx = self.tx.subscribe();
        let matches = |k: &Key| k.res == res && ns.is_none_or(|n| k.ns == n);
        match from {
            None => {
                let evs = inner
                    .objects
                    .iter()
                    .filter(|(k, _)| matches(k))
                    .map(|(k, v)| {
                        let rv = util::get_str(v, &["metadata", "resourceVersion"])
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(inner.rv);
                        Arc::new(WatchEvent {
                            rv,
                            typ: EventType::Added,
                            key: k.clone(),
                            obj: v.clone(),
                        })
                    })
                    .collect();
                // Live events must be newer than the snapshot: the receiver filters by rv.
                WatchStart::Ok(evs, rx)
            }
            Some(rv) => {
                if rv < inner.compacted_rv {
                    return WatchStart::Gone(rv, inner.compacted_rv);
                }
                let evs = inner
                    .log
                    .iter()
                    .filter(|e| e.rv > rv && matches(&e.key))
                    .cloned()
                    .collect();
                WatchStart::Ok(evs, rx)
            }
        }
    }
}
