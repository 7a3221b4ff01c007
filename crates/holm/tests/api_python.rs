//! `holm system service` driven by docker-py (Debian's python3-docker) for the endpoints the docker CLI does not
//! reach the same way: listing with filters, `run` without a TTY (create/start/wait/logs), followed log streams,
//! `wait` conditions, `exec_run` (hijacked exec with the exit code), `top`, `stats(stream=False)`, `df`,
//! `put_archive`/`get_archive`, volume and prune calls. The script asserts; its output is checked here too.

mod api_common;
#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use api_common::{output_within, Api};
use engine_common::IMAGE;
use std::process::Command;
use std::time::Duration;

const SCRIPT: &str = r#"
import io, sys, tarfile, docker
c = docker.DockerClient(base_url=sys.argv[1], timeout=60)
img = sys.argv[2]
assert c.ping()
# run without detach: create, start, wait, logs
out = c.containers.run(img, ["sh", "-c", "echo one; echo two >&2"], remove=True, stderr=True)
assert out == b"one\ntwo\n", out
try:
    c.containers.run(img, ["sh", "-c", "exit 4"], remove=True)
    raise SystemExit("a failing run raised nothing")
except docker.errors.ContainerError as e:
    assert e.exit_status == 4, e.exit_status
# detached, with labels; listing filters
box = c.containers.run(img, ["sh", "-c", "for i in 1 2 3; do echo line$i; done; exec sleep 300"],
                       detach=True, name="pybox", labels={"app": "t"})
done = c.containers.create(img, ["true"], name="pydone")
done.start(); assert done.wait(condition="not-running")["StatusCode"] == 0
assert [x.name for x in c.containers.list(filters={"label": "app=t"})] == ["pybox"]
assert [x.name for x in c.containers.list(all=True, filters={"status": "exited"})] == ["pydone"]
assert [x.name for x in c.containers.list(filters={"name": "pybox"})] == ["pybox"]
assert c.containers.list(filters={"label": "app=other"}) == []
# logs: tail, timestamps, a followed stream that ends with the container
import time
for _ in range(100):
    if box.logs().count(b"\n") >= 3: break
    time.sleep(0.1)
assert box.logs(tail=1) == b"line3\n", box.logs(tail=1)
ts = box.logs(timestamps=True).split(b"\n")[0]
assert ts.endswith(b" line1") and ts[:4].isdigit(), ts
# exec_run: output and exit codes, environment, workdir, user
r = box.exec_run(["sh", "-c", "echo $X; pwd; id -u; exit 7"], environment={"X": "y"}, workdir="/tmp", user="99")
assert r.exit_code == 7 and r.output == b"y\n/tmp\n99\n", r
r = box.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
assert r.output == (b"o\n", b"e\n"), r.output
# top, stats
top = box.top()
assert "PID" in top["Titles"] and any("sleep 300" in " ".join(p) for p in top["Processes"]), top
st = box.stats(stream=False)
assert st["pids_stats"]["current"] == 1 and st["memory_stats"]["usage"] > 0, st
assert st["cpu_stats"]["online_cpus"] >= 1
# archives: put a tar, read it back
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    data = b"archived\n"
    ti = tarfile.TarInfo("put.txt"); ti.size = len(data); ti.mode = 0o600
    t.addfile(ti, io.BytesIO(data))
assert box.put_archive("/tmp", buf.getvalue())
bits, stat = box.get_archive("/tmp/put.txt")
assert stat["name"] == "put.txt" and stat["size"] == 9 and stat["mode"] & 0o777 == 0o600, stat
t = tarfile.open(fileobj=io.BytesIO(b"".join(bits)))
assert t.extractfile("put.txt").read() == b"archived\n"
# wait with next-exit while it runs, after a kill
box.kill()
assert box.wait(condition="not-running")["StatusCode"] == 137
# follow on a stopped container ends
assert list(box.logs(stream=True, follow=True))[-1].endswith(b"line3\n")
# volumes
v = c.volumes.create("pyvol", labels={"k": "v"})
assert v.name == "pyvol" and v.attrs["Driver"] == "local" and v.attrs["Labels"] == {"k": "v"}
assert [x.name for x in c.volumes.list(filters={"label": "k=v"})] == ["pyvol"]
assert c.volumes.get("pyvol").attrs["Mountpoint"].endswith("/pyvol/_data")
w = c.containers.run(img, ["sh", "-c", "echo kept > /v/f"], volumes={"pyvol": {"bind": "/v", "mode": "rw"}}, remove=True)
assert c.containers.run(img, ["cat", "/v/f"], volumes=["pyvol:/v:ro"], remove=True) == b"kept\n"
df = c.df()
assert any(x["Name"] == "pyvol" for x in df["Volumes"]), df["Volumes"]
assert len(df["Images"]) == 1 and df["LayersSize"] > 0
v.remove()
assert c.volumes.list() == []
try:
    c.volumes.get("pyvol"); raise SystemExit("removed volume found")
except docker.errors.NotFound:
    pass
# prunes
p = c.containers.prune()
assert sorted(p["ContainersDeleted"]) == sorted([box.id, done.id]), p
assert c.containers.list(all=True) == []
assert c.images.prune()["ImagesDeleted"] in (None, [])
# images
i = c.images.get(img)
assert img in i.tags and i.attrs["Os"] == "linux", i.attrs
try:
    c.images.get("no-such:1"); raise SystemExit("missing image found")
except docker.errors.ImageNotFound:
    pass
try:
    c.containers.get("nope"); raise SystemExit("missing container found")
except docker.errors.NotFound:
    pass
print("python ok")
"#;

#[test]
fn docker_py_drives_the_api() {
    let api = Api::new();
    let mut c = Command::new("python3");
    c.arg("-c")
        .arg(SCRIPT)
        .arg(format!("unix://{}", api.socket.display()))
        .arg(IMAGE);
    let o = output_within(
        c,
        Duration::from_secs(240),
        &["python3", "docker-py script"],
    );
    assert!(
        o.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "python ok\n");
    // what the script left is what the engine sees
    assert_eq!(api.engine.ok(&["ps", "-aq"]).trim(), "");
    assert_eq!(api.engine.ok(&["volume", "ls", "-q"]).trim(), "");
}
