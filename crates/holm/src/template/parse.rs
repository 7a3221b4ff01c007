//! Lexing and parsing of Go text/template source into a tree ([`Node`]). Supported: text, `{{pipeline}}`,
//! `{{- ` / ` -}}` trimming, `{{/* comments */}}`, `{{if}}` / `{{else if}}` / `{{else}}` / `{{end}}`,
//! `{{range}}` (with `$i, $v :=`), `{{with}}`, variables (`$x := …`, `$x = …`, `$`), fields (`.A.B`, `$x.A`,
//! `(pipeline).A`), pipes (`|`), function calls and literals (strings `"…"` and `` `…` ``, numbers, `true`,
//! `false`, `nil`). Not supported (an error naming them): `define`, `template`, `block`, `break`, `continue`.

use super::Error;

/// A node of the template tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Literal text.
    Text(String),
    /// `{{pipeline}}`: its value is printed (nothing for a declaration).
    Action(Pipeline),
    /// `{{if p}}then{{else}}otherwise{{end}}` (`else if` nests an `If` in `otherwise`).
    If(Block),
    /// `{{range p}}then{{else}}otherwise{{end}}`: `then` once per element, `otherwise` if there is none.
    Range(Block),
    /// `{{with p}}then{{else}}otherwise{{end}}`: `then` with dot set to the value if it is true.
    With(Block),
}

/// The parts of `if`, `range` and `with`.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// The condition / collection.
    pub pipe: Pipeline,
    /// The body.
    pub then: Vec<Node>,
    /// The `{{else}}` part (empty if none).
    pub otherwise: Vec<Node>,
}

/// `[$a[, $b] :=|=] cmd | cmd …`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    /// Variables declared (`:=`) or assigned (`=`), without `$`.
    pub vars: Vec<String>,
    /// True for `:=`.
    pub declare: bool,
    /// The commands; each one's value becomes the last argument of the next.
    pub cmds: Vec<Cmd>,
}

/// One command of a pipeline: a function and its arguments, or a single value.
#[derive(Debug, Clone, PartialEq)]
pub struct Cmd {
    /// The operands.
    pub args: Vec<Operand>,
}

/// An operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// `.A.B` (`.` alone: empty).
    Field(Vec<String>),
    /// `$x.A.B` (`$` alone: name empty).
    Var(String, Vec<String>),
    /// A function name.
    Func(String),
    /// A string literal.
    Str(String),
    /// An integer literal.
    Int(i64),
    /// A floating-point literal.
    Float(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `nil`.
    Nil,
    /// `(pipeline).A.B`.
    Paren(Box<Pipeline>, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Ident(String),
    Str(String),
    Num(String),
    Pipe,
    LParen,
    RParen(Vec<String>),
    Declare,
    Assign,
    Comma,
}

enum Piece {
    Text(String),
    Action(Vec<Tok>),
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Reads `.A.B.C` starting at a `.` (returns the names and the bytes used; `.` alone gives no names).
fn field_chain(s: &str) -> (Vec<String>, usize) {
    let mut names = Vec::new();
    let mut i = 0;
    while s[i..].starts_with('.') {
        let rest = &s[i + 1..];
        let n = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        if n == 0 {
            if names.is_empty() && i == 0 {
                return (names, 1);
            }
            break;
        }
        names.push(rest[..n].to_string());
        i += 1 + n;
    }
    (names, i)
}

/// Splits the source into text and tokenised actions, applying trim markers and dropping comments.
fn lex(src: &str) -> Result<Vec<Piece>, Error> {
    let mut pieces = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while !rest.is_empty() {
        let Some(open) = rest.find("{{") else {
            let t = if trim_next { rest.trim_start() } else { rest };
            pieces.push(Piece::Text(t.to_string()));
            break;
        };
        let mut text = &rest[..open];
        if trim_next {
            text = text.trim_start();
        }
        let mut body = &rest[open + 2..];
        if body.starts_with('-') && body[1..].starts_with(|c: char| c.is_ascii_whitespace()) {
            text = text.trim_end();
            body = &body[1..];
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text.to_string()));
        }
        let (toks, used, trim) = lex_action(body)?;
        trim_next = trim;
        if let Some(t) = toks {
            pieces.push(Piece::Action(t));
        }
        rest = &body[used..];
    }
    Ok(pieces)
}

