//! The control messages: [`Request`] (host → guest) and [`Event`] (guest → host), carried as JSON in
//! [`crate::frame::Kind::Control`] frames. Every struct denies unknown fields; the guest's messages are untrusted and
//! checked further by [`Event::validate`] (string lengths, list lengths).

use crate::network::NetworkConfig;
use oci_spec::runtime::{LinuxResources, Process, Spec};
use serde::{Deserialize, Serialize};

/// The protocol version the agent announces in [`Event::Ready`]; the host refuses any other. Version 2:
/// [`CreateRequest::networks`] (a list, each NIC found by its MAC) replaced version 1's single `network`.
/// Version 3: each [`NetworkConfig`] carries all the interface's addresses (IPv4 and IPv6) and routes instead of
/// one IPv4 address and a default gateway. Version 4: [`Event::Exited`] carries the container cgroup's OOM-kill
/// count.
/// Version 7: [`Event::Ps`] carries `ps -ef` rows ([`PsRow`]) beside the pids.
pub const PROTOCOL_VERSION: u32 = 7;
/// Most bytes of [`CreateRequest::entropy`] the agent mixes into the guest's random pool.
pub const MAX_ENTROPY: usize = 256;
/// Most NICs a [`CreateRequest`] may configure (the host hands over at most this many interfaces).
pub const MAX_NICS: usize = 16;
/// Longest [`Event::Error`] message the host accepts, in bytes.
pub const MAX_ERROR_MESSAGE: usize = 4096;
/// Most pids a [`Event::Ps`] reply may carry.
pub const MAX_PS_PIDS: usize = 65_536;
/// Most rows a [`Event::Ps`] reply may carry (the first processes; the others are listed by pid only), so the
/// reply stays well inside one control frame.
pub const MAX_PS_ROWS: usize = 1024;
/// Longest [`PsRow::cmd`], in bytes (the agent cuts longer command lines on a char boundary).
pub const MAX_PS_CMD: usize = 256;
/// Longest short string (version, kernel release) the guest may send, in bytes.
pub const MAX_SHORT_STRING: usize = 256;
/// The stream id of the container's init process. `exec` processes use the ids the host gives them (≥ 1).
pub const INIT_STREAM: u32 = 0;

/// A host → guest control message. The guest answers each request with exactly one reply ([`Event::Created`],
/// [`Event::Started`], [`Event::Done`], [`Event::Stats`], [`Event::Ps`] or [`Event::Error`]), in order; the host
/// sends the next request only after the reply. [`Event::Exited`] and [`Event::Ready`] are unsolicited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Create the container (paused before its process runs, like `runc create`). Reply: [`Event::Created`].
    Create(Box<CreateRequest>),
    /// Start the created container's process (`runc start`). Reply: [`Event::Started`] for [`INIT_STREAM`].
    Start,
    /// Send a signal (`runc kill`). Reply: [`Event::Done`].
    Signal(SignalRequest),
    /// Start a new process in the running container (`runc exec`). Reply: [`Event::Started`] for its stream.
    Exec(Box<ExecRequest>),
    /// Set a terminal's window size (`TIOCSWINSZ`). Reply: [`Event::Done`].
    Resize(ResizeRequest),
    /// Freeze the container's cgroup (`runc pause`). Reply: [`Event::Done`].
    Pause,
    /// Thaw it (`runc resume`). Reply: [`Event::Done`].
    Resume,
    /// Change its cgroup limits (`runc update`). Reply: [`Event::Done`].
    Update(Box<LinuxResources>),
    /// Resource usage. Reply: [`Event::Stats`].
    Stats,
    /// The container's processes (guest pids). Reply: [`Event::Ps`].
    Ps,
    /// Kill what runs and power the guest off. Reply: [`Event::Done`], then the VM ends.
    Shutdown,
}

/// What the guest needs to build the container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// Container id (as the host knows it).
    pub id: String,
    /// The runtime-spec config as the guest's holm-container runs it: `root.path` and the `source` of volume bind
    /// mounts are guest paths (where [`CreateRequest::rootfs`] and [`CreateRequest::volumes`] are mounted). The
    /// network namespace entry is ignored: the container uses the guest's own (eth0 lives there).
    pub config: Box<Spec>,
    /// The shared root filesystem; mounted by the agent at the config's `root.path`.
    pub rootfs: Share,
    /// Shared volumes, each mounted at its `guest_path` before the container is created.
    #[serde(default)]
    pub volumes: Vec<Share>,
    /// The NICs' configurations, one per interface of the container's network namespace, `eth0` first (at most
    /// [`MAX_NICS`]); empty: only `lo`.
    #[serde(default)]
    pub networks: Vec<NetworkConfig>,
    /// The guest's hostname (the container's UTS namespace still gets the config's `hostname`).
    #[serde(default)]
    pub hostname: Option<String>,
    /// Fresh random bytes from the host (`getrandom(2)`, at most [`MAX_ENTROPY`]): before anything else the agent
    /// adds them to the guest kernel's pool and forces a CRNG reseed, so that no two guests share a random state
    /// (groundwork for guests restored from one snapshot, which would start with the same pool).
    #[serde(default)]
    pub entropy: Vec<u8>,
    /// The host's wall clock when it sent the request, nanoseconds since the epoch: the agent sets the guest's
    /// `CLOCK_REALTIME` to it (the CMOS RTC the guest booted with has a resolution of one second).
    #[serde(default)]
    pub realtime_ns: Option<u64>,
}

