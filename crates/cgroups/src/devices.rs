//! The devices controller: `linux.resources.devices`, an ordered list of allow/deny rules where a later rule
//! overrides an earlier one, starting from "deny everything" (as runc).
//!
//! - v1: `devices.deny` ← `a *:* rwm`, then each rule as `type major:minor access` to `devices.allow` or
//!   `devices.deny` (`Documentation/admin-guide/cgroup-v1/devices.rst`).
//! - v2: there are no files; an eBPF program of type `BPF_PROG_TYPE_CGROUP_DEVICE` attached to the cgroup decides
//!   each access (`Documentation/admin-guide/cgroup-v2.rst` § "Device controller"). `program` compiles the rules
//!   into one, checking them last to first so that the last matching rule decides; nothing matching denies.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::resources::Target;
use crate::Error;

/// The devices every container may use whatever its config says, appended after the config's rules (runc's
/// `AllowedDevices`): `mknod` of any device, `/dev/null`, `zero`, `full`, `random`, `urandom`, `tty`, `ptmx`,
/// the devpts ptys (136:*) and `/dev/net/tun`.
pub fn default_allowed() -> Vec<LinuxDeviceCgroup> {
    let rule = |typ, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true);
        r.set_typ(Some(typ));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_string()));
        r
    };
    use LinuxDeviceType::{B, C};
    vec![
        rule(C, None, None, "m"),
        rule(B, None, None, "m"),
        rule(C, Some(1), Some(3), "rwm"),
        rule(C, Some(1), Some(8), "rwm"),
        rule(C, Some(1), Some(7), "rwm"),
        rule(C, Some(5), Some(0), "rwm"),
        rule(C, Some(1), Some(5), "rwm"),
        rule(C, Some(1), Some(9), "rwm"),
        rule(C, Some(136), None, "rwm"),
        rule(C, Some(5), Some(2), "rwm"),
        rule(C, Some(10), Some(200), "rwm"),
    ]
}

/// A rule in checked form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    allow: bool,
    /// `a`, `b` or `c`.
    typ: char,
    major: Option<u32>,
    minor: Option<u32>,
    /// Bit set of `BPF_DEVCG_ACC_*`: mknod 1, read 2, write 4.
    access: u32,
}

fn parse(i: usize, r: &LinuxDeviceCgroup) -> Result<Option<Rule>, Error> {
    let bad = |reason: String| Error::Resource {
        field: format!("devices[{i}]"),
        reason,
    };
    let typ = match r.typ().unwrap_or_default() {
        LinuxDeviceType::A => 'a',
        LinuxDeviceType::B => 'b',
        LinuxDeviceType::C | LinuxDeviceType::U => 'c',
        // FIFOs are not device nodes; the device cgroup never checks them.
        LinuxDeviceType::P => return Ok(None),
    };
    let num = |v: Option<i64>, what: &str| -> Result<Option<u32>, Error> {
        match v {
            None | Some(-1) => Ok(None),
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| *n < 1 << 20)
                .map(Some)
                .ok_or_else(|| bad(format!("invalid {what} {n}"))),
        }
    };
    let mut access = 0;
    for c in r.access().as_deref().unwrap_or("rwm").chars() {
        access |= match c {
            'm' => 1,
            'r' => 2,
            'w' => 4,
            _ => return Err(bad(format!("invalid access `{c}`: expected r, w and/or m"))),
        };
    }
    if access == 0 {
        access = 7;
    }
    Ok(Some(Rule {
        allow: r.allow(),
        typ,
        major: num(r.major(), "major")?,
        minor: num(r.minor(), "minor")?,
        access,
    }))
}

