//! A created (not yet started) container ends on SIGTERM like runc's init does, and `linux.devices` cannot
//! reach outside `/dev`.

use holm_testkit::{require_root, unique_id, wait_until, Bundle, Runtime};
use serde_json::json;
use std::time::Duration;

fn runtime() -> Runtime {
    require_root();
    Runtime::new(env!("CARGO_BIN_EXE_holm-runtime"))
}

#[test]
fn term_ends_a_created_container() {
    let rt = runtime();
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "100"]);
    for sig in ["TERM", "INT", "HUP"] {
        let id = unique_id("created-sig");
        let _g = rt.guard(&id);
        rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
        assert_eq!(rt.state(&id)["status"], "created");
        rt.ok(&["kill", &id, sig]);
        wait_until(
            Duration::from_secs(10),
            "the created container to stop",
            || rt.state(&id)["status"] == "stopped",
        );
        rt.ok(&["delete", &id]);
    }
}

#[test]
fn device_paths_must_stay_below_dev() {
    let rt = runtime();
    for path in ["/dev/../etc/passwd", "/etc/mydev", "/dev"] {
        let mut b = Bundle::busybox();
        let passwd = std::fs::read(b.rootfs().join("etc/passwd")).unwrap();
        b.config_mut()["linux"]["devices"] =
            json!([{"path": path, "type": "c", "major": 1, "minor": 3}]);
        b.write_config();
        let id = unique_id("devpath");
        let _g = rt.guard(&id);
        let out = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("linux.devices[0].path"), "{path}: {err}");
        assert!(!rt.root().join(&id).exists());
        assert_eq!(
            std::fs::read(b.rootfs().join("etc/passwd")).unwrap(),
            passwd,
            "{path}: rootfs passwd changed"
        );
    }
}
