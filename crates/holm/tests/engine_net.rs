//! Bridge networking: `eth0` on the `holm0` bridge with an address, a default route and the gateway reachable;
//! containers reaching each other; published ports reachable from the host (on 127.0.0.1 and the gateway's
//! address), taken ports refused with docker's message and exit 125 leaving nothing; `--network none|host`;
//! `holm port` / `inspect`; and nothing (veth, nft table, address lease) left after `rm`, after `kill -9` of the
//! monitor then `rm -f`, after a failed start, and across restarts of the restart policy.

#[path = "../../image/tests/common/mod.rs"]
mod common;
mod engine_common;

use common::images::{busybox_image, docker_archive};
use common::tars::Tar;
use engine_common::{wait_until, Engine};
use serde_json::json;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// busybox with the network applets.
const NET_IMAGE: &str = "busybox:net";

fn engine() -> Engine {
    let e = Engine::new();
    let mut t = Tar::new();
    for a in [
        "ip", "ping", "nc", "httpd", "wget", "ifconfig", "route", "cat", "sleep", "hostname", "ls",
        "echo",
    ] {
        t.symlink(&format!("bin/{a}"), "busybox");
    }
    let img = busybox_image(
        json!({"Cmd": ["sh"], "ExposedPorts": {"80/tcp": {}}}),
        &[t.bytes()],
    );
    let archive = e.tmp.path().join("busybox-net.tar");
    std::fs::write(&archive, docker_archive(&[(&img, &[NET_IMAGE])])).unwrap();
    e.ok(&["load", "-i", archive.to_str().unwrap()]);
    e
}

/// A host port free right now.
fn free_port() -> u16 {
    TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A web server on port 80 serving `body` at `/index.html`.
fn httpd_cmd(body: &str) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        format!("mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p 80 -h /www"),
    ]
}

/// `GET /index.html` from `addr` (`IP:PORT`), retried for 10 s while the server starts.
fn http_get(addr: &str) -> String {
    let mut body = String::new();
    wait_until(Duration::from_secs(10), &format!("GET {addr}"), || {
        let Ok(mut s) = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2))
        else {
            return false;
        };
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        if s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").is_err() {
            return false;
        }
        body.clear();
        s.read_to_string(&mut body).is_ok() && body.contains("200 OK")
    });
    body
}

fn veth_exists(id: &str) -> bool {
    std::path::Path::new("/sys/class/net")
        .join(format!("veth{}", &id[..11]))
        .exists()
}

fn nft_table_exists(id: &str) -> bool {
    std::process::Command::new("nft")
        .args(["list", "table", "ip", &format!("holm-{id}")])
        .output()
        .unwrap()
        .status
        .success()
}

fn leased(id: &str) -> bool {
    std::fs::read_to_string("/run/holm-network/leases.json").is_ok_and(|s| s.contains(id))
}

/// Asserts the network of `id` is set up (`true`) or entirely gone (`false`).
fn assert_net(id: &str, up: bool, ports: bool) {
    assert_eq!(veth_exists(id), up, "veth of {id}");
    assert_eq!(leased(id), up, "address lease of {id}");
    assert_eq!(nft_table_exists(id), up && ports, "nft table of {id}");
}

/// The pid of the engine's only monitor (waiting out a monitor between its re-exec's steps, when its command
/// line cannot be read).
fn the_monitor(e: &Engine) -> i32 {
    let mut m = Vec::new();
    wait_until(Duration::from_secs(5), "one monitor", || {
        m = e.monitors();
        m.len() == 1
    });
    m[0]
}

