//! Executing a parsed template over a JSON value, with Go's semantics where JSON has them: a missing key is
//! `<no value>` (docker's fallback to the raw JSON), truth is Go's (false, 0, null, "" and empty lists/objects are
//! false), `range` over a list or an object (sorted keys) or nothing, variables scoped to their block.
//!
//! Functions: Go's `and or not len index print printf println eq ne lt le gt ge`, and docker's `json join split
//! lower upper title truncate pad`. `index` of a missing object key gives `""` (docker's labels are
//! `map[string]string`). One extension for docker's `{{.Label "k"}}`: a field followed by arguments indexes into
//! the field's object.

use super::gofmt;
use super::parse::{Block, Cmd, Node, Operand, Pipeline};
use super::{Error, Val};
use serde_json::Value;

/// Executes `nodes` with `dot` (and `$`) set to `data`.
pub fn execute(nodes: &[Node], data: &Value, header: bool) -> Result<String, Error> {
    let mut x = Exec {
        vars: vec![(String::new(), data.clone())],
        out: String::new(),
        header,
    };
    x.walk(nodes, data)?;
    Ok(x.out)
}

struct Exec {
    vars: Vec<(String, Value)>,
    out: String,
    /// Header mode (a `table` format's first line): docker's header functions return their argument unchanged.
    header: bool,
}

/// Go's truth of a value.
pub fn truth(v: &Val) -> bool {
    match v {
        Val::NoValue => false,
        Val::V(j) => match j {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
        },
    }
}

fn json_of(v: Val) -> Value {
    match v {
        Val::V(j) => j,
        Val::NoValue => Value::Null,
    }
}

