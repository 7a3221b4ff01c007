//! docker's confirmation prompt of the `prune` verbs: without `-f` the warning and `Are you sure you want to
//! continue? [y/N] ` go to stdout and one line is read from stdin; only `y`/`yes` (any case) goes on. Like
//! docker, stdin is read even when it is not a terminal, so end of input (`</dev/null`, a script) means "no" and
//! never hangs; a declined prune removes nothing and exits 0 without a message (docker's "cancelled" outcome).

use std::io::{BufRead, Write};

/// Asks `warning` unless `force`; true when the user answered yes (or `force`).
pub fn confirm(force: bool, warning: &str) -> std::io::Result<bool> {
    if force {
        return Ok(true);
    }
    let mut out = std::io::stdout().lock();
    write!(out, "{warning}\nAre you sure you want to continue? [y/N] ")?;
    out.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let yes = matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes");
    if !yes && !line.ends_with('\n') {
        // end of input: end the prompt's line as a terminal's Enter would have
        writeln!(out)?;
    }
    Ok(yes)
}