/// A host directory shared into the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Share {
    /// The filesystem type: `9p` (virtio-9p, `trans=virtio`) or `virtiofs`.
    pub fstype: ShareType,
    /// The device's mount tag (qemu `mount_tag=` / virtiofsd's tag).
    pub tag: String,
    /// Absolute guest path to mount it on (created if missing).
    pub guest_path: String,
    /// Mount read-only.
    #[serde(default)]
    pub readonly: bool,
}

/// How a [`Share`] reaches the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareType {
    /// virtio-9p (`-fsdev local` + `virtio-9p-device`), mounted with `trans=virtio,version=9p2000.L`.
    #[serde(rename = "9p")]
    NineP,
    /// virtio-fs (`vhost-user-fs-device` + virtiofsd).
    Virtiofs,
}

/// [`Request::Signal`]'s body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalRequest {
    /// Signal number (signal(7)).
    pub signal: i32,
    /// `runc kill --all`: every process of the container, not only its init.
    #[serde(default)]
    pub all: bool,
    /// An exec process's stream instead of the container's init.
    #[serde(default)]
    pub stream: Option<u32>,
}

/// [`Request::Exec`]'s body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecRequest {
    /// The stream id its stdio and exit use (≥ 1, unique for the container's life).
    pub stream: u32,
    /// The runtime-spec process (`process.terminal` selects a pty).
    pub process: Box<Process>,
}

/// [`Request::Resize`]'s body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResizeRequest {
    /// The stream whose terminal to resize.
    pub stream: u32,
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

/// A guest → host control message (untrusted: see [`Event::validate`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// The agent is up and waits for [`Request::Create`]. Sent once, first.
    Ready(Ready),
    /// The container exists; its init (guest pid) waits for [`Request::Start`].
    Created {
        /// The init's pid in the guest.
        pid: i32,
    },
    /// A process runs: the init after [`Request::Start`], or an exec's process.
    Started {
        /// Its stream id.
        stream: u32,
        /// Its pid in the guest.
        pid: i32,
    },
    /// A request without a payload succeeded.
    Done,
    /// A process ended. Sent after the stream's [`crate::frame::Kind::OutputEnd`] frame was written.
    Exited {
        /// Its stream id.
        stream: u32,
        /// How it ended.
        status: ExitStatus,
        /// How many processes the guest's OOM killer has killed in the container's cgroup so far (cgroup v2
        /// `memory.events` `oom_kill`; 0 when unknown). The host's `State.OOMKilled` and runtime `oom` events.
        #[serde(default)]
        oom_kills: u64,
    },
    /// Reply to [`Request::Stats`].
    Stats(Stats),
    /// Reply to [`Request::Ps`]: guest pids.
    Ps {
        /// The container's processes.
        pids: Vec<i32>,
        /// What `ps -ef` shows of them (at most [`MAX_PS_ROWS`], in `pids`' order).
        #[serde(default)]
        rows: Vec<PsRow>,
    },
    /// A request failed; the message is one line, at most [`MAX_ERROR_MESSAGE`] bytes.
    Error {
        /// What failed and why.
        message: String,
    },
}

/// One guest process as `ps -ef` shows it (read by the agent from the guest's `/proc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PsRow {
    /// Its pid.
    pub pid: i32,
    /// Its parent's pid in the guest (the container's init's parent is the guest agent's side).
    pub ppid: i32,
    /// Its real uid.
    pub uid: u32,
    /// CPU use over its life, percent (ps's `C`, at most 99).
    pub cpu: u8,
    /// When it started, seconds since the Unix epoch (the guest's clock is the host's).
    pub start: u64,
    /// Its controlling terminal (`pts/N`), or `?`.
    pub tty: String,
    /// CPU time used (user + system), seconds.
    pub time: u64,
    /// Its command line (arguments joined by spaces; `[comm]` for a kernel thread), at most [`MAX_PS_CMD`] bytes.
    pub cmd: String,
}

