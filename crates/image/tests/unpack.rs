//! Layer unpacking against hostile and unusual tars: every case of issue 6's list is one test. Each test
//! unpacks into `layer/` of a fresh sandbox and checks that nothing beside it was created, changed or linked.

mod common;

use common::tars::{gzip, zstd, Tar};
use common::{require_root, unique, Sandbox};
use holm_image::digest;
use holm_image::unpack::{unpack_layer, Compression, LayerDiff, UnpackError, UnpackOptions};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use tar::EntryType;

fn unpack(sb: &Sandbox, tar: &[u8]) -> Result<LayerDiff, UnpackError> {
    require_root();
    unpack_layer(
        tar,
        Compression::None,
        &sb.layer(),
        &UnpackOptions::default(),
    )
}

fn md(p: impl AsRef<Path>) -> std::fs::Metadata {
    std::fs::symlink_metadata(p).unwrap()
}

#[test]
fn dotdot_and_absolute_names_stay_inside() {
    let sb = Sandbox::new();
    let before = sb.state_outside();
    let tar = Tar::new()
        .file("../../escape1", 0o644, b"1")
        .file("/abs/file", 0o644, b"2")
        .file("/../escape2", 0o644, b"3")
        .file("a/../../../escape3", 0o644, b"4")
        .file("../outside/victim", 0o644, b"pwned")
        .file("./ok/../fine", 0o600, b"5")
        .bytes();
    let diff = unpack(&sb, &tar).unwrap();
    assert_eq!(diff.diff_id, digest::sha256(&tar));
    assert_eq!(diff.tar_size, tar.len() as u64);
    let l = sb.layer();
    assert_eq!(std::fs::read(l.join("escape1")).unwrap(), b"1");
    assert_eq!(std::fs::read(l.join("abs/file")).unwrap(), b"2");
    assert_eq!(std::fs::read(l.join("escape2")).unwrap(), b"3");
    assert_eq!(std::fs::read(l.join("escape3")).unwrap(), b"4");
    assert_eq!(std::fs::read(l.join("outside/victim")).unwrap(), b"pwned");
    assert_eq!(std::fs::read(l.join("fine")).unwrap(), b"5");
    assert_eq!(sb.state_outside(), before);
}

#[test]
fn symlink_to_outside_then_write_through_it() {
    let etc_name = unique("holm-pwned");
    type Case = Box<dyn Fn(&Sandbox) -> Vec<u8>>;
    let cases: Vec<Case> = vec![
        Box::new(|_| {
            Tar::new()
                .symlink("rel", "../outside")
                .file("rel/victim", 0o644, b"pwned")
                .bytes()
        }),
        Box::new(|sb| {
            let abs = sb.outside().display().to_string();
            Tar::new()
                .symlink("abs", &abs)
                .file("abs/victim", 0o644, b"pwned")
                .dir("abs/victimdir", 0o777)
                .bytes()
        }),
        Box::new(|_| {
            Tar::new()
                .symlink("deep", "../../../../../../../..")
                .file("deep/victim", 0o644, b"pwned")
                .bytes()
        }),
        Box::new(|sb| {
            let abs = sb.tmp.path().join("victim").display().to_string();
            Tar::new()
                .symlink("f", &abs)
                .file("f", 0o644, b"pwned")
                .bytes()
        }),
        Box::new(move |_| {
            Tar::new()
                .symlink("etc", "/etc")
                .file(&format!("etc/{etc_name}"), 0o644, b"pwned")
                .bytes()
        }),
    ];
    for (i, case) in cases.iter().enumerate() {
        let sb = Sandbox::new();
        let before = sb.state_outside();
        // Writing through a symlink whose in-layer target does not exist fails; either way nothing outside changes.
        let _ = unpack(&sb, &case(&sb));
        assert_eq!(sb.state_outside(), before, "case {i}");
    }
    // When the symlink's target exists inside the layer, the write lands there.
    let sb = Sandbox::new();
    let before = sb.state_outside();
    let abs = sb.outside().display().to_string();
    let tar = Tar::new()
        .dir("outside", 0o755)
        .dir(abs.trim_start_matches('/'), 0o755)
        .symlink("rel", "../outside")
        .symlink("abs", &abs)
        .file("rel/victim", 0o644, b"rel")
        .file("abs/victim", 0o644, b"abs")
        .bytes();
    unpack(&sb, &tar).unwrap();
    let l = sb.layer();
    assert_eq!(std::fs::read(l.join("outside/victim")).unwrap(), b"rel");
    assert_eq!(
        std::fs::read(l.join(abs.trim_start_matches('/')).join("victim")).unwrap(),
        b"abs"
    );
    assert!(md(l.join("rel")).file_type().is_symlink());
    assert_eq!(sb.state_outside(), before);
}

