//! `holm cp` as docker's: a copy of a running container's `/` skips the kernel's file systems (proc, sysfs,
//! cgroup, devpts, mqueue) but includes its volumes; a failed copy leaves nothing; `-` streams a tar out or in;
//! FIFOs are copied; missing parents in the container are an error; `-L` follows a symlink at the source.

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{wait_until, Engine, IMAGE};
use std::io::Write;
use std::os::unix::fs::FileTypeExt;
use std::process::{Command, Stdio};
use std::time::Duration;

fn running_box(e: &Engine) {
    e.detached(&[
        "--name",
        "cpbox",
        "-v",
        "cpvol:/vol",
        IMAGE,
        "sh",
        "-c",
        "mkdir -p /d/sub && echo x > /d/sub/f && busybox mkfifo /d/fifo && echo v > /vol/v \
         && busybox ln -s /d/sub/f /d/lnk; touch /ready; exec sleep 300",
    ]);
    wait_until(Duration::from_secs(10), "cpbox ready", || {
        e.run(&["exec", "cpbox", "cat", "/ready"]).status.success()
    });
}

#[test]
fn cp_root_skips_kernel_file_systems_and_cleans_up() {
    let e = Engine::new();
    e.detached(&[
        "--name",
        "cpbox",
        "-v",
        "cpvol:/vol",
        IMAGE,
        "sh",
        "-c",
        "mkdir -p /d /big && busybox mkfifo /d/fifo && echo v > /vol/v \
         && busybox dd if=/dev/zero of=/big/zero bs=1024 count=1024 2>/dev/null; touch /ready; exec sleep 300",
    ]);
    wait_until(Duration::from_secs(10), "cpbox ready", || {
        e.run(&["exec", "cpbox", "cat", "/ready"]).status.success()
    });
    let dest = e.tmp.path().join("rootcopy");
    e.ok(&["cp", "cpbox:/", dest.to_str().unwrap()]);
    for k in ["proc", "sys"] {
        let d = dest.join(k);
        assert!(d.is_dir(), "{k}");
        assert_eq!(
            std::fs::read_dir(&d).unwrap().count(),
            0,
            "{k} is not empty"
        );
    }
    assert!(!dest.join("dev/pts/ptmx").exists(), "devpts copied");
    assert_eq!(std::fs::read_to_string(dest.join("vol/v")).unwrap(), "v\n");
    assert!(std::fs::symlink_metadata(dest.join("d/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert!(dest.join("bin/busybox").is_file());
    assert_eq!(
        std::fs::metadata(dest.join("big/zero")).unwrap().len(),
        1 << 20
    );

    // a copy that fails (no space left on a small tmpfs) removes what it created
    let small = e.tmp.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&small)
        .status()
        .unwrap();
    assert!(st.success());
    let (_, err) = e.code(1, &["cp", "cpbox:/big", small.join("b").to_str().unwrap()]);
    assert!(err.contains("No space left"), "{err}");
    assert_eq!(
        std::fs::read_dir(&small).unwrap().count(),
        0,
        "a half copy was left"
    );
    holm_sys::mount::umount2(&small, 0).unwrap();
}

#[test]
fn cp_tar_streams_fifos_parents_follow_link() {
    let e = Engine::new();
    running_box(&e);
    let host = e.tmp.path().join("host");
    std::fs::create_dir_all(host.join("in/deeper")).unwrap();
    std::fs::write(host.join("in/deeper/file"), "from tar\n").unwrap();
    std::fs::write(host.join("file"), "plain\n").unwrap();
    assert!(Command::new("mkfifo")
        .arg(host.join("in/ff"))
        .status()
        .unwrap()
        .success());

    // cp C:SRC - : a tar stream on stdout
    let o = e.run(&["cp", "cpbox:/d", "-"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut names: Vec<String> = tar::Archive::new(&o.stdout[..])
        .entries()
        .unwrap()
        .map(|en| en.unwrap().path().unwrap().display().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["d/", "d/fifo", "d/lnk", "d/sub/", "d/sub/f"]);
    let out = e.tmp.path().join("untar");
    std::fs::create_dir(&out).unwrap();
    let mut t = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(&out)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    t.stdin.take().unwrap().write_all(&o.stdout).unwrap();
    assert!(t.wait().unwrap().success());
    assert_eq!(std::fs::read_to_string(out.join("d/sub/f")).unwrap(), "x\n");
    assert!(std::fs::symlink_metadata(out.join("d/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());

    // cp - C:DST : a tar stream from stdin, extracted in the container
    let tarball = Command::new("tar")
        .arg("-c")
        .arg("-C")
        .arg(host.join("in"))
        .arg(".")
        .output()
        .unwrap();
    assert!(tarball.status.success());
    e.ok(&["exec", "cpbox", "mkdir", "/tmp/x"]);
    let pipe_in = |dst: &str| {
        let mut c = e
            .cmd(&["cp", "-", dst])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(&tarball.stdout).unwrap();
        c.wait_with_output().unwrap()
    };
    let o = pipe_in("cpbox:/tmp/x");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        e.ok(&[
            "exec",
            "cpbox",
            "sh",
            "-c",
            "cat /tmp/x/deeper/file; busybox test -p /tmp/x/ff && echo fifo"
        ]),
        "from tar\nfifo\n"
    );
    assert!(!e.root.join("-").exists() && !std::path::Path::new("-").exists());
    let o = pipe_in("cpbox:/nonexist");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("Could not find the file /nonexist in container cpbox"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // a stream that breaks off: what it had extracted at the top of DST is removed
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    b.append_data(&mut h, "newtop/a", &b"abc"[..]).unwrap();
    let mut broken = b.into_inner().unwrap();
    broken.truncate(broken.len() - 1024); // no end-of-archive blocks: a header that does not parse instead
    broken.extend_from_slice(&[b'x'; 512]);
    e.ok(&["exec", "cpbox", "mkdir", "/tmp/y"]);
    let mut c = e
        .cmd(&["cp", "-", "cpbox:/tmp/y"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(&broken).unwrap();
    let o = c.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        !err.contains("newtop/a"),
        "the first entry itself failed: {err}"
    );
    assert_eq!(e.ok(&["exec", "cpbox", "ls", "-A", "/tmp/y"]), "");

    // a FIFO in a host directory is copied into the container (it used to fail, leaving an empty directory)
    e.ok(&["cp", host.join("in").to_str().unwrap(), "cpbox:/fromhost"]);
    assert_eq!(
        e.ok(&[
            "exec",
            "cpbox",
            "sh",
            "-c",
            "busybox test -p /fromhost/ff && cat /fromhost/deeper/file"
        ]),
        "from tar\n"
    );

    // missing parents in the container: docker's error, nothing created
    for src in [host.join("file"), host.join("in")] {
        let (_, err) = e.code(1, &["cp", src.to_str().unwrap(), "cpbox:/nonexist/deep/x"]);
        assert!(
            err.contains("Could not find the file /nonexist/deep in container cpbox"),
            "{err}"
        );
    }
    assert!(!e
        .run(&["exec", "cpbox", "ls", "/nonexist"])
        .status
        .success());

    // -L follows a symlink at the source path; without it the link is copied
    let got = e.tmp.path().join("got");
    std::fs::create_dir(&got).unwrap();
    e.ok(&["cp", "cpbox:/d/lnk", got.join("plain").to_str().unwrap()]);
    assert_eq!(
        std::fs::read_link(got.join("plain")).unwrap().to_str(),
        Some("/d/sub/f")
    );
    e.ok(&[
        "cp",
        "-L",
        "cpbox:/d/lnk",
        got.join("followed").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(got.join("followed")).unwrap(),
        "x\n"
    );
    e.ok(&["cp", "--follow-link", "cpbox:/d/lnk", got.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(got.join("lnk")).unwrap(), "x\n");

    // docker's rule: a source ending in `/.` or `/` follows a final symlink (inside the container: /d/sub is no
    // host path) and copies the directory it names, not the link
    e.ok(&["exec", "cpbox", "busybox", "ln", "-s", "/d/sub", "/d/dl"]);
    e.ok(&[
        "cp",
        "cpbox:/d/dl/.",
        got.join("contents").to_str().unwrap(),
    ]);
    let contents = got.join("contents");
    assert!(std::fs::symlink_metadata(&contents).unwrap().is_dir());
    assert_eq!(std::fs::read_to_string(contents.join("f")).unwrap(), "x\n");
    e.ok(&["cp", "cpbox:/d/dl/", got.join("slash").to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(got.join("slash/f")).unwrap(), "x\n");
    let tar = e.run(&["cp", "cpbox:/d/dl/.", "-"]);
    assert!(tar.status.success());
    let mut names: Vec<String> = tar::Archive::new(&tar.stdout[..])
        .entries()
        .unwrap()
        .map(|en| en.unwrap().path().unwrap().display().to_string())
        .collect();
    names.sort();
    // docker's names for a `/.` source: `./`, `./f` (the docker CLI rebases on that leading `.`)
    assert!(names.iter().all(|n| n.starts_with("./")), "{names:?}");
    assert!(names.iter().any(|n| n == "./f"), "{names:?}");
}

/// A stopped container is copied with its volumes and bind-mounted directories, as docker does.
#[test]
fn cp_from_a_stopped_container_includes_volumes_and_binds() {
    let e = Engine::new();
    let bind = e.tmp.path().join("bindsrc");
    std::fs::create_dir(&bind).unwrap();
    std::fs::write(bind.join("hostfile"), "from the host\n").unwrap();
    e.ok(&[
        "run",
        "--name",
        "st",
        "-v",
        "stvol:/vol",
        "--mount",
        &format!("type=bind,source={},target=/b", bind.display()),
        IMAGE,
        "sh",
        "-c",
        "mkdir /vol/sub && echo v > /vol/sub/v",
    ]);
    assert_eq!(e.status("st"), "exited");
    let out = e.tmp.path().join("stout");
    std::fs::create_dir(&out).unwrap();
    e.ok(&["cp", "st:/vol", out.join("vol").to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(out.join("vol/sub/v")).unwrap(),
        "v\n"
    );
    e.ok(&["cp", "st:/vol/sub/v", out.join("v").to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(out.join("v")).unwrap(), "v\n");
    e.ok(&["cp", "st:/", out.join("root").to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(out.join("root/vol/sub/v")).unwrap(),
        "v\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("root/b/hostfile")).unwrap(),
        "from the host\n"
    );
    let o = e.run(&["cp", "st:/vol", "-"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let names: Vec<String> = tar::Archive::new(&o.stdout[..])
        .entries()
        .unwrap()
        .map(|en| en.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.contains(&"vol/sub/v".to_string()), "{names:?}");
    // into a stopped container: the volume and the bind source receive the files
    let f = e.tmp.path().join("newfile");
    std::fs::write(&f, "copied in\n").unwrap();
    e.ok(&["cp", f.to_str().unwrap(), "st:/vol/sub/"]);
    assert_eq!(
        e.ok(&[
            "run",
            "--rm",
            "-v",
            "stvol:/v",
            IMAGE,
            "cat",
            "/v/sub/newfile"
        ]),
        "copied in\n"
    );
    let tarball = Command::new("tar")
        .arg("-c")
        .arg("-C")
        .arg(e.tmp.path())
        .arg("newfile")
        .output()
        .unwrap();
    let mut c = e
        .cmd(&["cp", "-", "st:/b"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(&tarball.stdout).unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(bind.join("newfile")).unwrap(),
        "copied in\n"
    );
    assert!(
        e.mounts().iter().all(|m| !m.contains("rootfs")),
        "{:?}",
        e.mounts()
    );
}

/// `tar -c -C DIR NAME` as bytes.
fn tar_of(dir: &std::path::Path, name: &str) -> Vec<u8> {
    let o = Command::new("tar")
        .arg("-c")
        .arg("-C")
        .arg(dir)
        .arg(name)
        .output()
        .unwrap();
    assert!(o.status.success());
    o.stdout
}

/// `holm cp - C:DST` fed `input`; the command's output.
fn cp_stdin(e: &Engine, dst: &str, input: &[u8]) -> std::process::Output {
    let mut c = e
        .cmd(&["cp", "-", dst])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(input).unwrap();
    c.wait_with_output().unwrap()
}

#[test]
fn cp_into_a_stopped_container_refuses_read_only_mounts_and_rootfs() {
    let e = Engine::new();
    let robind = e.tmp.path().join("robind");
    let romount = e.tmp.path().join("romount");
    for d in [&robind, &romount] {
        std::fs::create_dir(d).unwrap();
        std::fs::write(d.join("keep"), "keep\n").unwrap();
    }
    e.ok(&[
        "create",
        "--name",
        "rox",
        "-v",
        &format!("{}:/ro:ro", robind.display()),
        "-v",
        "rovol:/rv:ro",
        "-v",
        "rwvol:/rw",
        "--mount",
        &format!(
            "type=bind,source={},target=/mro,readonly",
            romount.display()
        ),
        IMAGE,
        "sleep",
        "100",
    ]);
    let evil = e.tmp.path().join("evil.txt");
    std::fs::write(&evil, "evil\n").unwrap();
    let evil_s = evil.to_str().unwrap();
    for dst in [
        "rox:/ro/",
        "rox:/ro",
        "rox:/ro/keep",
        "rox:/ro/new",
        "rox:/mro/",
        "rox:/mro/keep",
        "rox:/rv/",
    ] {
        let (_, err) = e.code(1, &["cp", evil_s, dst]);
        assert!(
            err.contains("mounted volume is marked read-only"),
            "{dst}: {err}"
        );
    }
    let o = cp_stdin(&e, "rox:/ro", &tar_of(e.tmp.path(), "evil.txt"));
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("mounted volume is marked read-only"));
    for d in [&robind, &romount] {
        assert_eq!(std::fs::read_to_string(d.join("keep")).unwrap(), "keep\n");
        assert_eq!(std::fs::read_dir(d).unwrap().count(), 1, "{}", d.display());
    }
    // reading from them, and writing to a writable volume, still work
    let out = e.tmp.path().join("out");
    e.ok(&["cp", "rox:/ro/keep", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep\n");
    e.ok(&["cp", evil_s, "rox:/rw/"]);

    // --read-only: the rootfs refuses, its writable volume takes the copy
    e.ok(&[
        "create",
        "--read-only",
        "--name",
        "roy",
        "-v",
        "rwvol:/w",
        IMAGE,
        "true",
    ]);
    let (_, err) = e.code(1, &["cp", evil_s, "roy:/etc/"]);
    assert!(
        err.contains("container rootfs is marked read-only"),
        "{err}"
    );
    let o = cp_stdin(&e, "roy:/etc", &tar_of(e.tmp.path(), "evil.txt"));
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("container rootfs is marked read-only"));
    let back = e.tmp.path().join("back");
    let (_, err) = e.code(1, &["cp", "roy:/etc/evil.txt", back.to_str().unwrap()]);
    assert!(
        err.contains("Could not find") || err.contains("No such"),
        "{err}"
    );
    e.ok(&["cp", evil_s, "roy:/w/"]);
    e.ok(&["cp", "roy:/w/evil.txt", back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "evil\n");
    e.ok(&[
        "cp",
        "roy:/bin/busybox",
        e.tmp.path().join("bb").to_str().unwrap(),
    ]);
}

#[test]
fn cp_stopped_container_resolves_symlinks_into_mounts_and_file_binds() {
    let e = Engine::new();
    let bind = e.tmp.path().join("bindsrc");
    std::fs::create_dir(&bind).unwrap();
    let cfg = e.tmp.path().join("cfgfile");
    std::fs::write(&cfg, "host cfg\n").unwrap();
    e.ok(&[
        "run",
        "--name",
        "sy",
        "-v",
        &format!("{}:/b", bind.display()),
        "-v",
        "syvol:/v",
        "-v",
        &format!("{}:/etc/cfg", cfg.display()),
        IMAGE,
        "sh",
        "-c",
        "if test -e /ready; then cat /tob/a /etc/cfg; else echo inv > /v/f && busybox ln -s /b /tob \
         && busybox ln -s ../v /etc/tov && touch /ready; fi",
    ]);
    assert_eq!(e.status("sy"), "exited");
    let f = e.tmp.path().join("f");
    std::fs::write(&f, "new\n").unwrap();
    let fs_ = f.to_str().unwrap();
    // through a symlink into a bind mount: the host directory receives it
    e.ok(&["cp", fs_, "sy:/tob/a"]);
    assert_eq!(std::fs::read_to_string(bind.join("a")).unwrap(), "new\n");
    e.ok(&["cp", fs_, "sy:/tob"]);
    assert_eq!(std::fs::read_to_string(bind.join("f")).unwrap(), "new\n");
    let o = cp_stdin(&e, "sy:/tob", &tar_of(e.tmp.path(), "f"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // ... and out of one (a relative symlink into a volume)
    let o = e.run(&["cp", "sy:/etc/tov/f", "-"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut a = tar::Archive::new(&o.stdout[..]);
    let mut en = a.entries().unwrap().next().unwrap().unwrap();
    let mut s = String::new();
    std::io::Read::read_to_string(&mut en, &mut s).unwrap();
    assert_eq!(s, "inv\n");
    let out = e.tmp.path().join("out");
    e.ok(&["cp", "sy:/tob/a", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "new\n");
    // a file bind: read from and written to the host file
    e.ok(&["cp", "sy:/etc/cfg", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "host cfg\n");
    e.ok(&["cp", fs_, "sy:/etc/cfg"]);
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), "new\n");
    let o = e.run(&["cp", "sy:/etc/cfg", "-"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // a directory copy whose tree would land on a mount point below the target is refused, not half-written
    let tree = e.tmp.path().join("tree");
    std::fs::create_dir_all(tree.join("b")).unwrap();
    std::fs::write(tree.join("b/x"), "x\n").unwrap();
    let (_, err) = e.code(1, &["cp", &format!("{}/.", tree.display()), "sy:/"]);
    assert!(err.contains("mount at /b"), "{err}");
    assert!(!bind.join("x").exists());
    let o = cp_stdin(&e, "sy:/", &tar_of(&tree, "b"));
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("mount at /b"));
    // an archive with nothing on a mount is extracted
    let o = cp_stdin(&e, "sy:/", &tar_of(e.tmp.path(), "f"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    e.ok(&["cp", "sy:/f", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "new\n");
    // the container sees the files where they were copied
    assert_eq!(e.ok(&["start", "-a", "sy"]), "new\nnew\n");
}
