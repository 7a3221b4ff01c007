//! The command line parsed as docker's CLI (spf13/pflag) parses it, and its parse errors in one line.
//!
//! - A flag that takes one value takes the next argument whatever it starts with (`--cpus -1`, `-e -x`,
//!   `--name --rm`), as pflag does; the value's own check then names the flag (`invalid argument "-1" for
//!   "--cpus" flag: …`). Flags whose value is optional (`-d[=true|false]`) take one only after `=`.
//! - A parse error is one line (`Error: ` and docker's wording where it has one), ending with where to look
//!   (`(see 'holm run --help')`, docker's second line), exit status 125 (see `exitcode`):
//!
//! | clap's error | line |
//! |---|---|
//! | unknown flag | `unknown flag: --bogus` |
//! | a value that fails its check | `invalid argument "abc" for "--cpu-shares" flag: invalid digit found in string` |
//! | a flag at the end without its value | `flag needs an argument: --cpus` |
//! | a missing argument | `"holm rm" requires at least 1 argument: <CONTAINER>...` |
//! | an unknown command | `unknown command: "nosuchverb" for "holm"` |
//!
//! `holm` alone (and `holm volume` …) print their usage (exit 125) as before; `--help` and `--version` go to stdout,
//! exit 0.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, FromArgMatches};

use crate::cli::Cli;

/// Parses the process's arguments (see the module doc).
pub fn parse() -> Result<Cli, clap::Error> {
    let matches = pflag_values(Cli::command()).try_get_matches()?;
    Cli::from_arg_matches(&matches)
}

/// Marks every flag of `cmd` and its subcommands that takes exactly one value as taking a leading `-` too.
fn pflag_values(cmd: clap::Command) -> clap::Command {
    let cmd = cmd.mut_args(|a| {
        let one = a
            .get_num_args()
            .is_none_or(|r| r.min_values() == 1 && r.max_values() == 1);
        if !a.is_positional() && a.get_action().takes_values() && one {
            a.allow_hyphen_values(true)
        } else {
            a
        }
    });
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    subs.into_iter()
        .fold(cmd, |c, name| c.mut_subcommand(name, pflag_values))
}

/// Prints `e` (help and version as clap prints them; errors as one line) and returns the exit status.
pub fn report(e: &clap::Error) -> i32 {
    let usage = matches!(
        e.kind(),
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand
    );
    if !e.use_stderr() || usage {
        let _ = e.print();
    } else {
        let argv: Vec<String> = std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        eprintln!("Error: {}", one_line(e, &argv));
    }
    crate::exitcode::clap_code(e)
}

fn string(e: &clap::Error, k: ContextKind) -> Option<String> {
    match e.get(k)? {
        ContextValue::String(s) => Some(s.clone()),
        ContextValue::Strings(v) => Some(v.join(" ")),
        ContextValue::StyledStr(s) => Some(s.to_string()),
        _ => None,
    }
}

/// `--cpus <CPUS>` (how clap names an argument) → `--cpus`.
fn flag_of(arg: &str) -> &str {
    arg.split_whitespace().next().unwrap_or(arg)
}

/// The command the user typed, from `argv` (`holm --root R rm -f` → `holm rm`): the words that name a subcommand,
/// following the command tree; flags and their values are skipped.
fn command_path(argv: &[String]) -> String {
    let mut cmd = Cli::command();
    let mut path = vec![cmd.get_name().to_string()];
    let mut words = argv.iter().skip(1);
    while let Some(w) = words.next() {
        if w == "--" {
            break;
        }
        if let Some(flag) = w.strip_prefix("--") {
            // A global flag with its value in the next word (`--root R`).
            let takes_value = cmd
                .get_arguments()
                .any(|a| a.get_long() == Some(flag) && a.get_action().takes_values());
            if takes_value {
                words.next();
            }
            continue;
        }
        if w.starts_with('-') {
            continue;
        }
        let Some(sub) = cmd
            .get_subcommands()
            .find(|s| s.get_name() == w || s.get_all_aliases().any(|a| a == w))
            .cloned()
        else {
            break;
        };
        path.push(sub.get_name().to_string());
        cmd = sub;
    }
    path.join(" ")
}