fn ip_of(e: &Engine, c: &str) -> String {
    e.inspect(c)["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn eth0_has_an_address_a_default_route_and_reaches_the_gateway() {
    let e = engine();
    let out = e.ok(&[
        "run",
        "--rm",
        "--name",
        "n1",
        NET_IMAGE,
        "sh",
        "-c",
        "ip -4 -o addr show eth0; ip route; ping -c 1 -W 5 10.77.0.1 && echo PING-OK; \
         ip -o link show lo; cat /etc/hosts /etc/hostname /etc/resolv.conf; hostname",
    ]);
    assert!(out.contains("inet 10.77."), "{out}");
    assert!(out.contains("default via 10.77.0.1 dev eth0"), "{out}");
    assert!(out.contains("PING-OK"), "{out}");
    assert!(out.contains("lo: <LOOPBACK,UP"), "{out}");
    assert!(out.contains("127.0.0.1\tlocalhost"), "{out}");
    assert!(out.contains("nameserver "), "{out}");
    // The hostname is in /etc/hosts with the container's address.
    let host = out.lines().last().unwrap().trim();
    let addr = out
        .split("inet ")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    assert!(out.contains(&format!("{addr}\t{host}")), "{out}");
}

#[test]
fn dns_and_add_host() {
    let e = engine();
    let out = e.ok(&[
        "run",
        "--rm",
        "--dns",
        "10.1.2.3",
        "--add-host",
        "db:10.0.0.9",
        "--add-host",
        "gw:host-gateway",
        NET_IMAGE,
        "cat",
        "/etc/resolv.conf",
        "/etc/hosts",
    ]);
    assert!(out.starts_with("nameserver 10.1.2.3\n"), "{out}");
    assert_eq!(out.matches("nameserver").count(), 1, "{out}");
    assert!(out.contains("10.0.0.9\tdb\n"), "{out}");
    assert!(out.contains("10.77.0.1\tgw\n"), "{out}");
    let id = e.ok(&["create", "--dns", "1.1.1.1", NET_IMAGE]);
    let v = e.inspect(id.trim());
    assert_eq!(v["HostConfig"]["Dns"], json!(["1.1.1.1"]));
    let (_, err) = e.code(125, &["run", "--rm", "--dns", "nope", NET_IMAGE, "true"]);
    assert!(err.contains("--dns"), "{err}");
}

#[test]
fn concurrent_runs_get_distinct_addresses() {
    let e = engine();
    let children: Vec<_> = (0..6)
        .map(|i| {
            e.spawn(&[
                "run",
                "-d",
                "--name",
                &format!("cc{i}"),
                NET_IMAGE,
                "sleep",
                "1000",
            ])
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let mut ips: Vec<String> = (0..6).map(|i| ip_of(&e, &format!("cc{i}"))).collect();
    assert!(ips.iter().all(|ip| ip.starts_with("10.77.")), "{ips:?}");
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 6, "{ips:?}");
    // Each one sees its own address on eth0.
    for i in 0..6 {
        let c = format!("cc{i}");
        let out = e.ok(&["exec", &c, "ip", "-4", "-o", "addr", "show", "eth0"]);
        assert!(out.contains(&format!("inet {}/16", ip_of(&e, &c))), "{out}");
    }
}

#[test]
fn two_containers_reach_each_other() {
    let e = engine();
    let mut args = vec!["--name", "srv", NET_IMAGE];
    let cmd = httpd_cmd("hello-from-srv");
    args.extend(cmd.iter().map(String::as_str));
    let srv = e.detached(&args);
    let ip = ip_of(&e, "srv");
    assert!(ip.starts_with("10.77."), "{ip}");
    let out = e.ok(&[
        "run",
        "--rm",
        NET_IMAGE,
        "sh",
        "-c",
        &format!("for i in $(seq 50); do wget -q -O - http://{ip}/index.html && exit 0; sleep 0.2; done; exit 1"),
    ]);
    assert!(out.contains("hello-from-srv"), "{out}");
    // And ping across the bridge.
    e.ok(&["run", "--rm", NET_IMAGE, "ping", "-c", "1", "-W", "5", &ip]);
    e.ok(&["rm", "-f", &srv]);
    assert_net(&srv, false, false);
}

#[test]
fn published_port_is_reachable_from_the_host_and_listed() {
    let e = engine();
    let port = free_port();
    let p = format!("{port}:80");
    let mut args = vec!["--name", "web", "-p", &p, NET_IMAGE];
    let cmd = httpd_cmd("hello-published");
    args.extend(cmd.iter().map(String::as_str));
    let id = e.detached(&args);
    assert_net(&id, true, true);
    assert!(http_get(&format!("127.0.0.1:{port}")).contains("hello-published"));
    assert!(http_get(&format!("10.77.0.1:{port}")).contains("hello-published"));
    // From another container through the host's address (hairpin NAT).
    let out = e.ok(&[
        "run",
        "--rm",
        NET_IMAGE,
        "wget",
        "-q",
        "-O",
        "-",
        &format!("http://10.77.0.1:{port}/index.html"),
    ]);
    assert!(out.contains("hello-published"), "{out}");
    // The port is held: a host process cannot take it.
    assert!(TcpListener::bind(("0.0.0.0", port)).is_err());
    assert_eq!(
        e.ok(&["port", "web"]),
        format!("80/tcp -> 0.0.0.0:{port}\n")
    );
    assert_eq!(
        e.ok(&["port", "web", "80/tcp"]),
        format!("0.0.0.0:{port}\n")
    );
    let (_, err) = e.code(1, &["port", "web", "81"]);
    assert!(
        err.contains("No public port '81/tcp' published for web"),
        "{err}"
    );
    let v = e.inspect("web");
    assert_eq!(v["HostConfig"]["NetworkMode"], "bridge");
    assert_eq!(
        v["HostConfig"]["PortBindings"],
        json!({"80/tcp": [{"HostIp": "", "HostPort": port.to_string()}]})
    );
    let ns = &v["NetworkSettings"];
    assert_eq!(
        ns["Ports"],
        json!({"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": port.to_string()}]})
    );
    assert_eq!(ns["Gateway"], "10.77.0.1");
    let ip = ns["IPAddress"].as_str().unwrap();
    let o: Vec<u8> = ip.split('.').map(|x| x.parse().unwrap()).collect();
    assert_eq!(
        ns["MacAddress"],
        format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
    );
    assert_eq!(ns["Networks"]["bridge"]["IPAddress"], ip);
    assert!(e.ok(&["ps"]).contains(&format!("0.0.0.0:{port}->80/tcp")));
    // network ls / inspect
    let ls = e.ok(&["network", "ls"]);
    assert!(ls.starts_with("NETWORK ID"), "{ls}");
    for n in ["bridge", "host", "none"] {
        assert!(ls.contains(&format!("\n{n} ")), "{ls}");
    }
    let net: serde_json::Value =
        serde_json::from_str(&e.ok(&["network", "inspect", "bridge"])).unwrap();
    assert_eq!(net[0]["IPAM"]["Config"][0]["Subnet"], "10.77.0.0/16");
    assert_eq!(net[0]["Containers"][&id]["Name"], "web");
    assert_eq!(net[0]["Containers"][&id]["IPv4Address"], format!("{ip}/16"));
    let (_, err) = e.code(1, &["network", "inspect", "nope"]);
    assert!(err.contains("network nope not found"), "{err}");
    e.ok(&["rm", "-f", "web"]);
    assert_net(&id, false, false);
    // Free again.
    drop(TcpListener::bind(("0.0.0.0", port)).unwrap());
}

