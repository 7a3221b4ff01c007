//! One line per error for the user: the chain of causes joined with `: `, a cause dropped when the text before it
//! already says it (library errors often end with their OS error *and* return it as their source), and control
//! characters from untrusted input (image names, archive bytes) escaped.

/// An engine error about a container, naming it by `word` (what the user typed: a name or short id) instead of its
/// 64-character id.
pub fn as_typed(e: anyhow::Error, word: &str) -> anyhow::Error {
    match e.downcast::<holm_engine::Error>() {
        Ok(holm_engine::Error::BadState { state, msg, .. }) => holm_engine::Error::BadState {
            id: word.to_string(),
            state,
            msg,
        }
        .into(),
        Ok(holm_engine::Error::StartFailed { msg, code, .. }) => holm_engine::Error::StartFailed {
            id: word.to_string(),
            msg,
            code,
        }
        .into(),
        Ok(other) => other.into(),
        Err(e) => e,
    }
}

/// Renders `e` and its causes on one line (see the module doc).
pub fn render(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if s.is_empty() || out.contains(&s) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&s);
    }
    out.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn repeated_causes_once_and_control_characters_escaped() {
        let io = std::io::Error::from_raw_os_error(2);
        let e = anyhow::Error::new(std::io::Error::new(io.kind(), format!("open `/x`: {io}")))
            .context("load");
        assert_eq!(
            render(&e),
            "load: open `/x`: No such file or directory (os error 2)"
        );
        let e = anyhow::anyhow!("bad \u{1b}[31mname\n");
        assert_eq!(render(&e), "bad \\u{1b}[31mname\\n");
    }
}
