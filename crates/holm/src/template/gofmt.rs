//! Go's `fmt` printing of JSON values, as a Go template prints them: `%v` (`[a b]` for lists, `map[k:v]` with
//! sorted keys for objects, `<nil>` for null, integers without a fraction, floats as Go's shortest `%g`), `Sprint`
//! / `Sprintln` spacing, and the `printf` verbs `%v %s %d %q %t %f %e %g %x %X %%` with flags `-+0 ` and
//! width/precision.

use super::Val;
use serde_json::Value;

/// `%v` of a value.
pub fn v(val: &Val) -> String {
    match val {
        Val::NoValue => "<no value>".into(),
        Val::V(j) => value(j),
    }
}

fn value(j: &Value) -> String {
    match j {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => float_g(f),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(value).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", value(&o[*k])))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

/// Go's `%v` / shortest `%g` of a float64: `0.5`, `1e+06`, `1.5e-05`, `3`.
pub fn float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits (`1.5e-5`); Go's shortest %g switches to the exponent
    // form when the exponent is < -4 or >= 6 (strconv: eprec = 6 for the shortest precision).
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mant}e{sign}{:02}", exp.abs());
    }
    format!("{f}")
}

/// Go's `fmt.Sprint`: operands' `%v`, a space between two operands when neither is a string.
pub fn sprint(args: &[Val]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = |x: &Val| matches!(x, Val::V(Value::String(_)));
        if i > 0 && !is_str(a) && !is_str(&args[i - 1]) {
            out.push(' ');
        }
        out.push_str(&v(a));
    }
    out
}

/// Go's `fmt.Sprintln`: operands' `%v` separated by spaces, then a newline.
pub fn sprintln(args: &[Val]) -> String {
    let parts: Vec<String> = args.iter().map(v).collect();
    format!("{}\n", parts.join(" "))
}

/// Go's `strconv.Quote` (close enough: JSON's escaping of a string).
pub fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn as_f64(a: &Val) -> Option<f64> {
    match a {
        Val::V(Value::Number(n)) => n.as_f64(),
        _ => None,
    }
}

fn as_int(a: &Val) -> Option<i128> {
    match a {
        Val::V(Value::Number(n)) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        _ => None,
    }
}

/// Go's `fmt.Sprintf` for the verbs in the module doc; a verb that does not fit its operand prints Go's
/// `%!d(string=x)`, a missing operand `%!v(MISSING)`.
pub fn sprintf(format: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut it = format.chars().peekable();
    let mut n = 0;
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut minus, mut plus, mut zero, mut space) = (false, false, false, false);
        while let Some(&f) = it.peek() {
            match f {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' => space = true,
                '#' => {}
                _ => break,
            }
            it.next();
        }
        let mut width = String::new();
        while let Some(&d) = it.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            it.next();
        }
        let mut prec: Option<usize> = None;
        if it.peek() == Some(&'.') {
            it.next();
            let mut p = String::new();
            while let Some(&d) = it.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                it.next();
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(n) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        n += 1;
        let bad = || format!("%!{verb}({})", v(arg));
        let numeric = matches!(verb, 'd' | 'f' | 'e' | 'g' | 'x' | 'X');
        let mut s = match verb {
            'v' | 's' => {
                let s = v(arg);
                match prec {
                    Some(p) if verb == 's' => s.chars().take(p).collect(),
                    _ => s,
                }
            }
            'q' => match arg {
                Val::V(Value::String(s)) => quote(s),
                _ => bad(),
            },
            't' => match arg {
                Val::V(Value::Bool(b)) => b.to_string(),
                _ => bad(),
            },
            'd' => as_int(arg).map_or_else(bad, |i| i.to_string()),
            'x' | 'X' => match (as_int(arg), arg) {
                (Some(i), _) => {
                    let s = if i < 0 {
                        format!("-{:x}", -i)
                    } else {
                        format!("{i:x}")
                    };
                    if verb == 'X' {
                        s.to_uppercase()
                    } else {
                        s
                    }
                }
                (None, Val::V(Value::String(st))) => {
                    let s: String = st.bytes().map(|b| format!("{b:02x}")).collect();
                    if verb == 'X' {
                        s.to_uppercase()
                    } else {
                        s
                    }
                }
                _ => bad(),
            },
            'f' => as_f64(arg).map_or_else(bad, |f| format!("{f:.*}", prec.unwrap_or(6))),
            'e' => as_f64(arg).map_or_else(bad, |f| {
                let s = format!("{f:.*e}", prec.unwrap_or(6));
                let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
                let e: i32 = e.parse().unwrap_or(0);
                format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
            }),
            'g' => as_f64(arg).map_or_else(bad, float_g),
            _ => format!("%!{verb}({})", v(arg)),
        };
        if numeric && !s.starts_with('-') && !s.starts_with('%') {
            if plus {
                s.insert(0, '+');
            } else if space {
                s.insert(0, ' ');
            }
        }
        let w: usize = width.parse().unwrap_or(0);
        let len = s.chars().count();
        if len < w {
            let pad = w - len;
            if minus {
                s.push_str(&" ".repeat(pad));
            } else if zero && numeric {
                let sign = s.starts_with(['-', '+', ' ']);
                let at = usize::from(sign);
                s.insert_str(at, &"0".repeat(pad));
            } else {
                s.insert_str(0, &" ".repeat(pad));
            }
        }
        out.push_str(&s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn j(v: Value) -> Val {
        Val::V(v)
    }

    #[test]
    fn go_v() {
        assert_eq!(v(&j(json!(["a", "b"]))), "[a b]");
        assert_eq!(v(&j(json!({"b": 1, "a": [true]}))), "map[a:[true] b:1]");
        assert_eq!(v(&j(json!(null))), "<nil>");
        assert_eq!(v(&Val::NoValue), "<no value>");
        assert_eq!(v(&j(json!([]))), "[]");
        for (f, s) in [
            (0.5, "0.5"),
            (3.0, "3"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (-2.25, "-2.25"),
        ] {
            assert_eq!(float_g(f), s, "{f}");
        }
    }

    #[test]
    fn printf_verbs() {
        let a = [j(json!("ab")), j(json!(42)), j(json!(1.5)), j(json!(true))];
        assert_eq!(sprintf("%s-%d-%.2f-%t", &a), "ab-42-1.50-true");
        assert_eq!(
            sprintf(
                "[%5s|%-5s|%05d]",
                &[j(json!("x")), j(json!("y")), j(json!(-42))]
            ),
            "[    x|y    |-0042]"
        );
        assert_eq!(
            sprintf(
                "%q %x %X %v%%",
                &[
                    j(json!("a\"b")),
                    j(json!(255)),
                    j(json!("hi")),
                    j(json!([1, 2]))
                ]
            ),
            "\"a\\\"b\" ff 6869 [1 2]%"
        );
        assert_eq!(sprintf("%d %s", &[j(json!("x"))]), "%!d(x) %!s(MISSING)");
        assert_eq!(
            sprintf(
                "%.3s|%+d|%e",
                &[j(json!("abcdef")), j(json!(5)), j(json!(1234.5))]
            ),
            "abc|+5|1.234500e+03"
        );
    }

    #[test]
    fn sprint_spacing() {
        assert_eq!(
            sprint(&[j(json!(1)), j(json!(2)), j(json!("a")), j(json!(3))]),
            "1 2a3"
        );
        assert_eq!(sprintln(&[j(json!("a")), j(json!(1))]), "a 1\n");
    }
}
