//! Go text/template, as docker's `--format` uses it, over JSON values: `{{.Field.Sub}}`, `{{json .X}}`,
//! `{{index .M "k"}}`, `{{range}}`, `{{if}}`/`{{else}}`, `{{with}}`, variables, pipes, `printf`, `join`, `lower`,
//! `upper`, … (see [`parse`] and [`exec`] for the exact set), printing values the way Go's `fmt` does
//! ([`gofmt`]: `[a b]`, `map[k:v]`).
//!
//! Why our own: the one Rust implementation of Go templates, `gtmpl` 0.7 (passively maintained, last release
//! 2021, pulls thiserror 1 and lazy_static), prints lists and maps with Rust's `Debug` (`[String("a")]`) rather
//! than Go's `[a]`, so `{{.Config.Env}}` would not print what docker prints; its values are its own type, not
//! `serde_json::Value`. docker's templates run over Go structs; ours run over the JSON holm prints, which is
//! what docker itself falls back to (`<no value>` for a missing key). Known differences: a JSON object prints as
//! `map[k:v]` even where docker has a struct (`{running true …}`), and null prints `<nil>` where docker has an
//! empty Go slice (`[]`).

pub mod exec;
pub mod gofmt;
pub mod parse;

use serde_json::Value;

/// A template error (parse or execution), one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    fn new(msg: impl Into<String>) -> Error {
        Error(msg.into())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "template: {}", self.0)
    }
}

impl std::error::Error for Error {}

/// A value during execution: JSON, or Go's "no value" (a missing key).
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// A JSON value.
    V(Value),
    /// A key that is not there.
    NoValue,
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<parse::Node>,
}

impl Template {
    /// Parses Go template source. Errors: [`Error`] naming what is wrong (`unclosed action`, `function "x" not
    /// defined`, …).
    pub fn parse(src: &str) -> Result<Template, Error> {
        let nodes = parse::parse(src)?;
        let t = Template { nodes };
        t.check_funcs(&t.nodes)?;
        Ok(t)
    }

    /// Runs the template over `data`.
    pub fn execute(&self, data: &Value) -> Result<String, Error> {
        exec::execute(&self.nodes, data, false)
    }

    /// Runs the template in header mode (a `table` format's header line: docker's functions such as `json` and
    /// `upper` return their argument as it is, so `{{json .Labels}}` heads its column `LABELS`).
    pub fn execute_header(&self, headers: &Value) -> Result<String, Error> {
        exec::execute(&self.nodes, headers, true)
    }

    /// Unknown functions are parse errors, as in Go (not only when the branch runs).
    fn check_funcs(&self, nodes: &[parse::Node]) -> Result<(), Error> {
        use parse::{Node, Operand, Pipeline};
        fn pipe(p: &Pipeline) -> Result<(), Error> {
            for c in &p.cmds {
                for a in &c.args {
                    match a {
                        Operand::Func(f) if !FUNCS.contains(&f.as_str()) => {
                            return Err(Error::new(format!("function \"{f}\" not defined")))
                        }
                        Operand::Paren(p, _) => pipe(p)?,
                        _ => {}
                    }
                }
            }
            Ok(())
        }
        for n in nodes {
            match n {
                Node::Text(_) => {}
                Node::Action(p) => pipe(p)?,
                Node::If(b) | Node::Range(b) | Node::With(b) => {
                    pipe(&b.pipe)?;
                    self.check_funcs(&b.then)?;
                    self.check_funcs(&b.otherwise)?;
                }
            }
        }
        Ok(())
    }
}

/// The functions templates may call.
const FUNCS: &[&str] = &[
    "and", "or", "not", "len", "index", "print", "printf", "println", "eq", "ne", "lt", "le", "gt",
    "ge", "json", "join", "split", "lower", "upper", "title", "truncate", "pad",
];

#[cfg(test)]
mod tests {
    use super::Template;
    use serde_json::{json, Value};

    fn run(t: &str, v: &Value) -> String {
        Template::parse(t)
            .unwrap_or_else(|e| panic!("{t}: {e}"))
            .execute(v)
            .unwrap_or_else(|e| panic!("{t}: {e}"))
    }

