//! Query strings and request bodies: docker's boolean forms, JSON `filters`, bounded body reads.

use crate::error::ApiError;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::collections::BTreeMap;

/// The largest JSON request body taken (docker sets none; a create or exec body is a few KiB).
pub const MAX_JSON_BODY: usize = 1 << 20;

/// A request's query parameters (the last value of a repeated key wins, as Go's `Get`).
#[derive(Debug, Default)]
pub struct Query(BTreeMap<String, String>, Vec<(String, String)>);

impl Query {
    /// Parses `a=1&b=x` (percent-decoded).
    pub fn parse(q: Option<&str>) -> Query {
        let all: Vec<(String, String)> = form_urlencoded::parse(q.unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        Query(all.iter().cloned().collect(), all)
    }

    /// Every value of a repeated key (`names=a&names=b`).
    pub fn get_all(&self, k: &str) -> Vec<String> {
        self.1
            .iter()
            .filter(|(x, _)| x == k)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A value.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    /// docker's boolean: absent, empty, `0`, `false`, `no` are false.
    pub fn flag(&self, k: &str) -> bool {
        self.get(k)
            .is_some_and(|v| !matches!(v.to_ascii_lowercase().as_str(), "" | "0" | "false" | "no"))
    }

    /// An integer parameter; a bad one is a 400 naming it.
    pub fn int(&self, k: &str) -> Result<Option<i64>, ApiError> {
        match self.get(k).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad(format!("invalid value for {k}: {v:?}: expected an integer"))
            }),
        }
    }

    /// `filters`: docker's JSON `{"key": ["v", …]}` (or the old `{"key": {"v": true}}`).
    pub fn filters(&self) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
        let Some(f) = self.get("filters").filter(|f| !f.is_empty()) else {
            return Ok(BTreeMap::new());
        };
        let v: serde_json::Value =
            serde_json::from_str(f).map_err(|e| ApiError::bad(format!("invalid filter: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| ApiError::bad("invalid filter: expected a JSON object"))?;
        let mut out = BTreeMap::new();
        for (k, vals) in obj {
            let list = match vals {
                serde_json::Value::Array(a) => a
                    .iter()
                    .map(|x| x.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>(),
                serde_json::Value::Object(m) => Some(m.keys().cloned().collect()),
                _ => None,
            }
            .ok_or_else(|| ApiError::bad(format!("invalid filter {k:?}: expected strings")))?;
            out.insert(k.clone(), list);
        }
        Ok(out)
    }

    /// [`Query::filters`] of a `prune` endpoint that honours only the keys in `known`: any other key (docker's
    /// `until`, `label!=`, …) is a 400 naming it, so a prune never removes more than the filter asked for.
    pub fn prune_filters(
        &self,
        what: &str,
        known: &[&str],
    ) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
        let f = self.filters()?;
        if let Some(k) = f.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(ApiError::bad(format!(
                "invalid filter '{k}': holm's {what} prune takes {}",
                if known.is_empty() {
                    "no filters".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
        Ok(f)
    }
}

/// Reads a whole request body of at most `max` bytes (413 beyond, with docker's message style).
pub async fn read_body(body: Incoming, max: usize) -> Result<Bytes, ApiError> {
    let limited = http_body_util::Limited::new(body, max);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::new(
            hyper::StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body too large (over {max} bytes)"),
        )),
        Err(e) => Err(ApiError::bad(format!("read the request body: {e}"))),
    }
}

/// Reads a JSON request body (empty: `T::default()`) into `T`; malformed JSON is a 400 naming what is wrong.
pub async fn read_json<T: serde::de::DeserializeOwned + Default>(
    body: Incoming,
) -> Result<T, ApiError> {
    let b = read_body(body, MAX_JSON_BODY).await?;
    if b.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let mut v: serde_json::Value =
        serde_json::from_slice(&b).map_err(|e| ApiError::bad(format!("invalid JSON body: {e}")))?;
    // Go clients send `null` for empty fields (docker-py: `"Memory": null`), which Go reads as zero values.
    strip_nulls(&mut v);
    serde_json::from_value(v).map_err(|e| ApiError::bad(format!("invalid JSON body: {e}")))
}

/// Removes the `null` members of objects, recursively.
fn strip_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}