/// Tokenises one action's inside up to and including its `}}`. Returns the tokens (None for a comment), the
/// bytes used, and whether it ended with ` -}}`.
fn lex_action(s: &str) -> Result<(Option<Vec<Tok>>, usize, bool), Error> {
    let start = s.len() - s.trim_start().len();
    if s[start..].starts_with("/*") {
        let Some(end) = s[start..].find("*/") else {
            return Err(Error::new("unclosed comment"));
        };
        let after = start + end + 2;
        let t = s[after..].trim_start();
        let ws = s.len() - after - t.len();
        if t.starts_with("-}}") && ws > 0 {
            return Ok((None, s.len() - t.len() + 3, true));
        }
        if t.starts_with("}}") {
            return Ok((None, s.len() - t.len() + 2, false));
        }
        return Err(Error::new("comment ends before closing delimiter"));
    }
    let mut toks = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        let ws_before = i < b.len() && (b[i] as char).is_ascii_whitespace();
        while i < b.len() && (b[i] as char).is_ascii_whitespace() {
            i += 1;
        }
        let r = &s[i..];
        if r.is_empty() {
            return Err(Error::new("unclosed action"));
        }
        if ws_before && r.starts_with("-}}") {
            return Ok((Some(toks), i + 3, true));
        }
        if r.starts_with("}}") {
            return Ok((Some(toks), i + 2, false));
        }
        let c = r.chars().next().unwrap_or(' ');
        match c {
            '|' => {
                toks.push(Tok::Pipe);
                i += 1;
            }
            '(' => {
                toks.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                let (names, used) = if r[1..].starts_with('.') {
                    field_chain(&r[1..])
                } else {
                    (Vec::new(), 0)
                };
                toks.push(Tok::RParen(names));
                i += 1 + used;
            }
            ',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            ':' if r.starts_with(":=") => {
                toks.push(Tok::Declare);
                i += 2;
            }
            '=' => {
                toks.push(Tok::Assign);
                i += 1;
            }
            '.' => {
                let (names, used) = field_chain(r);
                toks.push(Tok::Field(names));
                i += used;
            }
            '$' => {
                let n = r[1..].find(|c: char| !is_ident(c)).unwrap_or(r.len() - 1);
                let name = r[1..1 + n].to_string();
                let (names, used) = if r[1 + n..].starts_with('.') {
                    field_chain(&r[1 + n..])
                } else {
                    (Vec::new(), 0)
                };
                toks.push(Tok::Var(name, names));
                i += 1 + n + used;
            }
            '"' => {
                let (v, used) = lex_quoted(r)?;
                toks.push(Tok::Str(v));
                i += used;
            }
            '`' => {
                let Some(end) = r[1..].find('`') else {
                    return Err(Error::new("unterminated raw quoted string"));
                };
                toks.push(Tok::Str(r[1..1 + end].to_string()));
                i += end + 2;
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+') && r[1..].starts_with(|d: char| d.is_ascii_digit())) =>
            {
                let n = 1 + r[1..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
                    .unwrap_or(r.len() - 1);
                toks.push(Tok::Num(r[..n].to_string()));
                i += n;
            }
            c if is_ident(c) => {
                let n = r.find(|c: char| !is_ident(c)).unwrap_or(r.len());
                toks.push(Tok::Ident(r[..n].to_string()));
                i += n;
            }
            c => return Err(Error::new(format!("unexpected {c:?} in action"))),
        }
    }
}

/// A Go interpreted string literal at the start of `s`: its value and length.
fn lex_quoted(s: &str) -> Result<(String, usize), Error> {
    let mut out = String::new();
    let mut it = s.char_indices().skip(1);
    while let Some((i, c)) = it.next() {
        match c {
            '"' => return Ok((out, i + 1)),
            '\\' => {
                let Some((_, e)) = it.next() else { break };
                out.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '\\' => '\\',
                    '"' => '"',
                    '\'' => '\'',
                    '0' => '\0',
                    e => return Err(Error::new(format!("unknown escape sequence \\{e}"))),
                });
            }
            '\n' => break,
            c => out.push(c),
        }
    }
    Err(Error::new("unterminated quoted string"))
}

/// Parses template source.
pub fn parse(src: &str) -> Result<Vec<Node>, Error> {
    let pieces = lex(src)?;
    let mut p = Parser { pieces, i: 0 };
    let (nodes, end) = p.list()?;
    match end {
        None => Ok(nodes),
        Some(End::End) => Err(Error::new("unexpected {{end}}")),
        Some(End::Else(_)) => Err(Error::new("unexpected {{else}}")),
    }
}

/// What ended a list: `{{end}}`, or `{{else …}}` with the tokens after `else`.
enum End {
    End,
    Else(Vec<Tok>),
}

struct Parser {
    pieces: Vec<Piece>,
    i: usize,
}

