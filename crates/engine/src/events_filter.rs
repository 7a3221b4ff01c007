//! `holm events --filter KEY=VALUE` and the API's `filters` parameter: docker's event filters
//! (moby `daemon/events/filter.go`). Values of one key are alternatives; different keys must all hold.
//!
//! - `type=container|image|volume|network|…`, `event=ACTION` (exact; `health_status`, `exec_create` and
//!   `exec_start` also match `health_status: healthy`, … as docker's), `scope=local|swarm`;
//! - `container=`, `volume=`, `network=` (also `daemon`, `plugin`, `node`, `service`, `secret`, `config`): the
//!   actor's id or `name` attribute, equal or a prefix of it — so, as in docker, they exclude events of other
//!   types, whose actor does not match;
//! - `image=`: the actor's id, its `image` attribute (`name` for image events), each also without its tag;
//! - `label=KEY` or `label=KEY=VALUE`: an attribute (every label given must hold).

use crate::{Error, Result};
use std::collections::BTreeMap;

/// The keys docker accepts.
const KEYS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

/// Parsed event filters: key → values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(BTreeMap<String, Vec<String>>);

fn invalid(value: &str, why: String) -> Error {
    Error::flag("--filter", value, why)
}

impl Filters {
    /// Parses `--filter` values (`KEY=VALUE` each). Errors: one without `=`, or an unknown key (docker's words).
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<Filters> {
        let mut f = Filters::default();
        for a in args {
            let a = a.as_ref();
            let Some((k, v)) = a.split_once('=') else {
                return Err(invalid(
                    a,
                    "bad format of filter (expected name=value)".into(),
                ));
            };
            f.add(k.trim(), v)?;
        }
        Ok(f)
    }

