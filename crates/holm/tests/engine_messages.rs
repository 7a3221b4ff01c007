//! Messages as docker's, naming what the user typed: the name-length limit, the container as the user named it
//! (not its 64-character id), `--mount` types, `rename`'s argument, `top`'s ps error on one line, Go's arch in
//! `version`, and one measure of container size for `system df` and `container prune`.

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{Engine, IMAGE};

#[test]
fn messages_name_what_the_user_typed() {
    let e = Engine::new();
    let long = "a".repeat(129);
    let (_, err) = e.code(125, &["create", "--name", &long, IMAGE]);
    assert!(err.contains("at most 128 characters"), "{err}");
    assert!(!err.contains("only [a-zA-Z0-9]"), "{err}");

    let id = e
        .ok(&["create", "--name", "okname", IMAGE])
        .trim()
        .to_string();
    assert_eq!(id.len(), 64);
    for args in [
        &["exec", "okname", "true"][..],
        &["pause", "okname"],
        &["top", "okname"],
    ] {
        let o = e.run(args);
        assert!(!o.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("okname") && !err.contains(&id),
            "{args:?}: {err}"
        );
    }

    let (_, err) = e.code(
        125,
        &[
            "run",
            "--rm",
            "--mount",
            "type=bogus,target=/x",
            IMAGE,
            "true",
        ],
    );
    assert!(err.contains("expected bind, volume or tmpfs"), "{err}");

    let (_, err) = e.code(125, &["rename", "okname", "bad name!"]);
    assert!(err.contains("NEW_NAME") && !err.contains("--name"), "{err}");

    e.ok(&["rm", "okname"]);
    e.detached(&["--name", "topbox", IMAGE, "sleep", "300"]);
    let (_, err) = e.code(1, &["top", "topbox", "-o", "bogus"]);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!err.contains("\\n"), "{err}");
    e.ok(&["rm", "-f", "topbox"]);

    let v = e.ok(&["version"]);
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    assert!(v.contains(&format!("linux/{arch}\n")), "{v}");

    // system df and container prune size containers the same way
    e.ok(&["run", "--name", "ww", IMAGE, "sh", "-c", "echo hello > /f"]);
    let df = e.ok(&["system", "df"]);
    let size = df
        .lines()
        .find(|l| l.starts_with("Containers"))
        .and_then(|l| l.split_whitespace().nth(3))
        .unwrap()
        .to_string();
    let out = e.ok(&["container", "prune", "-f"]);
    assert!(
        out.ends_with(&format!("Total reclaimed space: {size}\n")),
        "df: {df}\nprune: {out}"
    );
}
