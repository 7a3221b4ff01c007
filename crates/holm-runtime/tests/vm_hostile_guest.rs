//! A hostile guest: an "agent" that announces itself correctly, then floods the control channel with bytes that
//! are no frame (an oversized length, then 0xff forever). `create` must fail naming the guest protocol, the VM
//! must be killed (the guest would flood forever), and the host stays healthy: nothing of the container is left,
//! and the runtime still answers. The fake agent is a small static C program built here with `cc -static`.

mod lifecycle_util;
mod vm_support;

use holm_testkit::{unique_id, Bundle};
use lifecycle_util::*;
use std::process::Command;
use std::time::{Duration, Instant};
use vm_support::*;

const EVIL_AGENT: &str = r#"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static int find(const char *want) {
    char p[128], n[128];
    for (int i = 0; i < 8; i++) {
        snprintf(p, sizeof p, "/sys/class/virtio-ports/vport0p%d/name", i);
        int f = open(p, O_RDONLY);
        if (f < 0) continue;
        int r = read(f, n, sizeof n - 1);
        close(f);
        if (r <= 0) continue;
        n[r] = 0;
        if (strncmp(n, want, strlen(want)) == 0) {
            snprintf(p, sizeof p, "/dev/vport0p%d", i);
            return open(p, O_RDWR);
        }
    }
    return -1;
}

int main(void) {
    mkdir("/dev", 0755);
    mkdir("/sys", 0755);
    mount("devtmpfs", "/dev", "devtmpfs", 0, 0);
    mount("sysfs", "/sys", "sysfs", 0, 0);
    int c = -1;
    for (int t = 0; t < 2000 && c < 0; t++) {
        c = find("org.holm.control");
        if (c < 0) usleep(10000);
    }
    if (c < 0) for (;;) pause();
    const char *body = "{\"ready\":{\"protocol\":@PROTOCOL@,\"kernel\":\"evil\"}}";
    unsigned len = strlen(body) + 1;
    unsigned char h[5] = {len >> 24, len >> 16, len >> 8, len, 1};
    write(c, h, 5);
    write(c, body, strlen(body));
    unsigned char junk[4096];
    memset(junk, 0xff, sizeof junk);
    for (;;)
        if (write(c, junk, sizeof junk) < 0) usleep(100000);
}
"#;

#[test]
fn a_guest_flooding_garbage_gets_its_vm_killed() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("evil.c");
    let bin = dir.path().join("evil-agent");
    // The agent announces the protocol the host speaks, so the host gets past `Ready` to the garbage.
    let text = EVIL_AGENT.replace("@PROTOCOL@", &holm_vm_proto::PROTOCOL_VERSION.to_string());
    std::fs::write(&src, text).unwrap();
    command_ok(
        Command::new("cc")
            .args(["-static", "-O1", "-o"])
            .arg(&bin)
            .arg(&src),
        "cc -static (Debian's gcc and libc6-dev)",
    );
    let rt = vm_runtime_with_agent(&bin);
    let b = Bundle::busybox();
    let id = unique_id("vm-evil");
    let _g = rt.guard(&id);
    let t0 = Instant::now();
    let out = create_cmd(&rt, &b, &id)
        .output()
        .expect("run holm-runtime create");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "create must fail: {err}");
    assert!(
        err.contains("creating the container in the guest") && err.contains("guest protocol"),
        "the error should name the guest protocol: {err}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(120),
        "the violation took {:?} to end the VM",
        t0.elapsed()
    );
    // The VM is gone and nothing of the container is left; the runtime still works.
    assert!(
        processes_in_cgroup(&id).is_empty(),
        "processes left in the VM's cgroup: {:?}",
        processes_in_cgroup(&id)
    );
    assert_no_trace(&rt, &id, b.path());
    rt.ok(&["list"]);
}