impl Parser {
    /// Nodes up to `{{end}}`, `{{else}}` or the end of input (None).
    fn list(&mut self) -> Result<(Vec<Node>, Option<End>), Error> {
        let mut nodes = Vec::new();
        while self.i < self.pieces.len() {
            let piece = std::mem::replace(&mut self.pieces[self.i], Piece::Text(String::new()));
            self.i += 1;
            let toks = match piece {
                Piece::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Piece::Action(t) => t,
            };
            match toks.first() {
                Some(Tok::Ident(k)) if k == "end" => {
                    if toks.len() > 1 {
                        return Err(Error::new("unexpected words after {{end"));
                    }
                    return Ok((nodes, Some(End::End)));
                }
                Some(Tok::Ident(k)) if k == "else" => {
                    return Ok((nodes, Some(End::Else(toks[1..].to_vec()))));
                }
                Some(Tok::Ident(k)) if k == "if" || k == "range" || k == "with" => {
                    let kw = k.clone();
                    nodes.push(self.block(&kw, &toks[1..])?);
                }
                Some(Tok::Ident(k))
                    if ["define", "template", "block", "break", "continue"]
                        .contains(&k.as_str()) =>
                {
                    return Err(Error::new(format!("{{{{{k}}}}} is not supported")));
                }
                _ => nodes.push(Node::Action(pipeline(&toks, "command")?)),
            }
        }
        Ok((nodes, None))
    }

    /// The rest of an `if` / `range` / `with` whose keyword's tokens were `toks`, through its `{{end}}`.
    fn block(&mut self, kw: &str, toks: &[Tok]) -> Result<Node, Error> {
        let pipe = pipeline(toks, kw)?;
        if kw != "range" && pipe.vars.len() > 1 {
            return Err(Error::new(format!("too many declarations in {kw}")));
        }
        let (then, end) = self.list()?;
        let otherwise = match end {
            None => {
                return Err(Error::new(format!(
                    "unexpected EOF: {{{{{kw}}}}} without {{{{end}}}}"
                )))
            }
            Some(End::End) => Vec::new(),
            Some(End::Else(rest)) if rest.is_empty() => {
                let (other, end) = self.list()?;
                match end {
                    Some(End::End) => other,
                    Some(End::Else(_)) => return Err(Error::new("{{else}} after {{else}}")),
                    None => {
                        return Err(Error::new(format!(
                            "unexpected EOF: {{{{{kw}}}}} without {{{{end}}}}"
                        )))
                    }
                }
            }
            // `{{else if …}}` / `{{else with …}}`: a nested block that consumes the shared {{end}}.
            Some(End::Else(rest)) => match rest.first() {
                Some(Tok::Ident(k)) if (k == "if" || k == "with") => {
                    let k = k.clone();
                    vec![self.block(&k, &rest[1..])?]
                }
                _ => {
                    return Err(Error::new(
                        "expected {{else}}, {{else if …}} or {{else with …}}",
                    ))
                }
            },
        };
        let b = Block {
            pipe,
            then,
            otherwise,
        };
        Ok(match kw {
            "if" => Node::If(b),
            "range" => Node::Range(b),
            _ => Node::With(b),
        })
    }
}

/// Parses a pipeline (`what` names it in errors: `if`, `range`, `command`).
fn pipeline(toks: &[Tok], what: &str) -> Result<Pipeline, Error> {
    let mut vars = Vec::new();
    let mut declare = false;
    let mut rest = toks;
    // `$a :=`, `$a =`, `$a, $b :=`
    let decl_len = match toks {
        [Tok::Var(_, f), Tok::Declare | Tok::Assign, ..] if f.is_empty() => Some(1),
        [Tok::Var(_, f), Tok::Comma, Tok::Var(_, g), Tok::Declare | Tok::Assign, ..]
            if f.is_empty() && g.is_empty() =>
        {
            Some(3)
        }
        _ => None,
    };
    if let Some(n) = decl_len {
        for t in &toks[..n] {
            if let Tok::Var(name, _) = t {
                vars.push(name.clone());
            }
        }
        declare = toks[n] == Tok::Declare;
        rest = &toks[n + 1..];
    }
    let mut cmds = Vec::new();
    let mut pos = 0;
    let mut cur = Vec::new();
    while pos < rest.len() {
        match &rest[pos] {
            Tok::Pipe => {
                if cur.is_empty() {
                    return Err(Error::new(format!("missing command before | in {what}")));
                }
                cmds.push(Cmd {
                    args: std::mem::take(&mut cur),
                });
                pos += 1;
            }
            _ => {
                let (op, used) = operand(&rest[pos..])?;
                cur.push(op);
                pos += used;
            }
        }
    }
    if cur.is_empty() {
        return Err(Error::new(format!("missing value for {what}")));
    }
    cmds.push(Cmd { args: cur });
    Ok(Pipeline {
        vars,
        declare,
        cmds,
    })
}

