//! scripts/quickstart.sh's closing message (run as the script prints it, from its heredoc): it gives the exact
//! `export PATH=…` line for the directory holm was built in, and no stale "pull comes later" note.

use std::process::Command;

#[test]
fn quickstart_prints_the_path_line() {
    let script = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/quickstart.sh"
    ))
    .unwrap();
    let start = script.find("cat <<MSG").expect("the closing message");
    let heredoc = &script[start..];
    let end = heredoc.find("\nMSG").expect("its end") + "\nMSG\n".len();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -u; holm=/opt/build/release/holm\n{}",
            &heredoc[..end]
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines()
            .any(|l| l.trim() == "export PATH=\"/opt/build/release:$PATH\""),
        "{text}"
    );
    assert!(!text.contains("later issue"), "{text}");
    assert!(
        text.contains("holm run --rm docker.io/library/alpine echo hello"),
        "{text}"
    );
}
