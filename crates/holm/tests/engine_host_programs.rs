//! Programs of the host that holm runs (issue 12: a fresh machine): when one is missing, the error names the
//! Debian package that provides it, and nothing is left behind. `nft` (package nftables) writes the default
//! bridge network's NAT table; `ps` (package procps) is what `holm top` runs, as docker does.

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{Engine, IMAGE};

/// An empty directory to use as `PATH`: no program can be found.
fn empty_path(e: &Engine) -> std::path::PathBuf {
    let p = e.tmp.path().join("empty-path");
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// In a fresh network namespace (`unshare -n`: no `ip holm` table yet, and the host's is untouched) with no
/// `nft` on PATH, a container on the default network cannot start: the error names the nftables package, and no
/// container or bridge port stays.
#[test]
fn a_missing_nft_names_the_nftables_package() {
    let e = Engine::new();
    let empty = empty_path(&e);
    let script = r#"
        holm() { "$HOLM" --root "$ROOT" --runroot "$RUNROOT" "$@"; }
        PATH="$EMPTY" holm run --rm "$IMAGE" echo started
        echo "rc=$?"
        PATH="$EMPTY" holm run --rm --network none "$IMAGE" echo without-network
        # netlink, not /sys/class/net: sysfs shows the namespace it was mounted in (the host's, where other tests
        # run containers on holm0 at the same time), not this private one
        echo "ports=$(ip -o link show master holm0 2>/dev/null | wc -l)"
    "#;
    let o = std::process::Command::new("unshare")
        .args(["-n", "sh", "-c", script])
        .env("HOLM", env!("CARGO_BIN_EXE_holm"))
        .env("ROOT", &e.root)
        .env("RUNROOT", &e.runroot)
        .env("EMPTY", &empty)
        .env("IMAGE", IMAGE)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(!out.contains("started"), "stdout: {out}\nstderr: {err}");
    assert!(out.contains("rc=125"), "stdout: {out}\nstderr: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    for want in [
        "`nft` program was not found",
        "install Debian's nftables package",
    ] {
        assert!(err.contains(want), "`{want}` missing from: {err}");
    }
    // Networking that needs no nft still works without it.
    assert!(
        out.lines().any(|l| l == "without-network"),
        "stdout: {out}\nstderr: {err}"
    );
    assert!(out.contains("ports=0"), "a veth stayed on holm0: {out}");
    assert_eq!(e.ok(&["ps", "-aq"]).trim(), "", "a container stayed");
}

/// `holm top` without `ps` on PATH names the procps package (exit 1, one line).
#[test]
fn a_missing_ps_names_the_procps_package() {
    let e = Engine::new();
    let empty = empty_path(&e);
    e.detached(&[
        "--name",
        "topless",
        "--network",
        "none",
        IMAGE,
        "sleep",
        "1000",
    ]);
    let o = e
        .cmd(&["top", "topless"])
        .env("PATH", &empty)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("`ps` program was not found")
            && err.contains("install Debian's procps package"),
        "{err}"
    );
    // With ps on PATH it works.
    let out = e.ok(&["top", "topless"]);
    assert!(out.contains("sleep 1000"), "{out}");
}