impl Exec {
    fn walk(&mut self, nodes: &[Node], dot: &Value) -> Result<(), Error> {
        for n in nodes {
            match n {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipeline(p, dot)?;
                    if p.vars.is_empty() {
                        self.out.push_str(&gofmt::v(&v));
                    }
                }
                Node::If(b) => self.scoped(|x| {
                    let v = x.pipeline(&b.pipe, dot)?;
                    x.walk(if truth(&v) { &b.then } else { &b.otherwise }, dot)
                })?,
                Node::With(b) => self.scoped(|x| {
                    let v = x.pipeline(&b.pipe, dot)?;
                    if truth(&v) {
                        x.walk(&b.then, &json_of(v))
                    } else {
                        x.walk(&b.otherwise, dot)
                    }
                })?,
                Node::Range(b) => self.range(b, dot)?,
            }
        }
        Ok(())
    }

    /// Runs `f` and drops the variables it declared.
    fn scoped(&mut self, f: impl FnOnce(&mut Self) -> Result<(), Error>) -> Result<(), Error> {
        let mark = self.vars.len();
        let r = f(self);
        self.vars.truncate(mark);
        r
    }

    fn range(&mut self, b: &Block, dot: &Value) -> Result<(), Error> {
        let mark = self.vars.len();
        // the range's own pipeline declares per-element variables: evaluate without them
        let plain = Pipeline {
            vars: Vec::new(),
            declare: false,
            cmds: b.pipe.cmds.clone(),
        };
        let v = json_of(self.pipeline(&plain, dot)?);
        let items: Vec<(Value, Value)> = match v {
            Value::Null => Vec::new(),
            Value::Array(a) => a
                .into_iter()
                .enumerate()
                .map(|(i, e)| (Value::from(i), e))
                .collect(),
            Value::Object(o) => {
                let mut kv: Vec<(String, Value)> = o.into_iter().collect();
                kv.sort_by(|a, b| a.0.cmp(&b.0));
                kv.into_iter().map(|(k, e)| (Value::String(k), e)).collect()
            }
            Value::Number(n) if n.as_u64().is_some() => (0..n.as_u64().unwrap_or(0))
                .map(|i| (Value::from(i), Value::from(i)))
                .collect(),
            other => {
                return Err(Error::new(format!(
                    "range can't iterate over {}",
                    gofmt::v(&Val::V(other))
                )))
            }
        };
        if items.is_empty() {
            return self.scoped(|x| x.walk(&b.otherwise, dot));
        }
        for (k, e) in items {
            self.vars.truncate(mark);
            match b.pipe.vars.as_slice() {
                [] => {}
                [v] => self.vars.push((v.clone(), e.clone())),
                [kname, vname, ..] => {
                    self.vars.push((kname.clone(), k));
                    self.vars.push((vname.clone(), e.clone()));
                }
            }
            self.walk(&b.then, &e)?;
        }
        self.vars.truncate(mark);
        Ok(())
    }

    fn pipeline(&mut self, p: &Pipeline, dot: &Value) -> Result<Val, Error> {
        let mut prev: Option<Val> = None;
        for c in &p.cmds {
            prev = Some(self.cmd(c, dot, prev)?);
        }
        let v = prev.unwrap_or(Val::NoValue);
        for name in &p.vars {
            let val = json_of(v.clone());
            if p.declare {
                self.vars.push((name.clone(), val));
            } else {
                let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) else {
                    return Err(Error::new(format!("undefined variable: ${name}")));
                };
                slot.1 = val;
            }
        }
        Ok(v)
    }

    fn cmd(&mut self, c: &Cmd, dot: &Value, prev: Option<Val>) -> Result<Val, Error> {
        if let Operand::Func(name) = &c.args[0] {
            let mut args = Vec::new();
            for a in &c.args[1..] {
                args.push(self.operand(a, dot)?);
            }
            args.extend(prev);
            return self.call(name, args);
        }
        let first = self.operand(&c.args[0], dot)?;
        if c.args.len() == 1 && prev.is_none() {
            return Ok(first);
        }
        // docker's `{{.Label "k"}}`: a field with arguments indexes into its object
        let is_field =
            matches!(&c.args[0], Operand::Field(f) | Operand::Var(_, f) if !f.is_empty());
        if !is_field {
            return Err(Error::new("can't give argument to non-function"));
        }
        if self.header {
            return Ok(first);
        }
        let mut keys = Vec::new();
        for a in &c.args[1..] {
            keys.push(self.operand(a, dot)?);
        }
        keys.extend(prev);
        let mut args = vec![first];
        args.extend(keys);
        self.call("index", args)
    }

    fn operand(&mut self, o: &Operand, dot: &Value) -> Result<Val, Error> {
        Ok(match o {
            Operand::Field(names) => lookup(dot, names)?,
            Operand::Var(name, names) => {
                let Some((_, v)) = self.vars.iter().rev().find(|(n, _)| n == name) else {
                    return Err(Error::new(format!("undefined variable: ${name}")));
                };
                lookup(v, names)?
            }
            Operand::Paren(p, names) => match self.pipeline(p, dot)? {
                Val::V(v) => lookup(&v, names)?,
                Val::NoValue if names.is_empty() => Val::NoValue,
                Val::NoValue => {
                    return Err(Error::new(format!("nil pointer evaluating .{}", names[0])))
                }
            },
            Operand::Func(name) => self.call(name, Vec::new())?,
            Operand::Str(s) => Val::V(Value::String(s.clone())),
            Operand::Int(i) => Val::V(Value::from(*i)),
            Operand::Float(f) => Val::V(Value::from(*f)),
            Operand::Bool(b) => Val::V(Value::Bool(*b)),
            Operand::Nil => Val::V(Value::Null),
        })
    }

    fn call(&mut self, name: &str, args: Vec<Val>) -> Result<Val, Error> {
        let want = |n: usize| -> Result<(), Error> {
            if args.len() == n {
                Ok(())
            } else {
                Err(Error::new(format!(
                    "wrong number of args for {name}: want {n} got {}",
                    args.len()
                )))
            }
        };
        let s = |v: &Val| gofmt::v(v);
        let string = |v: String| Ok(Val::V(Value::String(v)));
        if self.header
            && [
                "json", "join", "split", "lower", "upper", "title", "truncate", "pad",
            ]
            .contains(&name)
        {
            return Ok(args.into_iter().next().unwrap_or(Val::NoValue));
        }
        match name {
            "and" | "or" => {
                if args.is_empty() {
                    return Err(Error::new(format!(
                        "wrong number of args for {name}: want at least 1 got 0"
                    )));
                }
                let stop = |v: &Val| if name == "and" { !truth(v) } else { truth(v) };
                let n = args.len();
                Ok(args
                    .into_iter()
                    .enumerate()
                    .find(|(i, v)| stop(v) || *i == n - 1)
                    .map(|(_, v)| v)
                    .unwrap_or(Val::NoValue))
            }
            "not" => {
                want(1)?;
                Ok(Val::V(Value::Bool(!truth(&args[0]))))
            }
            "len" => {
                want(1)?;
                let n = match &args[0] {
                    Val::V(Value::String(x)) => x.len(),
                    Val::V(Value::Array(a)) => a.len(),
                    Val::V(Value::Object(o)) => o.len(),
                    v => return Err(Error::new(format!("len of {}", s(v)))),
                };
                Ok(Val::V(Value::from(n)))
            }
            "index" => {
                let mut it = args.into_iter();
                let mut cur = it.next().ok_or_else(|| {
                    Error::new("wrong number of args for index: want at least 1 got 0")
                })?;
                for k in it {
                    cur =
                        match (&cur, &k) {
                            (Val::V(Value::Array(a)), Val::V(Value::Number(n))) => {
                                let i = n.as_u64().ok_or_else(|| {
                                    Error::new(format!("index out of range: {n}"))
                                })?;
                                Val::V(a.get(i as usize).cloned().ok_or_else(|| {
                                    Error::new(format!("index out of range: {i}"))
                                })?)
                            }
                            (Val::V(Value::Object(o)), Val::V(Value::String(key))) => Val::V(
                                o.get(key)
                                    .cloned()
                                    .unwrap_or_else(|| Value::String(String::new())),
                            ),
                            (Val::V(Value::Null) | Val::NoValue, _) => {
                                Val::V(Value::String(String::new()))
                            }
                            _ => {
                                return Err(Error::new(format!(
                                    "can't index {} with {}",
                                    s(&cur),
                                    s(&k)
                                )))
                            }
                        };
                }
                Ok(cur)
            }
            "print" => string(gofmt::sprint(&args)),
            "println" => string(gofmt::sprintln(&args)),
            "printf" => {
                let Some(Val::V(Value::String(f))) = args.first() else {
                    return Err(Error::new(
                        "printf: the first argument must be a format string",
                    ));
                };
                string(gofmt::sprintf(f, &args[1..]))
            }
            "eq" | "ne" => {
                if args.len() < 2 {
                    return Err(Error::new(format!("missing argument for {name}")));
                }
                let eq = args[1..].iter().any(|b| equal(&args[0], b));
                Ok(Val::V(Value::Bool(if name == "eq" { eq } else { !eq })))
            }
            "lt" | "le" | "gt" | "ge" => {
                want(2)?;
                let ord = compare(&args[0], &args[1])?;
                use std::cmp::Ordering::*;
                let r = match name {
                    "lt" => ord == Less,
                    "le" => ord != Greater,
                    "gt" => ord == Greater,
                    _ => ord != Less,
                };
                Ok(Val::V(Value::Bool(r)))
            }
            "json" => {
                want(1)?;
                let j = json_of(args.into_iter().next().unwrap_or(Val::NoValue));
                string(serde_json::to_string(&j).map_err(|e| Error::new(format!("json: {e}")))?)
            }
            "join" => {
                want(2)?;
                let Val::V(Value::Array(a)) = &args[0] else {
                    return Err(Error::new(format!("join: {} is not a list", s(&args[0]))));
                };
                let items: Vec<String> = a.iter().map(|e| s(&Val::V(e.clone()))).collect();
                string(items.join(&s(&args[1])))
            }
            "split" => {
                want(2)?;
                let parts: Vec<Value> = s(&args[0])
                    .split(s(&args[1]).as_str())
                    .map(|p| Value::String(p.to_string()))
                    .collect();
                Ok(Val::V(Value::Array(parts)))
            }
            "lower" => {
                want(1)?;
                string(s(&args[0]).to_lowercase())
            }
            "upper" => {
                want(1)?;
                string(s(&args[0]).to_uppercase())
            }
            "title" => {
                want(1)?;
                let mut out = String::new();
                let mut prev_letter = false;
                for ch in s(&args[0]).chars() {
                    if !prev_letter {
                        out.extend(ch.to_uppercase());
                    } else {
                        out.push(ch);
                    }
                    prev_letter = ch.is_alphanumeric() || ch == '_' || ch == '\'';
                }
                string(out)
            }
            "truncate" => {
                want(2)?;
                let n = match &args[1] {
                    Val::V(Value::Number(n)) => n.as_u64().unwrap_or(0) as usize,
                    v => return Err(Error::new(format!("truncate: {} is not a length", s(v)))),
                };
                string(s(&args[0]).chars().take(n).collect())
            }
            "pad" => {
                want(3)?;
                let n = |v: &Val| match v {
                    Val::V(Value::Number(n)) => n.as_u64().unwrap_or(0) as usize,
                    _ => 0,
                };
                string(format!(
                    "{}{}{}",
                    " ".repeat(n(&args[1])),
                    s(&args[0]),
                    " ".repeat(n(&args[2]))
                ))
            }
            _ => Err(Error::new(format!("function \"{name}\" not defined"))),
        }
    }
}