/// [`Event::Ready`]'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ready {
    /// Must equal [`PROTOCOL_VERSION`].
    pub protocol: u32,
    /// The guest kernel's release (`uname -r`), for logs.
    pub kernel: String,
}

/// How a process ended (wait(2)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ExitStatus {
    /// It exited with this code (0–255).
    Code(u8),
    /// A signal killed it.
    Signal(u8),
}

impl ExitStatus {
    /// The shell's convention: the code, or 128 + the signal number.
    pub fn shell_code(self) -> i32 {
        match self {
            ExitStatus::Code(c) => c.into(),
            ExitStatus::Signal(s) => 128 + i32::from(s),
        }
    }
}

/// Resource usage of the container's cgroup in the guest (cgroup v2 files; absent when the file is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    /// `cpu.stat` `usage_usec`.
    #[serde(default)]
    pub cpu_usage_usec: Option<u64>,
    /// `cpu.stat` `user_usec`.
    #[serde(default)]
    pub cpu_user_usec: Option<u64>,
    /// `cpu.stat` `system_usec`.
    #[serde(default)]
    pub cpu_system_usec: Option<u64>,
    /// `memory.current`, bytes.
    #[serde(default)]
    pub memory_current: Option<u64>,
    /// `memory.max`, bytes (`None` for `max` or absent).
    #[serde(default)]
    pub memory_max: Option<u64>,
    /// `pids.current`.
    #[serde(default)]
    pub pids_current: Option<u64>,
    /// eth0's received bytes.
    #[serde(default)]
    pub net_rx_bytes: Option<u64>,
    /// eth0's sent bytes.
    #[serde(default)]
    pub net_tx_bytes: Option<u64>,
}

/// Why a decoded [`Event`] is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEvent {
    /// A string field is too long.
    #[error("{field}: {len} bytes, at most {max} allowed")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A value is out of its range.
    #[error("{field}: {value} is out of range ({expected})")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// The value.
        value: i64,
        /// What was expected.
        expected: &'static str,
    },
}

fn bounded(field: &'static str, s: &str, max: usize) -> Result<(), InvalidEvent> {
    if s.len() > max {
        return Err(InvalidEvent::TooLong {
            field,
            len: s.len(),
            max,
        });
    }
    Ok(())
}

fn positive_pid(field: &'static str, pid: i32) -> Result<(), InvalidEvent> {
    if pid <= 0 {
        return Err(InvalidEvent::OutOfRange {
            field,
            value: pid.into(),
            expected: "a pid > 0",
        });
    }
    Ok(())
}

impl Event {
    /// Checks what JSON decoding cannot: string and list bounds, pid and signal ranges.
    pub fn validate(&self) -> Result<(), InvalidEvent> {
        match self {
            Event::Ready(r) => bounded("ready.kernel", &r.kernel, MAX_SHORT_STRING),
            Event::Created { pid } => positive_pid("created.pid", *pid),
            Event::Started { pid, .. } => positive_pid("started.pid", *pid),
            Event::Exited {
                status: ExitStatus::Signal(s),
                ..
            } if *s == 0 || *s > 64 => Err(InvalidEvent::OutOfRange {
                field: "exited.status.signal",
                value: (*s).into(),
                expected: "1..=64",
            }),
            Event::Ps { pids, rows } => {
                if pids.len() > MAX_PS_PIDS {
                    return Err(InvalidEvent::TooLong {
                        field: "ps.pids",
                        len: pids.len(),
                        max: MAX_PS_PIDS,
                    });
                }
                if rows.len() > MAX_PS_ROWS {
                    return Err(InvalidEvent::TooLong {
                        field: "ps.rows",
                        len: rows.len(),
                        max: MAX_PS_ROWS,
                    });
                }
                for r in rows {
                    positive_pid("ps.rows[].pid", r.pid)?;
                    bounded("ps.rows[].tty", &r.tty, MAX_SHORT_STRING)?;
                    bounded("ps.rows[].cmd", &r.cmd, MAX_PS_CMD)?;
                    if r.cpu > 99 || r.ppid < 0 {
                        return Err(InvalidEvent::OutOfRange {
                            field: "ps.rows[].cpu/ppid",
                            value: i64::from(r.cpu).max(i64::from(-r.ppid)),
                            expected: "cpu 0..=99, ppid >= 0",
                        });
                    }
                }
                pids.iter().try_for_each(|p| positive_pid("ps.pids[]", *p))
            }
            Event::Error { message } => bounded("error.message", message, MAX_ERROR_MESSAGE),
            Event::Done | Event::Exited { .. } | Event::Stats(_) => Ok(()),
        }
    }
}