#[test]
fn random_host_port_and_publish_all() {
    let e = engine();
    let mut args = vec!["--name", "pa", "-P", NET_IMAGE];
    let cmd = httpd_cmd("hello-P");
    args.extend(cmd.iter().map(String::as_str));
    e.detached(&args);
    let out = e.ok(&["port", "pa", "80"]);
    let port: u16 = out.trim().rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(port, 0);
    assert!(http_get(&format!("127.0.0.1:{port}")).contains("hello-P"));
}

#[test]
fn taken_port_fails_with_125_and_leaves_nothing() {
    let e = engine();
    let host = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = host.local_addr().unwrap().port();
    let p = format!("{port}:80");
    let (_, err) = e.code(
        125,
        &["run", "--rm", "--name", "busy", "-p", &p, NET_IMAGE, "true"],
    );
    assert!(
        err.contains(&format!(
            "Bind for 0.0.0.0:{port} failed: port is already allocated"
        )),
        "{err}"
    );
    assert!(!e.ok(&["ps", "-a"]).contains("busy"));
    // Without --rm the container stays, created (as docker's), with nothing of its network.
    e.code(
        125,
        &["run", "--name", "busy2", "-p", &p, NET_IMAGE, "true"],
    );
    let id = e.inspect("busy2")["Id"].as_str().unwrap().to_string();
    assert_eq!(e.status("busy2"), "created");
    assert_net(&id, false, false);
    e.ok(&["rm", "busy2"]);
    // A port another container publishes is taken too.
    drop(host);
    let mut args = vec!["--name", "first", "-p", &p, NET_IMAGE];
    let cmd = httpd_cmd("first");
    args.extend(cmd.iter().map(String::as_str));
    let first = e.detached(&args);
    let (_, err) = e.code(125, &["run", "--rm", "-p", &p, NET_IMAGE, "true"]);
    assert!(err.contains("port is already allocated"), "{err}");
    assert!(http_get(&format!("127.0.0.1:{port}")).contains("first"));
    assert_net(&first, true, true);
}