#[test]
fn hardlink_to_outside_is_refused() {
    let sb = Sandbox::new();
    let before = sb.state_outside();
    let err = unpack(
        &sb,
        &Tar::new().hardlink("link", "../victim", 0o644).bytes(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("link"), "{err}");
    let err = unpack(
        &sb,
        &Tar::new()
            .hardlink("link2", "../outside/victim", 0o644)
            .bytes(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("link2"), "{err}");
    let abs = sb.outside().join("victim").display().to_string();
    assert!(unpack(&sb, &Tar::new().hardlink("link3", &abs, 0o644).bytes()).is_err());
    // A hardlink to a name inside the layer that is a symlink to outside links the symlink itself.
    let tar = Tar::new()
        .symlink("s", "../outside/victim")
        .hardlink("h", "s", 0o6777)
        .bytes();
    unpack(&sb, &tar).unwrap();
    assert!(md(sb.layer().join("h")).file_type().is_symlink());
    assert_eq!(
        md(sb.layer().join("h")).ino(),
        md(sb.layer().join("s")).ino()
    );
    assert_eq!(sb.state_outside(), before);
}

#[test]
fn hardlink_named_like_existing_symlink_with_setuid_mode() {
    let sb = Sandbox::new();
    let before = sb.state_outside();
    let victim = sb.tmp.path().join("victim").display().to_string();
    let tar = Tar::new()
        .file("target", 0o644, b"inside")
        .symlink("s", &victim)
        .symlink("r", "../victim")
        .hardlink("s", "target", 0o6777)
        .hardlink("r", "target", 0o6777)
        .bytes();
    unpack(&sb, &tar).unwrap();
    let l = sb.layer();
    assert_eq!(md(l.join("s")).ino(), md(l.join("target")).ino());
    assert_eq!(md(l.join("r")).ino(), md(l.join("target")).ino());
    assert_eq!(md(l.join("target")).mode() & 0o7777, 0o644);
    assert_eq!(md(l.join("target")).nlink(), 3);
    assert_eq!(sb.state_outside(), before);
}

#[test]
fn no_metadata_change_follows_a_symlink() {
    let sb = Sandbox::new();
    let before = sb.state_outside();
    let victim = sb.tmp.path().join("victim").display().to_string();
    let victimdir = sb.outside().join("victimdir").display().to_string();
    let tar = Tar::new()
        // symlinks with owner, mode, mtime and xattrs of their own
        .pax(&[("SCHILY.xattr.trusted.holm", b"x")])
        .raw("s1", EntryType::Symlink, 0o777, Some(&victim), b"", |h| {
            h.set_uid(1234);
            h.set_gid(4321);
            h.set_mtime(1000);
        })
        // entries of other types named like an existing symlink replace it
        .symlink("s2", &victim)
        .file("s2", 0o6777, b"replaced")
        .symlink("s3", &victimdir)
        .dir("s3", 0o777)
        .symlink("s4", &victim)
        .device("s4", EntryType::Fifo, 0, 0, 0o6777)
        .symlink("s5", "../victim")
        .raw("s5", EntryType::Regular, 0o4755, None, b"x", |h| {
            h.set_uid(99);
        })
        .bytes();
    unpack(&sb, &tar).unwrap();
    let l = sb.layer();
    let s1 = md(l.join("s1"));
    assert!(s1.file_type().is_symlink());
    assert_eq!((s1.uid(), s1.gid(), s1.mtime()), (1234, 4321, 1000));
    assert_eq!(
        holm_sys::fs::lgetxattr(&l.join("s1"), "trusted.holm").unwrap(),
        Some(b"x".to_vec())
    );
    assert_eq!(md(l.join("s2")).mode() & 0o7777, 0o6777);
    assert!(md(l.join("s2")).is_file());
    assert!(md(l.join("s3")).is_dir());
    assert!(md(l.join("s4")).file_type().is_fifo());
    assert_eq!(md(l.join("s4")).mode() & 0o7777, 0o6777);
    assert_eq!(md(l.join("s5")).uid(), 99);
    assert_eq!(sb.state_outside(), before);
}

#[test]
fn whiteouts_are_stored_in_overlay_form() {
    let sb = Sandbox::new();
    let tar = Tar::new()
        .file("dir/a", 0o644, b"a")
        .file("dir/.wh..wh..opq", 0o644, b"")
        .file(".wh.gone", 0o644, b"")
        .file("sub/.wh.gone2", 0o644, b"")
        .file("made/x", 0o644, b"x")
        .file(".wh.made", 0o644, b"")
        .file(".wh..wh.plnk/123.456", 0o644, b"aufs")
        .bytes();
    unpack(&sb, &tar).unwrap();
    let l = sb.layer();
    // opaque marker after files of the same directory: the files stay, the directory is opaque
    assert_eq!(std::fs::read(l.join("dir/a")).unwrap(), b"a");
    assert_eq!(
        holm_sys::fs::lgetxattr(&l.join("dir"), "trusted.overlay.opaque").unwrap(),
        Some(b"y".to_vec())
    );
    assert!(!l.join("dir/.wh..wh..opq").exists());
    for w in ["gone", "sub/gone2", "made"] {
        let m = md(l.join(w));
        assert!(m.file_type().is_char_device(), "{w}");
        assert_eq!(m.rdev(), 0, "{w}");
    }
    assert!(!l.join(".wh..wh.plnk").exists());
}

#[test]
fn directory_recreated_over_whiteout_in_same_layer_is_opaque() {
    let sb = Sandbox::new();
    let tar = Tar::new()
        .file(".wh.d", 0o644, b"")
        .dir("d", 0o755)
        .file("d/new", 0o644, b"n")
        .bytes();
    unpack(&sb, &tar).unwrap();
    let l = sb.layer();
    assert!(md(l.join("d")).is_dir());
    assert_eq!(
        holm_sys::fs::lgetxattr(&l.join("d"), "trusted.overlay.opaque").unwrap(),
        Some(b"y".to_vec())
    );
}

#[test]
fn malformed_whiteouts_are_rejected_and_never_delete_a_parent() {
    for name in [
        "dir/.wh.",
        "dir/.wh..",
        "dir/.wh...",
        ".wh.",
        ".wh..",
        ".wh.../x",
    ] {
        let sb = Sandbox::new();
        let before = sb.state_outside();
        let tar = Tar::new()
            .file("dir/keep", 0o644, b"k")
            .file("keep", 0o644, b"k")
            .file(name, 0o644, b"")
            .bytes();
        let err = unpack(&sb, &tar).unwrap_err();
        assert!(
            matches!(err, UnpackError::InvalidWhiteout(_)),
            "{name}: {err}"
        );
        assert!(err.to_string().contains(".wh."), "{err}");
        assert_eq!(
            std::fs::read(sb.layer().join("dir/keep")).unwrap(),
            b"k",
            "{name}"
        );
        assert_eq!(
            std::fs::read(sb.layer().join("keep")).unwrap(),
            b"k",
            "{name}"
        );
        assert_eq!(sb.state_outside(), before);
    }
}

#[test]
fn devices_fifos_owners_modes_setuid_and_mtimes_are_exact() {
    let sb = Sandbox::new();
    let tar = Tar::new()
        .device("dev/null", EntryType::Char, 1, 3, 0o666)
        .device("dev/loop9", EntryType::Block, 7, 9, 0o660)
        .device("fifo", EntryType::Fifo, 0, 0, 0o640)
        .file_owned("suid", 0o4755, 1000, 1001, b"s")
        .file_owned("sgid", 0o2711, 0, 50, b"g")
        .raw("sticky", EntryType::Directory, 0o1777, None, b"", |h| {
            h.set_mtime(1234567)
        })
        .file("sticky/f", 0o600, b"f")
        .pax(&[
            ("mtime", b"1700000000.123456789"),
            ("atime", b"1600000000.5"),
        ])
        .file("precise", 0o444, b"p")
        .raw(
            "owned-link",
            EntryType::Symlink,
            0o777,
            Some("suid"),
            b"",
            |h| {
                h.set_uid(7);
                h.set_gid(8);
                h.set_mtime(42);
            },
        )
        .raw("ro-dir", EntryType::Directory, 0o555, None, b"", |h| {
            h.set_mtime(77)
        })
        .file("ro-dir/inner", 0o644, b"i")
        .bytes();
    unpack(&sb, &tar).unwrap();
    let l = sb.layer();
    let m = md(l.join("dev/null"));
    assert!(m.file_type().is_char_device());
    assert_eq!((m.rdev(), m.mode() & 0o7777), (libc::makedev(1, 3), 0o666));
    let m = md(l.join("dev/loop9"));
    assert!(m.file_type().is_block_device());
    assert_eq!((m.rdev(), m.mode() & 0o7777), (libc::makedev(7, 9), 0o660));
    let m = md(l.join("fifo"));
    assert!(m.file_type().is_fifo());
    assert_eq!(m.mode() & 0o7777, 0o640);
    let m = md(l.join("suid"));
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o4755, 1000, 1001));
    let m = md(l.join("sgid"));
    assert_eq!((m.mode() & 0o7777, m.gid()), (0o2711, 50));
    let m = md(l.join("sticky"));
    assert_eq!((m.mode() & 0o7777, m.mtime()), (0o1777, 1234567));
    let m = md(l.join("precise"));
    assert_eq!((m.mtime(), m.mtime_nsec()), (1700000000, 123456789));
    assert_eq!((m.atime(), m.atime_nsec()), (1600000000, 500000000));
    assert_eq!(m.mode() & 0o7777, 0o444);
    let m = md(l.join("owned-link"));
    assert_eq!((m.uid(), m.gid(), m.mtime()), (7, 8, 42));
    let m = md(l.join("ro-dir"));
    assert_eq!((m.mode() & 0o7777, m.mtime()), (0o555, 77));
    assert_eq!(std::fs::read(l.join("ro-dir/inner")).unwrap(), b"i");
}

