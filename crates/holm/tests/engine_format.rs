//! `holm inspect` of containers, images and volumes, and docker's Go-template `--format` for `inspect`, `ps`,
//! `images` and `volume ls` (table headers, Go's printing of lists and maps), driven from outside.

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use engine_common::{Engine, IMAGE};

const FULL_IMAGE: &str = "docker.io/library/busybox:test";

#[test]
fn inspect_finds_containers_images_and_volumes_with_templates() {
    let e = Engine::new();
    e.ok(&["volume", "create", "--label", "a=b", "vol1"]);
    let id = e.detached(&[
        "--name",
        "fmt1",
        "-e",
        "A=b",
        "--label",
        "k=v",
        "-v",
        "vol1:/data",
        IMAGE,
        "sleep",
        "60",
    ]);
    let f = |c: &str, t: &str| e.ok(&["inspect", "-f", t, c]);
    assert_eq!(f("fmt1", "{{.State.Status}}"), "running\n");
    assert_eq!(f("fmt1", "{{.Id}}"), format!("{id}\n"));
    assert_eq!(f("fmt1", "{{.Name}}"), "/fmt1\n");
    let env = f("fmt1", "{{.Config.Env}}");
    assert!(
        env.starts_with('[') && env.ends_with("]\n") && env.contains(" A=b"),
        "{env}"
    );
    assert_eq!(f("fmt1", "{{json .Config.Labels}}"), "{\"k\":\"v\"}\n");
    assert_eq!(f("fmt1", "{{.Config.Labels}}"), "map[k:v]\n");
    assert_eq!(f("fmt1", "{{index .Config.Labels \"k\"}}"), "v\n");
    assert_eq!(
        f(
            "fmt1",
            "{{range .Mounts}}{{.Type}}:{{.Name}}:{{.Destination}};{{end}}"
        ),
        "volume:vol1:/data;\n"
    );
    assert_eq!(
        f(
            "fmt1",
            "{{if .State.Running}}up {{printf \"%.4s\" .Id}}{{else}}down{{end}}"
        ),
        format!("up {}\n", &id[..4])
    );
    assert_eq!(
        f("fmt1", "{{join .Args \",\"}} {{upper .State.Status}}"),
        "60 RUNNING\n"
    );
    assert_eq!(f("fmt1", "{{.Nope}}"), "<no value>\n");
    // -s: docker's SizeRw / SizeRootFs
    let sized: serde_json::Value = serde_json::from_str(&e.ok(&["inspect", "-s", "fmt1"])).unwrap();
    let (rw, root) = (
        sized[0]["SizeRw"].as_u64().unwrap(),
        sized[0]["SizeRootFs"].as_u64().unwrap(),
    );
    assert!(root > rw && root > 1_000_000, "{rw} {root}");
    assert!(e.inspect("fmt1").get("SizeRw").is_none());

    // images: found by `holm inspect` as docker does, same JSON as `holm image inspect`
    let img: serde_json::Value = serde_json::from_str(&e.ok(&["inspect", IMAGE])).unwrap();
    let img2: serde_json::Value =
        serde_json::from_str(&e.ok(&["image", "inspect", IMAGE])).unwrap();
    assert_eq!(img, img2);
    assert_eq!(img[0]["RepoTags"][0], FULL_IMAGE);
    assert!(img[0]["Id"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(
        e.ok(&[
            "inspect",
            "--type",
            "image",
            "-f",
            "{{.Os}} {{index .RepoTags 0}}",
            IMAGE
        ]),
        format!("linux {FULL_IMAGE}\n")
    );
    assert_eq!(
        e.ok(&["image", "inspect", "-f", "{{.Id}}", IMAGE]),
        format!("{}\n", img[0]["Id"].as_str().unwrap())
    );
    // volumes
    let vol: serde_json::Value = serde_json::from_str(&e.ok(&["inspect", "vol1"])).unwrap();
    assert_eq!(vol[0]["Name"], "vol1");
    assert_eq!(vol[0]["Driver"], "local");
    assert_eq!(vol[0]["Labels"]["a"], "b");
    assert_eq!(
        e.ok(&["volume", "inspect", "-f", "{{.Name}} {{.Labels}}", "vol1"]),
        "vol1 map[a:b]\n"
    );
    // networks too
    assert_eq!(
        e.ok(&["inspect", "-f", "{{.Name}} {{.Driver}}", "bridge", "none"]),
        "bridge bridge\nnone null\n"
    );
    let (_, err) = e.code(1, &["inspect", "--type", "network", "vol1"]);
    assert!(err.contains("No such network: vol1"), "{err}");
    // several kinds at once; the container comes first for a name both could have
    let all: serde_json::Value =
        serde_json::from_str(&e.ok(&["inspect", "fmt1", IMAGE, "vol1"])).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 3);
    let (out, err) = e.code(1, &["inspect", "-f", "{{.Name}}", "fmt1", "nosuch", "vol1"]);
    assert_eq!(out, "/fmt1\nvol1\n");
    assert!(err.contains("No such object: nosuch"), "{err}");
    // --type narrows the lookup
    let (out, err) = e.code(1, &["inspect", "--type", "volume", "fmt1"]);
    assert_eq!(out, "[]\n");
    assert!(err.contains("No such volume: fmt1"), "{err}");
    // an execution error (a field of a string) exits 1, naming the problem
    let (_, err) = e.code(1, &["inspect", "-f", "{{.Name.X}}", "fmt1"]);
    assert!(err.contains("can't evaluate field X"), "{err}");

    // docker's stop / wait / rm output: the names as given, the exit code
    // stop -s: this signal instead of SIGTERM (which sleep as pid 1 ignores): no waiting for the timeout
    let t0 = std::time::Instant::now();
    assert_eq!(e.ok(&["stop", "-s", "KILL", "-t", "30", "fmt1"]), "fmt1\n");
    assert!(t0.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(e.ok(&["wait", "fmt1"]), "137\n");
    assert_eq!(e.ok(&["rm", "fmt1"]), "fmt1\n");
    e.assert_gone(&id);
}

#[test]
fn list_formats_as_docker() {
    let e = Engine::new();
    e.ok(&["volume", "create", "--label", "a=b", "vl1"]);
    let id = e.detached(&[
        "--name",
        "web",
        "--label",
        "tier=front",
        IMAGE,
        "sleep",
        "60",
    ]);
    e.ok(&["create", "--name", "idle", IMAGE, "true"]);

    // ps: docker's field names, one line per container, no header without `table`
    let out = e.ok(&[
        "ps",
        "--format",
        "{{.ID}} {{.Names}} {{.Image}} {{.Status}} {{.State}}",
    ]);
    let want = format!("{} web {IMAGE} Up ", &id[..12]);
    assert!(
        out.starts_with(&want) && out.ends_with(" running\n"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1, "{out}");
    let out = e.ok(&[
        "ps",
        "-a",
        "--no-trunc",
        "--format",
        "{{.ID}}\t{{.Label \"tier\"}}",
    ]);
    assert!(out.contains(&format!("{id}\tfront\n")), "{out}");
    assert_eq!(out.lines().count(), 2, "{out}");
    // `table`: the header from docker's column names, columns aligned as docker's tabwriter does
    let out = e.ok(&[
        "ps",
        "--format",
        "table {{.Names}}\t{{.Labels}}\t{{.Command}}",
    ]);
    assert_eq!(
        out,
        "NAMES     LABELS       COMMAND\nweb       tier=front   \"sleep 60\"\n"
    );
    // the default table is docker's
    let out = e.ok(&["ps"]);
    let header = out.lines().next().unwrap();
    assert!(
        header.starts_with("CONTAINER ID   IMAGE          COMMAND      CREATED")
            && header.ends_with("PORTS     NAMES"),
        "{out}"
    );
    let json_lines = e.ok(&["ps", "-a", "--format", "{{json .}}"]);
    for l in json_lines.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(v["Names"] == "web" || v["Names"] == "idle", "{l}");
        assert!(v["ID"].as_str().unwrap().len() == 12, "{l}");
    }
    // --format json is still holm's (podman-shaped) array
    let arr: serde_json::Value = serde_json::from_str(&e.ok(&["ps", "--format", "json"])).unwrap();
    assert_eq!(arr[0]["Names"][0], "web");

    // newest first, -n / -l (every state), exited= and ancestor= filters
    e.code(3, &["run", "--name", "ex3", IMAGE, "sh", "-c", "exit 3"]);
    let names = |args: &[&str]| {
        let mut a = vec!["ps", "--format", "{{.Names}}"];
        a.extend_from_slice(args);
        e.ok(&a)
    };
    assert_eq!(names(&["-a"]), "ex3\nidle\nweb\n");
    assert_eq!(names(&["-l"]), "ex3\n");
    assert_eq!(names(&["-n", "2"]), "ex3\nidle\n");
    assert_eq!(names(&["-a", "--filter", "exited=3"]), "ex3\n");
    assert_eq!(names(&["-a", "--filter", "exited=0"]), "");
    assert_eq!(
        names(&["-a", "--filter", "ancestor=busybox:test"])
            .lines()
            .count(),
        3
    );
    assert_eq!(
        names(&["-a", "--filter", "ancestor=docker.io/library/busybox:test"])
            .lines()
            .count(),
        3
    );
    assert_eq!(names(&["-a", "--filter", "ancestor=busybox:other"]), "");
    e.ok(&["rm", "ex3"]);
    // -s: docker's SIZE column, writable layer and virtual size
    e.ok(&["exec", "web", "sh", "-c", "head -c 5000 /dev/zero > /big"]);
    let out = e.ok(&["ps", "-s"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].ends_with("NAMES     SIZE"), "{out}");
    assert!(
        lines[1].contains(" (virtual ") && lines[1].ends_with("MB)"),
        "{out}"
    );
    let size = e.ok(&["ps", "-s", "--format", "{{.Size}}"]);
    assert!(
        size.starts_with("5") && size.contains("kB (virtual "),
        "{size}"
    );
    // docker wait on a container that never ran: 0 at once
    assert_eq!(e.ok(&["wait", "idle"]), "0\n");
    // a typed backslash-t (as a shell's single quotes pass it) is a tab; docker's management-command spellings
    assert_eq!(
        e.ok(&[
            "container",
            "ls",
            "-a",
            "--format",
            r"table {{.Names}}\t{{.State}}"
        ]),
        "NAMES     STATE\nidle      created\nweb       running\n"
    );
    assert_eq!(
        e.ok(&["container", "inspect", "-f", "{{.Name}}", "web"]),
        "/web\n"
    );
    let (out, err) = e.code(1, &["container", "inspect", IMAGE]);
    assert_eq!(out, "[]\n");
    assert!(err.contains("No such container"), "{err}");

    // images
    assert_eq!(
        e.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        format!("{FULL_IMAGE}\n")
    );
    let out = e.ok(&["images", "--format", "table {{.Tag}}\t{{.ID}}"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "TAG       IMAGE ID");
    assert!(
        lines[1].starts_with("test      ") && lines[1].len() == 22,
        "{out}"
    );
    let out = e.ok(&["images"]);
    let want = format!("{:<28}{:<10}{:<15}CREATED", "REPOSITORY", "TAG", "IMAGE ID");
    assert!(out.starts_with(&want), "{out}");

    // volume ls
    assert_eq!(
        e.ok(&["volume", "ls"]),
        "DRIVER    VOLUME NAME\nlocal     vl1\n"
    );
    assert_eq!(
        e.ok(&[
            "volume",
            "ls",
            "--format",
            "{{.Name}} {{.Driver}} {{.Labels}} {{.Label \"a\"}}"
        ]),
        "vl1 local a=b b\n"
    );
    let v: serde_json::Value =
        serde_json::from_str(&e.ok(&["volume", "ls", "--format", "json"])).unwrap();
    // filters
    e.ok(&["volume", "create", "vl2"]);
    e.detached(&["--name", "user", "-v", "vl2:/x", IMAGE, "sleep", "60"]);
    let q = |f: &str| e.ok(&["volume", "ls", "-q", "--filter", f]);
    assert_eq!(q("dangling=true"), "vl1\n");
    assert_eq!(q("dangling=false"), "vl2\n");
    assert_eq!(q("label=a=b"), "vl1\n");
    assert_eq!(q("name=l2"), "vl2\n");
    e.code(125, &["volume", "ls", "--filter", "dangling=maybe"]);
    assert_eq!(
        e.ok(&["images", "-q", "--filter", "reference=busy*"])
            .lines()
            .count(),
        1
    );
    assert_eq!(e.ok(&["images", "-q", "--filter", "reference=alpine"]), "");
    assert_eq!(e.ok(&["images", "-q", "--filter", "dangling=true"]), "");
    e.ok(&["rm", "-f", "user"]);
    assert_eq!(v[0]["Name"], "vl1");
    e.ok(&["rm", "-f", "web", "idle"]);
    e.assert_gone(&id);
}