/// `.A.B` on a value: object keys; a missing key is `<no value>` (and a field of it an error); a field of
/// anything but an object is an error, as in Go. Only the result is copied.
fn lookup(base: &Value, names: &[String]) -> Result<Val, Error> {
    let mut cur = base;
    for (i, n) in names.iter().enumerate() {
        cur = match cur {
            Value::Object(o) => match o.get(n) {
                Some(v) => v,
                None if i + 1 == names.len() => return Ok(Val::NoValue),
                None => {
                    return Err(Error::new(format!(
                        "nil pointer evaluating .{}",
                        names[i + 1]
                    )))
                }
            },
            Value::Null => return Err(Error::new(format!("nil pointer evaluating .{n}"))),
            other => {
                return Err(Error::new(format!(
                    "can't evaluate field {n} in {}",
                    gofmt::v(&Val::V(other.clone()))
                )))
            }
        };
    }
    Ok(Val::V(cur.clone()))
}

fn num(v: &Val) -> Option<f64> {
    match v {
        Val::V(Value::Number(n)) => n.as_f64(),
        _ => None,
    }
}

fn equal(a: &Val, b: &Val) -> bool {
    match (num(a), num(b)) {
        (Some(x), Some(y)) => x == y,
        _ => json_of(a.clone()) == json_of(b.clone()),
    }
}

fn compare(a: &Val, b: &Val) -> Result<std::cmp::Ordering, Error> {
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return x
            .partial_cmp(&y)
            .ok_or_else(|| Error::new("incomparable numbers"));
    }
    match (a, b) {
        (Val::V(Value::String(x)), Val::V(Value::String(y))) => Ok(x.cmp(y)),
        _ => Err(Error::new(format!(
            "incompatible types for comparison: {} and {}",
            gofmt::v(a),
            gofmt::v(b)
        ))),
    }
}