#[test]
fn xattrs_including_file_capabilities() {
    let sb = Sandbox::new();
    // VFS_CAP_REVISION_2, permitted = CAP_NET_BIND_SERVICE (bit 10), effective flag set.
    let cap: [u8; 20] = [
        0x01, 0, 0, 0x02, 0, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let tar = Tar::new()
        .pax(&[
            ("SCHILY.xattr.security.capability", &cap[..]),
            ("SCHILY.xattr.user.note", b"hello"),
            ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
        ])
        .raw("ping", EntryType::Regular, 0o755, None, b"bin", |h| {
            h.set_uid(0);
        })
        .pax(&[("SCHILY.xattr.user.dir", b"d")])
        .dir("xdir", 0o755)
        .bytes();
    unpack(&sb, &tar).unwrap();
    let l = sb.layer();
    let get = |p: &str, k: &str| holm_sys::fs::lgetxattr(&l.join(p), k).unwrap();
    assert_eq!(get("ping", "security.capability"), Some(cap.to_vec()));
    assert_eq!(get("ping", "user.note"), Some(b"hello".to_vec()));
    assert_eq!(
        get("ping", "trusted.overlay.opaque"),
        None,
        "overlay xattrs from a tar are dropped"
    );
    assert_eq!(get("xdir", "user.dir"), Some(b"d".to_vec()));
}

#[test]
fn sparse_and_long_names() {
    let sb = Sandbox::new();
    let long_dir = "d".repeat(120);
    let long_name = format!("{long_dir}/{}", "f".repeat(200));
    let gib = 1u64 << 30;
    let tar = Tar::new()
        .long_file(&long_name, 0o644, b"long")
        .pax(&[("path", b"pax/named/file-with-a-pax-path")])
        .file("short", 0o644, b"pax")
        .sparse(
            "sparse",
            gib + 4096,
            &[(0, &[1u8; 512][..]), (gib, &[2u8; 4096][..])],
        )
        .bytes();
    assert!(tar.len() < 64 * 1024);
    unpack(&sb, &tar).unwrap();
    let l = sb.layer();
    assert_eq!(std::fs::read(l.join(&long_name)).unwrap(), b"long");
    assert_eq!(
        std::fs::read(l.join("pax/named/file-with-a-pax-path")).unwrap(),
        b"pax"
    );
    assert!(!l.join("short").exists());
    let m = md(l.join("sparse"));
    assert_eq!(m.len(), gib + 4096);
    assert!(
        m.blocks() * 512 < 1 << 20,
        "holes were written: {} blocks",
        m.blocks()
    );
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(l.join("sparse")).unwrap();
    let mut buf = vec![0u8; 1024];
    f.read_exact(&mut buf).unwrap();
    assert!(buf[..512].iter().all(|b| *b == 1) && buf[512..].iter().all(|b| *b == 0));
    f.seek(SeekFrom::Start(gib - 512)).unwrap();
    f.read_exact(&mut buf).unwrap();
    assert!(buf[..512].iter().all(|b| *b == 0) && buf[512..].iter().all(|b| *b == 2));
}

#[test]
fn gzip_and_zstd_layers_give_the_uncompressed_diff_id() {
    let tar = Tar::new()
        .file("a", 0o644, b"hello")
        .dir("b", 0o755)
        .bytes();
    for (blob, c) in [
        (gzip(&tar), Compression::Gzip),
        (zstd(&tar), Compression::Zstd),
    ] {
        let sb = Sandbox::new();
        require_root();
        let d = unpack_layer(&blob[..], c, &sb.layer(), &UnpackOptions::default()).unwrap();
        assert_eq!(d.diff_id, digest::sha256(&tar));
        assert_eq!(d.tar_size, tar.len() as u64);
        assert_eq!(d.file_bytes, 5);
        assert_eq!(std::fs::read(sb.layer().join("a")).unwrap(), b"hello");
    }
}

#[test]
fn decompression_bomb_is_capped() {
    let sb = Sandbox::new();
    require_root();
    let zeros = vec![0u8; 16 << 20];
    let tar = Tar::new().file("big", 0o644, &zeros).bytes();
    let blob = gzip(&tar);
    assert!(blob.len() < 1 << 20);
    let opts = UnpackOptions { max_bytes: 4 << 20 };
    let err = unpack_layer(&blob[..], Compression::Gzip, &sb.layer(), &opts).unwrap_err();
    assert!(
        matches!(err, UnpackError::TooLarge { limit } if limit == 4 << 20),
        "{err}"
    );
    assert!(err.to_string().contains("decompression bomb"), "{err}");
    // Sparse files count their logical size against the same cap.
    let sb = Sandbox::new();
    let tar = Tar::new()
        .sparse(
            "holes",
            1 << 40,
            &[(0, &[1u8; 512][..]), (1 << 40, &[][..])],
        )
        .bytes();
    let err = unpack_layer(&tar[..], Compression::None, &sb.layer(), &opts).unwrap_err();
    assert!(matches!(err, UnpackError::TooLarge { .. }), "{err}");
}

#[test]
fn truncated_and_garbage_streams_fail() {
    let sb = Sandbox::new();
    require_root();
    let tar = Tar::new().file("a", 0o644, &[7u8; 10000]).bytes();
    let gz = gzip(&tar);
    let err = unpack_layer(
        &gz[..gz.len() / 2],
        Compression::Gzip,
        &sb.layer(),
        &UnpackOptions::default(),
    );
    assert!(err.is_err());
    let err = unpack_layer(
        &b"not a gzip stream"[..],
        Compression::Gzip,
        &sb.layer(),
        &UnpackOptions::default(),
    );
    assert!(matches!(err, Err(UnpackError::Read(_))));
}