/// The first line of clap's own rendering, without its `error: ` prefix.
fn clap_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    line.unwrap_or("invalid command line")
        .trim_start_matches("error: ")
        .to_string()
}

/// `e`, from parsing `argv`, as one line (see the module doc).
pub fn one_line(e: &clap::Error, argv: &[String]) -> String {
    let arg = string(e, ContextKind::InvalidArg);
    let value = string(e, ContextKind::InvalidValue);
    let path = command_path(argv);
    let line = match (e.kind(), arg.as_deref(), value.as_deref()) {
        (ErrorKind::UnknownArgument, Some(a), _) => format!("unknown flag: {a}"),
        (ErrorKind::InvalidValue, Some(a), Some("")) => {
            format!("flag needs an argument: {}", flag_of(a))
        }
        (ErrorKind::InvalidValue | ErrorKind::ValueValidation, Some(a), Some(v))
            if a.starts_with('-') =>
        {
            let why = match e.get(ContextKind::ValidValue) {
                Some(ContextValue::Strings(valid)) => {
                    format!("expected one of: {}", valid.join(", "))
                }
                _ => std::error::Error::source(e)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| clap_line(e)),
            };
            format!(
                "invalid argument \"{v}\" for \"{}\" flag: {why}",
                flag_of(a)
            )
        }
        (ErrorKind::MissingRequiredArgument | ErrorKind::TooFewValues, Some(a), _) => {
            format!("\"{path}\" requires at least 1 argument: {a}")
        }
        (ErrorKind::InvalidSubcommand, _, _)
            if string(e, ContextKind::InvalidSubcommand).is_some() =>
        {
            let word = string(e, ContextKind::InvalidSubcommand).unwrap_or_default();
            format!("unknown command: \"{word}\" for \"{path}\"")
        }
        (ErrorKind::NoEquals, Some(a), _) => {
            format!("flag {0} takes its value after '=' ({0}=VALUE)", flag_of(a))
        }
        _ => clap_line(e),
    };
    format!("{line} (see '{path} --help')")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(args: &[&str]) -> String {
        let mut argv = vec!["holm".to_string()];
        argv.extend(args.iter().map(|a| a.to_string()));
        match pflag_values(Cli::command()).try_get_matches_from(&argv) {
            Ok(m) => match Cli::from_arg_matches(&m) {
                Ok(_) => "parsed".to_string(),
                Err(e) => one_line(&e, &argv),
            },
            Err(e) => one_line(&e, &argv),
        }
    }

    #[test]
    fn one_line_errors_name_the_flag() {
        assert_eq!(
            err(&["run", "--bogus", "busybox"]),
            "unknown flag: --bogus (see 'holm run --help')"
        );
        assert_eq!(
            err(&["run", "busybox", "--cpus"]),
            "parsed",
            "after the image, flags belong to the command"
        );
        assert_eq!(
            err(&["run", "--cpus"]),
            "flag needs an argument: --cpus (see 'holm run --help')"
        );
        assert_eq!(
            err(&["rm"]),
            "\"holm rm\" requires at least 1 argument: <CONTAINERS>... (see 'holm rm --help')"
        );
        assert_eq!(
            err(&["--root", "/r", "volume", "rm"]),
            "\"holm volume rm\" requires at least 1 argument: <NAMES>... (see 'holm volume rm --help')"
        );
        assert_eq!(
            err(&["nosuchverb"]),
            "unknown command: \"nosuchverb\" for \"holm\" (see 'holm --help')"
        );
        // pflag: the value of a one-value flag may start with `-`.
        assert_eq!(err(&["run", "--cpus", "-1", "busybox"]), "parsed");
        assert_eq!(err(&["run", "-e", "-x", "busybox"]), "parsed");
        for line in [
            err(&["run", "--bogus", "busybox"]),
            err(&["stop", "-t", "x", "c"]),
        ] {
            assert_eq!(line.lines().count(), 1, "{line}");
        }
    }
}