#[test]
fn failed_network_setup_leaves_nothing() {
    let e = engine();
    // No `nft` on PATH: the firewall step fails after the lease, the port and the veth were made.
    let empty = e.tmp.path().join("empty-path");
    std::fs::create_dir(&empty).unwrap();
    let port = free_port();
    let p = format!("{port}:80");
    let o = e
        .cmd(&["run", "--name", "nonft", "-p", &p, NET_IMAGE, "true"])
        .env("PATH", &empty)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(
        err.contains("`nft` program was not found") && err.contains("install Debian's nftables"),
        "{err}"
    );
    let id = e.inspect("nonft")["Id"].as_str().unwrap().to_string();
    assert_eq!(e.status("nonft"), "created");
    assert_net(&id, false, false);
    drop(TcpListener::bind(("0.0.0.0", port)).unwrap());
    // With --rm it is gone too.
    let o = e
        .cmd(&[
            "run", "--rm", "--name", "nonft2", "-p", &p, NET_IMAGE, "true",
        ])
        .env("PATH", &empty)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert!(!e.ok(&["ps", "-a"]).contains("nonft2"));
    e.ok(&["rm", "nonft"]);
}

#[test]
fn network_container_joins_another_containers_namespace() {
    let e = engine();
    let mut args = vec!["--name", "owner", NET_IMAGE];
    let cmd = httpd_cmd("hello-sidecar");
    args.extend(cmd.iter().map(String::as_str));
    let owner = e.detached(&args);
    let ip = ip_of(&e, "owner");
    let hostname = e.inspect("owner")["Config"]["Hostname"]
        .as_str()
        .unwrap()
        .to_string();
    let out = e.ok(&[
        "run",
        "--rm",
        "--network",
        "container:owner",
        NET_IMAGE,
        "sh",
        "-c",
        "ip -4 -o addr show eth0; for i in $(seq 50); do wget -q -O - http://127.0.0.1/index.html && break; sleep 0.2; done; hostname",
    ]);
    assert!(out.contains(&format!("inet {ip}/16")), "{out}");
    assert!(out.contains("hello-sidecar"), "{out}");
    assert_eq!(out.lines().last().unwrap(), hostname, "{out}");
    e.ok(&[
        "create",
        "--name",
        "side",
        "--net",
        "container:owner",
        NET_IMAGE,
        "true",
    ]);
    let v = e.inspect("side");
    assert_eq!(v["HostConfig"]["NetworkMode"], format!("container:{owner}"));
    let (_, err) = e.code(
        125,
        &[
            "run",
            "--rm",
            "--network",
            "container:nosuch",
            NET_IMAGE,
            "true",
        ],
    );
    assert!(err.contains("No such container: nosuch"), "{err}");
    let (_, err) = e.code(
        125,
        &[
            "run",
            "--rm",
            "--network",
            "container:owner",
            "--hostname",
            "x",
            NET_IMAGE,
            "true",
        ],
    );
    assert!(err.contains("conflicting options"), "{err}");
    // The owner stopped: its namespace cannot be joined.
    e.ok(&["stop", "-t", "1", "owner"]);
    let o = e.run(&["start", "side"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("cannot join network of a non running container"),
        "{err}"
    );
    assert_net(&owner, false, false);
}

#[test]
fn network_none_has_only_lo() {
    let e = engine();
    let out = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        NET_IMAGE,
        "ip",
        "-o",
        "link",
    ]);
    let names: Vec<&str> = out
        .lines()
        .map(|l| l.split(':').nth(1).unwrap().trim())
        .collect();
    assert_eq!(names, vec!["lo"], "{out}");
    assert!(out.contains("UP"), "lo is up: {out}");
    e.ok(&["create", "--name", "nn", "--net", "none", NET_IMAGE]);
    let v = e.inspect("nn");
    assert_eq!(v["HostConfig"]["NetworkMode"], "none");
    assert_eq!(v["NetworkSettings"]["IPAddress"], "");
    let (_, err) = e.code(
        125,
        &["run", "--rm", "--network", "mynet", NET_IMAGE, "true"],
    );
    assert!(err.contains("network mynet not found"), "{err}");
}

