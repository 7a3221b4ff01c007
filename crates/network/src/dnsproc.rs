//! When a user network's name server runs, and its name table ([`crate::dns`]).
//!
//! The engine calls [`register`] when a container's endpoint on the network is up and [`unregister`] when it goes;
//! both rewrite `<dir>/names.json` (temp file, rename) under the network's lock `<dir>/names.lock`. The first
//! registration starts the server (`EXE __dns ID`, in a session of its own, its pid in `<dir>/dns.pid`) and
//! waits until it has bound its sockets; the last unregistration stops it (SIGTERM), and a server that finds its
//! table empty when idle ends by itself ([`idle_exit`]). A server found dead (killed, or a reboot) is started again
//! by the next registration.

use crate::dns::{read_table, table_path, Entry};
use crate::usernet::NetDef;
use crate::{Error, Result};
use std::fs::File;
use std::io::{BufRead, Write};
use std::net::Ipv4Addr;
use std::path::Path;

/// The hidden `holm` subcommand that runs a network's name server.
pub const COMMAND: &str = "__dns";

fn lock(def: &NetDef) -> Result<File> {
    let dir = def.dir();
    std::fs::create_dir_all(&dir).map_err(Error::io(format!("create {}", dir.display())))?;
    let p = dir.join("names.lock");
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(Error::io(format!("open {}", p.display())))?;
    f.lock()
        .map_err(Error::io(format!("lock {}", p.display())))?;
    Ok(f)
}

fn write_table(def: &NetDef, t: &crate::dns::Table) -> Result<()> {
    let dir = def.dir();
    let p = table_path(&dir);
    let tmp = dir.join(".names.json.tmp");
    File::create(&tmp)
        .and_then(|mut f| f.write_all(&serde_json::to_vec(t).expect("table serialises")))
        .and_then(|_| std::fs::rename(&tmp, &p))
        .map_err(Error::io(format!("write {}", p.display())))
}

/// The running server's pid, if one runs (its command line is checked: a recycled pid is not it).
pub fn server_pid(def: &NetDef) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(def.dir().join("dns.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    (args.contains(&COMMAND.as_bytes()) && args.contains(&def.id.as_bytes())).then_some(pid)
}

/// Adds container `id` with address `ip` and `names` to network `def`'s table and makes sure its server runs
/// (started from the holm binary `exe`).
///
/// Errors: the table cannot be written, the server cannot be started or did not come up.
pub fn register(def: &NetDef, id: &str, ip: Ipv4Addr, names: &[String], exe: &Path) -> Result<()> {
    let _l = lock(def)?;
    let mut t = read_table(&def.dir());
    let mut names: Vec<String> = names
        .iter()
        .map(|n| n.to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    names.dedup();
    t.insert(id.to_string(), Entry { ip, names });
    write_table(def, &t)?;
    if server_pid(def).is_none() {
        start(def, exe)?;
    }
    Ok(())
}

/// Removes container `id` from network `def`'s table; stops the server when it was the last.
pub fn unregister(def: &NetDef, id: &str) -> Result<()> {
    let _l = lock(def)?;
    let mut t = read_table(&def.dir());
    if t.remove(id).is_some() {
        write_table(def, &t)?;
    }
    if t.is_empty() {
        stop_locked(def);
    }
    Ok(())
}

fn start(def: &NetDef, exe: &Path) -> Result<()> {
    let what = format!("start the name server of network {}", def.name);
    let mut child = std::process::Command::new(exe)
        .arg(COMMAND)
        .arg(&def.id)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(Error::io(format!("{what}: {}", exe.display())))?;
    // The server prints `ready` once its sockets are bound; EOF first means it failed.
    let mut line = String::new();
    let out = child.stdout.take().expect("piped");
    let _ = std::io::BufReader::new(out).read_line(&mut line);
    if line.trim() != "ready" {
        let _ = child.wait();
        return Err(Error::io(what)(std::io::Error::other(
            "it exited before serving (is another server bound to the gateway's port 53?)",
        )));
    }
    let p = def.dir().join("dns.pid");
    std::fs::write(&p, child.id().to_string()).map_err(Error::io(format!("write {}", p.display())))
}

/// Asked by an idle server (no query for a second): true when its table is empty, its pid file is then removed and
/// the table's lock stays held until the process exits (so a registration either comes before, and the server
/// stays, or after, and finds no server and starts one). A server whose stop was missed ends this way.
pub fn idle_exit(def: &NetDef) -> bool {
    if !read_table(&def.dir()).is_empty() {
        return false;
    }
    let Ok(l) = lock(def) else {
        return false;
    };
    if !read_table(&def.dir()).is_empty() {
        return false;
    }
    if server_pid(def) == Some(std::process::id() as i32) {
        let _ = std::fs::remove_file(def.dir().join("dns.pid"));
    }
    // Released by the exit, after the sockets (lower fds) are closed.
    std::mem::forget(l);
    true
}

/// Stops network `def`'s server, if one runs.
pub fn stop(def: &NetDef) {
    if let Ok(_l) = lock(def) {
        stop_locked(def);
    }
}

fn stop_locked(def: &NetDef) {
    if let Some(pid) = server_pid(def) {
        let _ = holm_sys::process::kill(pid, libc::SIGTERM);
    }
    let _ = std::fs::remove_file(def.dir().join("dns.pid"));
}

/// The entry point of `holm __dns ID`: fds other than 0-2 inherited from the starter (a monitor's lock) are closed
/// by executing the binary again with them marked close-on-exec (in a new session, with every signal unblocked and
/// at its default action), then [`crate::dns::serve`] runs.
pub fn main(id: &str) -> i32 {
    const CLEAN: &str = "HOLM_DNS_CLEAN";
    if std::env::var_os(CLEAN).is_none() {
        use std::os::unix::process::CommandExt;
        // A session of its own: no terminal's or starter's signals reach it. Signals blocked or ignored by the
        // starter (a monitor) would be inherited: SIGTERM must end it.
        let _ = holm_sys::process::setsid();
        let _ = holm_sys::signal::reset_all();
        if holm_sys::fs::cloexec_from(3).is_ok() {
            let e = std::process::Command::new("/proc/self/exe")
                .arg(COMMAND)
                .arg(id)
                .env(CLEAN, "1")
                .exec();
            eprintln!("holm {COMMAND}: {e}");
            return 1;
        }
    }
    // SIGTERM's default action ends the process; SIGPIPE stays ignored (Rust's default: a TCP client that went away
    // is an error on that connection only).
    let r = crate::dns::serve(id, || {
        let mut o = std::io::stdout();
        let _ = writeln!(o, "ready");
        let _ = o.flush();
        // Nobody reads later: stdout becomes /dev/null.
        if let Ok(null) = File::options().write(true).open("/dev/null") {
            let _ = holm_sys::fs::dup_onto(std::os::fd::AsFd::as_fd(&null), 1);
        }
    });
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("holm {COMMAND}: {e}");
            1
        }
    }
}