/// One operand at the start of `toks` and the number of tokens used.
fn operand(toks: &[Tok]) -> Result<(Operand, usize), Error> {
    let op = match &toks[0] {
        Tok::Field(f) => Operand::Field(f.clone()),
        Tok::Var(n, f) => Operand::Var(n.clone(), f.clone()),
        Tok::Str(s) => Operand::Str(s.clone()),
        Tok::Num(n) => number(n)?,
        Tok::Ident(i) => match i.as_str() {
            "true" => Operand::Bool(true),
            "false" => Operand::Bool(false),
            "nil" => Operand::Nil,
            "if" | "range" | "with" | "else" | "end" => {
                return Err(Error::new(format!("unexpected {i} in operand")))
            }
            _ => Operand::Func(i.clone()),
        },
        Tok::LParen => {
            let mut depth = 0;
            for (j, t) in toks.iter().enumerate() {
                match t {
                    Tok::LParen => depth += 1,
                    Tok::RParen(chain) => {
                        depth -= 1;
                        if depth == 0 {
                            let p = pipeline(&toks[1..j], "parenthesized pipeline")?;
                            return Ok((Operand::Paren(Box::new(p), chain.clone()), j + 1));
                        }
                    }
                    _ => {}
                }
            }
            return Err(Error::new("unclosed left paren"));
        }
        Tok::RParen(_) => return Err(Error::new("unexpected right paren")),
        Tok::Pipe | Tok::Comma | Tok::Declare | Tok::Assign => {
            return Err(Error::new("unexpected operator in operand"))
        }
    };
    Ok((op, 1))
}

fn number(n: &str) -> Result<Operand, Error> {
    let bad = || Error::new(format!("bad number syntax: {n:?}"));
    let (neg, digits) = match n.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, n.strip_prefix('+').unwrap_or(n)),
    };
    let digits = digits.replace('_', "");
    let int = if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(b) = digits
        .strip_prefix("0b")
        .or_else(|| digits.strip_prefix("0B"))
    {
        i64::from_str_radix(b, 2).ok()
    } else if let Some(o) = digits
        .strip_prefix("0o")
        .or_else(|| digits.strip_prefix("0O"))
    {
        i64::from_str_radix(o, 8).ok()
    } else {
        digits.parse::<i64>().ok()
    };
    if let Some(i) = int {
        return Ok(Operand::Int(if neg { -i } else { i }));
    }
    let f: f64 = digits.parse().map_err(|_| bad())?;
    Ok(Operand::Float(if neg { -f } else { f }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_comments() {
        let n = parse("a  {{- .X -}}  b{{/* c */}}c").unwrap();
        assert_eq!(
            n,
            vec![
                Node::Text("a".into()),
                Node::Action(Pipeline {
                    vars: vec![],
                    declare: false,
                    cmds: vec![Cmd {
                        args: vec![Operand::Field(vec!["X".into()])]
                    }]
                }),
                Node::Text("b".into()),
                Node::Text("c".into()),
            ]
        );
        // `{{-3}}` is the number -3, not a trim marker
        let n = parse("{{-3}}").unwrap();
        assert!(matches!(&n[0], Node::Action(p) if p.cmds[0].args == vec![Operand::Int(-3)]));
    }

    #[test]
    fn errors() {
        for bad in [
            "{{.ID",
            "{{}}",
            "{{if}}x{{end}}",
            "{{if .A}}x",
            "{{end}}",
            "{{else}}",
            "{{range .A}}{{else}}{{else}}{{end}}",
            "{{\"abc}}",
            "{{(.A}}",
            "{{template \"x\"}}",
            "{{.A | }}",
            "{{/* x }}",
            "{{ # }}",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn blocks_and_declarations() {
        let n = parse("{{range $i, $v := .L}}{{$i}}{{else}}none{{end}}").unwrap();
        let Node::Range(b) = &n[0] else { panic!() };
        assert_eq!(b.pipe.vars, vec!["i", "v"]);
        assert!(b.pipe.declare);
        assert_eq!(b.otherwise, vec![Node::Text("none".into())]);
        let n = parse("{{if .A}}a{{else if .B}}b{{else}}c{{end}}").unwrap();
        let Node::If(b) = &n[0] else { panic!() };
        assert!(matches!(&b.otherwise[0], Node::If(_)));
        let n = parse("{{(index .M \"k\").X}}").unwrap();
        let Node::Action(p) = &n[0] else { panic!() };
        assert!(matches!(&p.cmds[0].args[0], Operand::Paren(_, c) if c == &vec!["X".to_string()]));
    }
}