#[test]
fn network_host_sees_the_host_interfaces() {
    let e = engine();
    // Read before the run: an interface can appear meanwhile (holm0, made by a parallel test's first container).
    let host_links: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|n| n.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with("veth"))
        .collect();
    let out = e.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        NET_IMAGE,
        "sh",
        "-c",
        "ip -o link; echo ---; cat /etc/resolv.conf",
    ]);
    let (links, resolv) = out.split_once("---\n").unwrap();
    // Every host interface that is not a container's veth (those come and go with parallel tests).
    for name in &host_links {
        assert!(
            links.contains(&format!(": {name}")),
            "{name} missing: {links}"
        );
    }
    assert!(host_links.len() > 1, "{host_links:?}");
    assert_eq!(resolv, std::fs::read_to_string("/etc/resolv.conf").unwrap());
    let (_, err) = e.code(
        125,
        &[
            "run",
            "--rm",
            "--network",
            "host",
            "-p",
            "80",
            NET_IMAGE,
            "true",
        ],
    );
    assert!(
        err.contains("published ports need the bridge network"),
        "{err}"
    );
}

#[test]
fn nothing_left_after_monitor_kill_9_then_rm_f() {
    let e = engine();
    let port = free_port();
    let p = format!("{port}:80");
    let mut args = vec!["--name", "k9", "-p", &p, NET_IMAGE];
    let cmd = httpd_cmd("k9");
    args.extend(cmd.iter().map(String::as_str));
    let id = e.detached(&args);
    assert_net(&id, true, true);
    holm_sys::process::kill(the_monitor(&e), libc::SIGKILL).unwrap();
    wait_until(Duration::from_secs(5), "monitor gone", || {
        e.monitors().is_empty()
    });
    e.ok(&["rm", "-f", "k9"]);
    assert_net(&id, false, false);
    e.assert_gone(&id);
    drop(TcpListener::bind(("0.0.0.0", port)).unwrap());

    // A container whose monitor and process both died is recovered by `ps -a`.
    let id = e.detached(&["--name", "k9b", NET_IMAGE, "sleep", "1000"]);
    assert_net(&id, true, false);
    let pid = e.inspect("k9b")["State"]["Pid"].as_i64().unwrap() as i32;
    holm_sys::process::kill(the_monitor(&e), libc::SIGKILL).unwrap();
    holm_sys::process::kill(pid, libc::SIGKILL).unwrap();
    wait_until(Duration::from_secs(5), "container gone", || {
        e.monitors().is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
    assert!(e.ok(&["ps", "-a"]).contains("Exited"));
    assert_net(&id, false, false);

    // A simulated reboot (processes gone, runroot wiped) with the kernel's network state still there: `ps -a`
    // finds the veth, rules and lease all the same.
    let port = free_port();
    let p = format!("{port}:80");
    let id = e.detached(&["--name", "k9c", "-p", &p, NET_IMAGE, "sleep", "1000"]);
    assert_net(&id, true, true);
    let pid = e.inspect("k9c")["State"]["Pid"].as_i64().unwrap() as i32;
    holm_sys::process::kill(the_monitor(&e), libc::SIGKILL).unwrap();
    holm_sys::process::kill(pid, libc::SIGKILL).unwrap();
    wait_until(Duration::from_secs(5), "container gone", || {
        e.monitors().is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
    std::fs::remove_dir_all(&e.runroot).unwrap();
    let ps = e.ok(&["ps", "-a"]);
    assert!(
        ps.lines()
            .any(|l| l.ends_with("k9c") && l.contains("Exited")),
        "{ps}"
    );
    assert_net(&id, false, false);
    drop(TcpListener::bind(("0.0.0.0", port)).unwrap());
}

#[test]
fn network_comes_back_on_restart_and_goes_with_stop() {
    let e = engine();
    let id = e.detached(&[
        "--name",
        "rs",
        "--restart",
        "on-failure:1",
        NET_IMAGE,
        "sh",
        "-c",
        "ip -4 -o addr show eth0; ping -c 1 -W 5 10.77.0.1 >/dev/null && echo PING-OK; exit 3",
    ]);
    wait_until(Duration::from_secs(15), "restarted once", || {
        e.status("rs") == "exited" && e.monitors().is_empty()
    });
    let logs = e.ok(&["logs", "rs"]);
    assert_eq!(logs.matches("inet 10.77.").count(), 2, "{logs}");
    assert_eq!(logs.matches("PING-OK").count(), 2, "{logs}");
    assert_net(&id, false, false);
}

#[test]
fn external_runtime_gets_networking() {
    let e = engine();
    let out = e.ok(&[
        "run",
        "--rm",
        "--runtime",
        "runc",
        NET_IMAGE,
        "sh",
        "-c",
        "ip -4 -o addr show eth0; ping -c 1 -W 5 10.77.0.1 >/dev/null && echo PING-OK",
    ]);
    assert!(out.contains("inet 10.77."), "{out}");
    assert!(out.contains("PING-OK"), "{out}");
}

/// The shared masquerade table is written by `nft` once and then only checked over netlink: a start without `nft`
/// on PATH works once it exists, and it is written again after an admin deleted it, emptied its chain or flushed
/// the whole ruleset. In a private network namespace (`unshare -n`), so the host's table and marker are untouched.
#[test]
fn shared_nat_table_is_written_once_and_again_when_gone() {
    let e = engine();
    let empty = e.tmp.path().join("empty-path");
    std::fs::create_dir(&empty).unwrap();
    let script = r#"
        set -eu
        holm() { "$HOLM" --root "$ROOT" --runroot "$RUNROOT" "$@"; }
        rules() { nft list table ip holm | grep -c 'masquerade comment "holm:'; }
        marker="/run/holm-network/nat-base.$(stat -L -c %i /proc/self/ns/net)"
        trap 'rm -f "$marker"' EXIT
        holm run --rm busybox:net true
        test "$(rules)" = 3
        test -s "$marker"
        # Known: no nft needed.
        PATH="$EMPTY" holm run --rm busybox:net true
        nft delete table ip holm
        holm run --rm busybox:net true
        test "$(rules)" = 3
        nft flush chain ip holm postrouting
        holm run --rm busybox:net true
        test "$(rules)" = 3
        nft flush ruleset
        holm run --rm busybox:net true
        test "$(rules)" = 3
        echo done
    "#;
    let o = std::process::Command::new("unshare")
        .args(["-n", "sh", "-c", script])
        .env("HOLM", env!("CARGO_BIN_EXE_holm"))
        .env("ROOT", &e.root)
        .env("RUNROOT", &e.runroot)
        .env("EMPTY", &empty)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "stdout: {out}\nstderr: {err}");
    assert_eq!(out.trim(), "done", "stderr: {err}");
    assert!(!e.ok(&["ps", "-aq"]).contains(char::is_alphanumeric));
}
