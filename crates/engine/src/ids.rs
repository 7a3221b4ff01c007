//! Container ids (64 random hex digits, as docker's) and names (docker's `adjective_surname` when none is given).

use crate::{Error, Result};
use std::io::Read;

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(Error::io("read /dev/urandom"))?;
    Ok(b)
}

/// A new container id: 64 lowercase hex digits whose first 12 are not all digits (so a short id is never taken
/// for a number).
pub fn new_id() -> Result<String> {
    loop {
        let id: String = random_bytes::<32>()?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if !id[..12].bytes().all(|b| b.is_ascii_digit()) {
            return Ok(id);
        }
    }
}

const ADJECTIVES: &[&str] = &[
    "brave", "calm", "clever", "eager", "fervent", "gallant", "happy", "jolly", "keen", "lucid",
    "nifty", "quirky", "serene", "stoic", "sweet", "tender", "vibrant", "wizardly", "zealous",
    "bold", "crisp", "dazzling", "elated", "festive",
];
const NAMES: &[&str] = &[
    "hopper",
    "lovelace",
    "turing",
    "ritchie",
    "thompson",
    "knuth",
    "dijkstra",
    "hamilton",
    "liskov",
    "torvalds",
    "curie",
    "noether",
    "shannon",
    "babbage",
    "goldberg",
    "kare",
    "wozniak",
    "allen",
    "bell",
    "cerf",
    "engelbart",
    "feynman",
    "galois",
    "hodgkin",
];

/// A random `adjective_name` (callers retry on a clash).
pub fn new_name() -> Result<String> {
    let b = random_bytes::<4>()?;
    let a = ADJECTIVES[usize::from(b[0]) % ADJECTIVES.len()];
    let n = NAMES[usize::from(b[1]) % NAMES.len()];
    Ok(format!("{a}_{n}{}", u16::from_le_bytes([b[2], b[3]]) % 100))
}

/// Longest container name holm takes (docker sets none; holm keeps names short enough for every table and path).
pub const MAX_NAME_LEN: usize = 128;

/// Checks a user-given `--name`: docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (a leading `/` is dropped), at most
/// [`MAX_NAME_LEN`] characters.
pub fn validate_name(name: &str) -> Result<String> {
    validate_name_as(name, "--name")
}

/// [`validate_name`], with errors naming the argument `what` (`--name`, `NEW_NAME`).
pub fn validate_name_as(name: &str, what: &str) -> Result<String> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let b = n.as_bytes();
    if b.len() > MAX_NAME_LEN {
        return Err(Error::flag(
            what,
            name,
            format!(
                "Invalid container name: at most {MAX_NAME_LEN} characters are allowed (this one has {})",
                n.chars().count()
            ),
        ));
    }
    let chars_ok = b
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if b.len() < 2 && chars_ok {
        // docker's pattern wants a second character (`+`); its message does not say so.
        return Err(Error::flag(
            what,
            name,
            "Invalid container name: at least 2 characters are needed ([a-zA-Z0-9][a-zA-Z0-9_.-]+, as docker)",
        ));
    }
    let ok = b.len() >= 2 && b[0].is_ascii_alphanumeric() && chars_ok;
    if !ok {
        return Err(Error::flag(
            what,
            name,
            "Invalid container name, only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed (at least 2 characters)",
        ));
    }
    Ok(n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names() {
        let a = new_id().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, new_id().unwrap());
        let n = new_name().unwrap();
        assert!(validate_name(&n).is_ok(), "{n}");
        assert_eq!(validate_name("/web-1").unwrap(), "web-1");
        for bad in ["", "a", "-x", "a b", "a/b"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