fn parse_all(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Rule>, Error> {
    Ok(rules
        .iter()
        .enumerate()
        .map(|(i, r)| parse(i, r))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect())
}

/// The v1 writes for `rules`: `(file, line)`, starting with denying everything.
fn v1_lines(rules: &[Rule]) -> Vec<(&'static str, String)> {
    let mut out = vec![("devices.deny", "a *:* rwm".to_string())];
    for r in rules {
        let n = |v: Option<u32>| v.map_or("*".to_string(), |v| v.to_string());
        let access: String = [(2, 'r'), (4, 'w'), (1, 'm')]
            .iter()
            .filter(|(bit, _)| r.access & bit != 0)
            .map(|(_, c)| *c)
            .collect();
        let file = if r.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        out.push((
            file,
            format!("{} {}:{} {access}", r.typ, n(r.major), n(r.minor)),
        ));
    }
    out
}

// eBPF opcodes (linux/bpf_common.h, linux/bpf.h).
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU_MOV_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const ALU_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JMP_JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> holm_sys::bpf::Insn {
    holm_sys::bpf::Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

/// Compiles rules into a `BPF_PROG_TYPE_CGROUP_DEVICE` program (the shape of runc's `devicefilter`).
///
/// The context is `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }` where `access_type` is
/// `device type | access << 16`. The prologue loads type into r2, access into r3, major into r4, minor into r5;
/// then one block per rule, last rule first: each condition that does not match jumps to the next block, and a
/// block that falls through returns 1 (allow) or 0 (deny). After all blocks: return 0. A rule that matches
/// everything ends the program (the kernel's verifier refuses unreachable instructions).
fn program(rules: &[Rule]) -> Vec<holm_sys::bpf::Insn> {
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for r in rules.iter().rev() {
        // A rule matching everything decides alone: blocks after it (earlier rules) would be unreachable, which
        // the verifier refuses.
        if r.typ == 'a' && r.access == 7 && r.major.is_none() && r.minor.is_none() {
            p.push(insn(ALU_MOV_K, 0, 0, 0, i32::from(r.allow)));
            p.push(insn(JMP_EXIT, 0, 0, 0, 0));
            return p;
        }
        // Conditions as (opcode, reg, imm) jumping to the next block when they hold; access is a 3-insn test.
        let mut block: Vec<holm_sys::bpf::Insn> = Vec::new();
        // Jumps are patched once the block length is known: remember their indices.
        let mut jumps = Vec::new();
        match r.typ {
            'b' => {
                jumps.push(block.len());
                block.push(insn(JMP_JNE_K, 2, 0, 0, 1));
            }
            'c' => {
                jumps.push(block.len());
                block.push(insn(JMP_JNE_K, 2, 0, 0, 2));
            }
            _ => {}
        }
        if r.access != 7 {
            // r1 = access & rule; if r1 != access: some requested access is not covered.
            block.push(insn(ALU_MOV_X, 1, 3, 0, 0));
            block.push(insn(ALU_AND_K, 1, 0, 0, r.access as i32));
            jumps.push(block.len());
            block.push(insn(JMP_JNE_X, 1, 3, 0, 0));
        }
        if let Some(m) = r.major {
            jumps.push(block.len());
            block.push(insn(JMP_JNE_K, 4, 0, 0, m as i32));
        }
        if let Some(m) = r.minor {
            jumps.push(block.len());
            block.push(insn(JMP_JNE_K, 5, 0, 0, m as i32));
        }
        block.push(insn(ALU_MOV_K, 0, 0, 0, i32::from(r.allow)));
        block.push(insn(JMP_EXIT, 0, 0, 0, 0));
        let len = block.len();
        for j in jumps {
            // Offset counts from the instruction after the jump to the first one after the block.
            block[j].off = (len - j - 1) as i16;
        }
        p.extend(block);
    }
    p.push(insn(ALU_MOV_K, 0, 0, 0, 0));
    p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    p
}

/// Applies the complete rule list (see the module doc).
pub(crate) fn apply(t: &Target<'_>, rules: &[LinuxDeviceCgroup]) -> Result<(), Error> {
    let parsed = parse_all(rules)?;
    if let Some((index, d)) = t.v1_dir("devices") {
        return t.with_dir(index, |dir| {
            for (file, line) in v1_lines(&parsed) {
                dir.write(file, line.as_bytes())
                    .map_err(|error| Error::WriteResource {
                        field: "devices".into(),
                        value: line.clone(),
                        path: dir.child_path(file),
                        hierarchy: d.hierarchy.to_string(),
                        error,
                    })?;
            }
            Ok(())
        });
    }
    if let Some((index, d)) = t.v2_dir() {
        let prog = program(&parsed);
        return t.with_dir(index, |dir| {
            let what = d.path.display().to_string();
            let fail = |e: holm_sys::Error| Error::Resource {
                field: "devices".into(),
                reason: format!("cgroup v2 device filter (eBPF) for `{what}`: {e}"),
            };
            let fd = holm_sys::bpf::load_cgroup_device_prog(&prog, "Apache-2.0").map_err(fail)?;
            let old = holm_sys::bpf::query_cgroup_device(dir.as_fd(), &what).map_err(fail)?;
            use std::os::fd::AsFd;
            holm_sys::bpf::attach_cgroup_device(
                dir.as_fd(),
                fd.as_fd(),
                holm_sys::bpf::F_ALLOW_MULTI,
                &what,
            )
            .map_err(fail)?;
            // The new program is in force: drop the ones it replaces (all must allow an access).
            for id in old {
                let old_fd = holm_sys::bpf::prog_fd_by_id(id).map_err(fail)?;
                holm_sys::bpf::detach_cgroup_device(dir.as_fd(), old_fd.as_fd(), &what)
                    .map_err(fail)?;
            }
            Ok(())
        });
    }
    Err(Error::Resource {
        field: "devices".into(),
        reason: "controller `devices` is not available: no cgroup v1 hierarchy carries it and no cgroup2 \
                 hierarchy is mounted"
            .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: &str) -> Vec<Rule> {
        let r: Vec<LinuxDeviceCgroup> = serde_json::from_str(json).unwrap();
        parse_all(&r).unwrap()
    }

    #[test]
    fn v1_lines_start_with_deny_all() {
        let r = rules(
            r#"[{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
                {"allow": true, "type": "b", "major": 8, "access": "m"},
                {"allow": true, "type": "p"}]"#,
        );
        assert_eq!(
            v1_lines(&r),
            [
                ("devices.deny", "a *:* rwm".to_string()),
                ("devices.deny", "a *:* rwm".to_string()),
                ("devices.allow", "c 1:3 rw".to_string()),
                ("devices.allow", "b 8:* m".to_string()),
            ]
        );
    }

    #[test]
    fn bad_rules_are_named() {
        let r: Vec<LinuxDeviceCgroup> =
            serde_json::from_str(r#"[{"allow": true}, {"allow": true, "access": "rx"}]"#).unwrap();
        let e = parse_all(&r).unwrap_err().to_string();
        assert!(e.contains("devices[1]") && e.contains("`x`"), "{e}");
    }

    /// Runs the program on one access, interpreting the handful of opcodes it uses.
    fn run(p: &[holm_sys::bpf::Insn], typ: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [typ | access << 16, major, minor];
        let mut reg = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => reg[dst] = u64::from(ctx[i.off as usize / 4]),
                ALU_AND_K => reg[dst] = (reg[dst] as u32 & i.imm as u32) as u64,
                ALU_RSH_K => reg[dst] = ((reg[dst] as u32) >> i.imm) as u64,
                ALU_MOV_K => reg[dst] = i.imm as u32 as u64,
                ALU_MOV_X => reg[dst] = reg[src] as u32 as u64,
                JMP_JNE_K if reg[dst] != i.imm as u64 => pc += i.off as usize,
                JMP_JNE_X if reg[dst] != reg[src] => pc += i.off as usize,
                JMP_JNE_K | JMP_JNE_X => {}
                JMP_EXIT => return reg[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    /// Every instruction can be reached from the first (the verifier refuses programs with dead code) and the
    /// last one is an exit.
    fn assert_all_reachable(p: &[holm_sys::bpf::Insn]) {
        let mut seen = vec![false; p.len()];
        let mut todo = vec![0usize];
        while let Some(pc) = todo.pop() {
            if pc >= p.len() || seen[pc] {
                continue;
            }
            seen[pc] = true;
            match p[pc].code {
                JMP_EXIT => {}
                JMP_JNE_K | JMP_JNE_X => {
                    todo.push(pc + 1);
                    todo.push(pc + 1 + p[pc].off as usize);
                }
                _ => todo.push(pc + 1),
            }
        }
        let dead: Vec<usize> = (0..p.len()).filter(|i| !seen[*i]).collect();
        assert!(dead.is_empty(), "unreachable instructions {dead:?}");
        assert_eq!(p.last().unwrap().code, JMP_EXIT);
    }

    #[test]
    fn programs_have_no_dead_code() {
        let mut all = rules(
            r#"[{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3}]"#,
        );
        assert_all_reachable(&program(&all));
        all.reverse();
        assert_all_reachable(&program(&all));
        assert_all_reachable(&program(&[]));
        let r: Vec<LinuxDeviceCgroup> = default_allowed();
        assert_all_reachable(&program(&parse_all(&r).unwrap()));
    }

    #[test]
    fn program_last_matching_rule_wins_and_default_denies() {
        let (blk, chr) = (1, 2);
        let (m, r, w) = (1, 2, 4);
        let p = program(&rules(
            r#"[{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "r"},
                {"allow": true, "type": "b", "access": "m"},
                {"allow": true, "type": "c", "major": 136},
                {"allow": false, "type": "c", "major": 136, "minor": 7}]"#,
        ));
        assert_eq!(run(&p, chr, r | w, 1, 3), 1, "/dev/null rw");
        assert_eq!(run(&p, chr, r, 1, 5), 1, "/dev/zero r");
        assert_eq!(run(&p, chr, w, 1, 5), 0, "/dev/zero w not allowed");
        assert_eq!(run(&p, chr, r | w, 1, 5), 0, "rw needs both");
        assert_eq!(run(&p, blk, m, 8, 0), 1, "mknod of any block device");
        assert_eq!(run(&p, blk, r, 8, 0), 0, "reading a block device");
        assert_eq!(run(&p, chr, r, 136, 3), 1, "a pty");
        assert_eq!(run(&p, chr, r, 136, 7), 0, "a later deny wins");
        assert_eq!(run(&p, chr, r, 4, 1), 0, "nothing matches: deny");
        // Allow-all then a deny.
        let p = program(&rules(
            r#"[{"allow": true, "access": "rwm"}, {"allow": false, "type": "c", "major": 1, "minor": 3}]"#,
        ));
        assert_eq!(run(&p, blk, r, 8, 0), 1);
        assert_eq!(run(&p, chr, r, 1, 3), 0);
        // No rules: everything denied.
        assert_eq!(run(&program(&[]), chr, r, 1, 3), 0);
    }
}