    #[test]
    fn docker_inspect_examples() {
        let v = json!({
            "Id": "abc",
            "State": {"Status": "running", "Pid": 42, "Running": true},
            "Config": {"Env": ["A=1", "B=2"], "Labels": {"k": "v", "a": "b"}, "Cmd": null},
            "Mounts": [{"Source": "/s", "Destination": "/d"}, {"Source": "/t", "Destination": "/e"}],
        });
        for (t, want) in [
            ("{{.State.Status}}", "running"),
            ("{{.State.Pid}}", "42"),
            ("{{.Config.Env}}", "[A=1 B=2]"),
            ("{{.Config.Labels}}", "map[a:b k:v]"),
            ("{{json .Config.Labels}}", r#"{"a":"b","k":"v"}"#),
            ("{{json .Config.Env}}", r#"["A=1","B=2"]"#),
            (r#"{{index .Config.Labels "k"}}"#, "v"),
            (r#"{{index .Config.Labels "nope"}}"#, ""),
            ("{{index .Config.Env 1}}", "B=2"),
            (
                "{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}",
                "/s:/d /t:/e ",
            ),
            (
                "{{range $i, $m := .Mounts}}{{$i}}={{$m.Source}};{{end}}",
                "0=/s;1=/t;",
            ),
            (
                "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}},{{end}}",
                "a=b,k=v,",
            ),
            ("{{range .Config.Cmd}}x{{else}}none{{end}}", "none"),
            ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
            (
                "{{if not .State.Running}}up{{else if .Id}}id{{else}}down{{end}}",
                "id",
            ),
            (
                "{{if eq .State.Status \"exited\" \"running\"}}yes{{end}}",
                "yes",
            ),
            ("{{if and .Id (gt .State.Pid 10)}}big{{end}}", "big"),
            ("{{printf \"%s-%05d\" .Id .State.Pid}}", "abc-00042"),
            ("{{join .Config.Env \",\"}}", "A=1,B=2"),
            (
                "{{upper .Id}} {{lower \"XY\"}} {{title \"hello world\"}}",
                "ABC xy Hello World",
            ),
            ("{{.Id | upper | printf \"<%s>\"}}", "<ABC>"),
            ("{{with .State}}{{.Status}}{{end}}", "running"),
            ("{{with .Nope}}x{{else}}no{{end}}", "no"),
            ("{{.Nope}}", "<no value>"),
            ("{{.Config.Cmd}}", "<nil>"),
            ("{{$x := .Id}}{{$x}}{{$x = \"z\"}}{{$x}}", "abcz"),
            ("{{$.Id}}{{range .Mounts}}{{$.Id}}{{end}}", "abcabcabc"),
            ("{{len .Mounts}} {{len .Id}}", "2 3"),
            ("{{(index .Mounts 1).Source}}", "/t"),
            ("{{split \"a:b\" \":\"}}", "[a b]"),
            ("{{truncate .Id 2}}|{{pad .Id 1 2}}|", "ab| abc  |"),
            ("a\n  {{- .Id -}}  \nb", "aabcb"),
            ("{{/* comment */}}x", "x"),
            ("{{print 1 2 \"a\"}} {{println .Id}}", "1 2a abc\n"),
            ("{{.Config.Labels.k}}", "v"),
            (
                "{{json .}}",
                r#"{"Config":{"Cmd":null,"Env":["A=1","B=2"],"Labels":{"a":"b","k":"v"}},"Id":"abc","Mounts":[{"Destination":"/d","Source":"/s"},{"Destination":"/e","Source":"/t"}],"State":{"Pid":42,"Running":true,"Status":"running"}}"#,
            ),
        ] {
            assert_eq!(run(t, &v), want, "{t}");
        }
    }

    #[test]
    fn label_method_and_header_mode() {
        let row = json!({"ID": "1", "Label": {"k": "v"}, "Labels": "k=v"});
        assert_eq!(run("{{.Label \"k\"}}", &row), "v");
        let t = Template::parse("{{.ID}}\t{{json .Labels}}\t{{upper .ID}}").unwrap();
        let h = json!({"ID": "CONTAINER ID", "Labels": "LABELS"});
        assert_eq!(
            t.execute_header(&h).unwrap(),
            "CONTAINER ID\tLABELS\tCONTAINER ID"
        );
    }

    #[test]
    fn errors() {
        assert!(Template::parse("{{nosuch .X}}")
            .unwrap_err()
            .to_string()
            .contains("\"nosuch\" not defined"));
        assert!(Template::parse("{{if .X}}{{nosuch}}{{end}}").is_err());
        let v = json!({"Id": "abc", "N": null});
        for t in [
            "{{.Id.X}}",
            "{{.N.X}}",
            "{{.Nope.X}}",
            "{{range .Id}}{{end}}",
            "{{lt .Id 1}}",
            "{{$nope}}",
            "{{index .Id 1}}",
            "{{\"x\" 1}}",
        ] {
            assert!(Template::parse(t).unwrap().execute(&v).is_err(), "{t}");
        }
    }
}