    /// Parses the API's `filters` query value: docker's JSON, `{"type":["container"]}` or the older
    /// `{"type":{"container":true}}`. An empty string is no filter.
    pub fn from_json(s: &str) -> Result<Filters> {
        let mut f = Filters::default();
        if s.trim().is_empty() {
            return Ok(f);
        }
        let v: serde_json::Value =
            serde_json::from_str(s).map_err(|e| invalid(s, format!("invalid filter: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| invalid(s, "invalid filter: expected a JSON object".into()))?;
        for (k, vals) in obj {
            match vals {
                serde_json::Value::Array(a) => {
                    for x in a {
                        let s = x.as_str().ok_or_else(|| {
                            invalid(s, format!("invalid filter '{k}': values must be strings"))
                        })?;
                        f.add(k, s)?;
                    }
                }
                serde_json::Value::Object(m) => {
                    for (x, on) in m {
                        if on.as_bool() == Some(true) {
                            f.add(k, x)?;
                        }
                    }
                }
                _ => return Err(invalid(s, format!("invalid filter '{k}'"))),
            }
        }
        Ok(f)
    }

    fn add(&mut self, k: &str, v: &str) -> Result<()> {
        if !KEYS.contains(&k) {
            return Err(invalid(
                &format!("{k}={v}"),
                format!("invalid filter '{k}'"),
            ));
        }
        self.0.entry(k.to_string()).or_default().push(v.to_string());
        Ok(())
    }

    /// True if no filter is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// docker's `ExactMatch`: no values for `key`, or one equal to `s`.
    fn exact(&self, key: &str, s: &str) -> bool {
        self.0.get(key).is_none_or(|vs| vs.iter().any(|v| v == s))
    }

    /// docker's `FuzzyMatch`: no values for `key`, or one that is `s` or a prefix of it.
    fn fuzzy(&self, key: &str, s: &str) -> bool {
        self.0
            .get(key)
            .is_none_or(|vs| vs.iter().any(|v| s.starts_with(v.as_str())))
    }

    fn name_or_id(&self, key: &str, ev: &crate::events::Event) -> bool {
        let name = ev.actor.attributes.get("name").map_or("", String::as_str);
        match self.0.get(key) {
            None => true,
            Some(_) => self.fuzzy(key, &ev.actor.id) || (!name.is_empty() && self.fuzzy(key, name)),
        }
    }

    fn event(&self, ev: &crate::events::Event) -> bool {
        let Some(vs) = self.0.get("event") else {
            return true;
        };
        let prefixed = ["health_status", "exec_create", "exec_start", "exec_die"];
        if vs.iter().any(|v| prefixed.contains(&v.as_str())) {
            // docker #25798: these match with the `: …` part too.
            vs.iter().any(|v| {
                ev.action == *v
                    || (prefixed.contains(&v.as_str()) && ev.action.starts_with(&format!("{v}:")))
            })
        } else {
            self.exact("event", &ev.action)
        }
    }

    fn image(&self, ev: &crate::events::Event) -> bool {
        if !self.0.contains_key("image") {
            return true;
        }
        let attr = if ev.typ == "image" { "name" } else { "image" };
        let name = ev.actor.attributes.get(attr).map_or("", String::as_str);
        let strip = |s: &str| -> String {
            // the tag after the last `:` that is not part of a registry's port (no `/` after it)
            match s.rfind(':') {
                Some(i) if !s[i..].contains('/') && !s.starts_with("sha256:") => s[..i].to_string(),
                _ => s.to_string(),
            }
        };
        let any = |s: &str| !s.is_empty() && self.0["image"].iter().any(|v| v == s);
        any(&ev.actor.id) || any(name) || any(&strip(&ev.actor.id)) || any(&strip(name))
    }

    fn labels(&self, ev: &crate::events::Event) -> bool {
        self.0.get("label").is_none_or(|vs| {
            vs.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => ev.actor.attributes.get(k).is_some_and(|x| x == v),
                None => ev.actor.attributes.contains_key(l.as_str()),
            })
        })
    }

    /// True if `ev` passes every filter.
    pub fn matches(&self, ev: &crate::events::Event) -> bool {
        self.event(ev)
            && self.exact("type", &ev.typ)
            && self.exact("scope", &ev.scope)
            && [
                "container",
                "volume",
                "network",
                "daemon",
                "plugin",
                "node",
                "service",
                "secret",
                "config",
            ]
            .iter()
            .all(|k| self.name_or_id(k, ev))
            && self.image(ev)
            && self.labels(ev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Event;

    fn ev(typ: &str, action: &str, id: &str, attrs: &[(&str, &str)]) -> Event {
        let a: Vec<(&str, String)> = attrs.iter().map(|(k, v)| (*k, v.to_string())).collect();
        Event::of(typ, action, id, &a)
    }

    #[test]
    fn keys_and_values() {
        let c = ev(
            "container",
            "start",
            "abcdef",
            &[("name", "web"), ("image", "busybox:1"), ("x", "1")],
        );
        let i = ev("image", "tag", "sha256:11", &[("name", "busybox:2")]);
        let m = |args: &[&str], e: &Event| Filters::parse(args).unwrap().matches(e);
        assert!(m(&[], &c));
        assert!(m(&["type=container"], &c) && !m(&["type=container"], &i));
        assert!(m(&["type=image", "type=container"], &i));
        assert!(m(&["container=abc"], &c) && m(&["container=web"], &c));
        assert!(
            !m(&["container=web"], &i),
            "docker: a container filter drops other types"
        );
        assert!(!m(&["container=zz"], &c));
        assert!(m(&["event=start"], &c) && !m(&["event=sta"], &c));
        assert!(
            m(&["image=busybox"], &c)
                && m(&["image=busybox:1"], &c)
                && !m(&["image=busybox:2"], &c)
        );
        assert!(m(&["image=busybox:2"], &i) && m(&["image=sha256:11"], &i));
        assert!(m(&["label=x"], &c) && m(&["label=x=1"], &c) && !m(&["label=x=2"], &c));
        assert!(!m(&["label=x", "label=y"], &c));
        let h = ev("container", "health_status: healthy", "abc", &[]);
        assert!(m(&["event=health_status"], &h) && !m(&["event=die"], &h));
        assert!(Filters::parse(&["nope=1"]).is_err() && Filters::parse(&["type"]).is_err());
    }

    #[test]
    fn api_json() {
        let f =
            Filters::from_json(r#"{"type":["container"],"event":{"die":true,"x":false}}"#).unwrap();
        assert_eq!(f, Filters::parse(&["type=container", "event=die"]).unwrap());
        assert!(Filters::from_json("").unwrap().is_empty());
        assert!(Filters::from_json("[1]").is_err());
    }
}
