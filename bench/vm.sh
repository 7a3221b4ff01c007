#!/usr/bin/env bash
# VM isolation vs process isolation: boot-to-exit of one `holm-runtime run` of a busybox bundle running /bin/true,
# side by side in one hyperfine invocation, plus the host memory (PSS) of idle VM containers: one alone, then VMS
# at once.
#
#   bench/vm.sh                 # RUNS=5; HOLM_RUNTIME=path to use another build (default: scripts/build-dist.sh)
#   VMS=4                       # how many idle VMs to measure at once (default 4)
#   TCG_TB=16                   # the idle VMs' TCG cache in MiB (annotation org.holm.vm.tcg-tb-size; default: holm's)
#
# The VM side is `holm-runtime --isolation vm run` (qemu microvm, holm's guest kernel from
# scripts/build-guest-kernel.sh, the static agent from scripts/build-agent.sh); the accelerator is what
# holm-runtime chooses (TCG on this machine: its KVM cannot boot a guest). Runs as root; needs hyperfine, python3,
# qemu-system-x86 (scripts/install-test-deps.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS="${RUNS:-5}"
if [[ -z "${HOLM_RUNTIME:-}" ]]; then
    echo "vm: scripts/build-dist.sh (dist profile, statically linked)" >&2
    HOLM_RUNTIME="$(scripts/build-dist.sh)"
fi
if [[ -z "${HOLM_VM_AGENT:-}" ]]; then
    echo "vm: scripts/build-agent.sh (static guest agent)" >&2
    HOLM_VM_AGENT="$(scripts/build-agent.sh)"
fi
export HOLM_VM_AGENT
scripts/build-guest-kernel.sh >&2

TMP="$(mktemp -d /tmp/holm-bench-vm.XXXXXX)"
cleanup() {
    local id
    for id in $("$HOLM_RUNTIME" --root "$TMP/state" list -q 2>/dev/null || true); do
        "$HOLM_RUNTIME" --root "$TMP/state" delete --force "$id" >/dev/null 2>&1 || true
    done
    umount "$TMP/state" 2>/dev/null || true
    if grep -qF " $TMP" /proc/self/mountinfo; then
        echo "vm: NOT removing $TMP: something is still mounted inside it" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT

B="$TMP/bundle"
mkdir -p "$B/rootfs"/{bin,proc,sys,dev,tmp,etc,root} "$TMP/state"
mount -t tmpfs -o size=64m tmpfs "$TMP/state"
cp /bin/busybox "$B/rootfs/bin/busybox"
for applet in $("$B/rootfs/bin/busybox" --list); do
    [[ "$applet" == busybox ]] || ln -s busybox "$B/rootfs/bin/$applet"
done
(cd "$B" && "$HOLM_RUNTIME" spec)
python3 - "$B/config.json" <<'PY'
import json, sys
path = sys.argv[1]
with open(path) as f:
    spec = json.load(f)
spec["process"]["terminal"] = False
spec["process"]["args"] = ["/bin/true"]
with open(path, "w") as f:
    json.dump(spec, f, indent=2)
PY

# A fresh id per sample ($$ of the wrapper shell); a foreground run deletes its container when it exits.
cmd_for() { # <extra global flags>
    printf "sh -c '\"%s\" --root \"%s\" %s run --bundle \"%s\" b\$\$ >/dev/null'" "$HOLM_RUNTIME" "$TMP/state" "$1" "$B"
}
hyperfine --warmup 1 --runs "$RUNS" --export-markdown "$TMP/run.md" \
    -n process "$(cmd_for "")" \
    -n vm "$(cmd_for "--isolation vm")" >&2
cat "$TMP/run.md"

# CPU time the VMM used for one VM `true` (create, start, until stopped): unlike wall time it barely depends on
# the host's load. Read from the VMM's cgroup (holm-runtime puts qemu in holm/<id>) before the delete.
vm_cpu() { # <id> -> seconds, or n/a
    local id="$1" f v=n/a
    "$HOLM_RUNTIME" --root "$TMP/state" --isolation vm create --bundle "$B" "$id" </dev/null >/dev/null 2>&1
    "$HOLM_RUNTIME" --root "$TMP/state" start "$id"
    while [[ "$("$HOLM_RUNTIME" --root "$TMP/state" state "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')" != stopped ]]; do
        sleep 0.05
    done
    for f in /sys/fs/cgroup/cpuacct/holm/"$id"/cpuacct.usage /sys/fs/cgroup/cpu,cpuacct/holm/"$id"/cpuacct.usage; do
        if [[ -r "$f" ]]; then v="$(python3 -c 'import sys; print(f"{int(open(sys.argv[1]).read()) / 1e9:.2f}")' "$f")"; break; fi
    done
    f=/sys/fs/cgroup/holm/"$id"/cpu.stat
    if [[ "$v" == n/a && -r "$f" ]]; then
        v="$(python3 -c 'import sys; print(f"{int(open(sys.argv[1]).read().split()[1]) / 1e6:.2f}")' "$f")"
    fi
    "$HOLM_RUNTIME" --root "$TMP/state" delete --force "$id" >/dev/null 2>&1 || true
    echo "$v"
}
cpus=()
for i in 1 2 3; do cpus+=("$(vm_cpu "cpu$i")"); done
echo
echo "VM true: CPU time of the VMM (qemu), 3 runs: ${cpus[*]} s (load average $(cut -d' ' -f1 /proc/loadavg))"

# Idle VM container: host PSS of the VMM (state.pid, qemu) and its descendants, with a 128 MiB guest (the
# container's memory limit sizes the guest; issue 13's goal is stated for a 128 MiB guest).
python3 - "$B/config.json" <<'PY'
import json, os, sys
path = sys.argv[1]
with open(path) as f:
    spec = json.load(f)
spec["process"]["args"] = ["/bin/sleep", "600"]
spec["linux"].setdefault("resources", {})["memory"] = {"limit": 128 << 20}
if os.environ.get("TCG_TB"):
    spec.setdefault("annotations", {})["org.holm.vm.tcg-tb-size"] = os.environ["TCG_TB"]
with open(path, "w") as f:
    json.dump(spec, f, indent=2)
PY
# PSS splits a page among the processes that map it: the mmapped vmlinux and initramfs and qemu's binary and
# libraries are shared by every VM booting the same files (and with any other qemu on the host), so the per-VM PSS
# of N VMs at once is lower than a lone VM's. Measured for one VM, then for VMS (default 4) at once. Also printed per
# VM: qemu's resident guest RAM and TCG code cache (anonymous, never shared).
idle_pss() { # <id>... -> one line per VM: pss_mib guest_ram_mib tcg_cache_mib
    local id pid
    for id in "$@"; do
        pid="$("$HOLM_RUNTIME" --root "$TMP/state" state "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')"
        python3 - "$pid" <<'PY2'
import os, re, sys
root = int(sys.argv[1])
children = {}
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d))
        except OSError:
            pass
todo, total = [root], 0
while todo:
    p = todo.pop()
    todo += children.get(p, [])
    try:
        with open(f"/proc/{p}/smaps_rollup") as f:
            total += sum(int(l.split()[1]) for l in f if l.startswith("Pss:"))
    except OSError:
        pass
# qemu's own mappings: guest RAM is its largest private anonymous rw mapping, the TCG cache its rwx one.
maps, cur = [], None
with open(f"/proc/{root}/smaps") as f:
    for l in f:
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", l):
            p = l.split(None, 5)
            a, b = (int(x, 16) for x in p[0].split("-"))
            cur = {"size": b - a, "perm": p[1], "name": p[5].strip() if len(p) > 5 else ""}
            maps.append(cur)
        elif l.startswith("Rss:"):
            cur["rss"] = int(l.split()[1])
anon = [m for m in maps if m["perm"] == "rw-p" and not m["name"]]
guest = max(anon, key=lambda m: m["size"])["rss"] if anon else 0
tcg = sum(m["rss"] for m in maps if m["perm"] == "rwxp")
print(f"{total / 1024:.0f} {guest / 1024:.0f} {tcg / 1024:.0f}")
PY2
    done
}
idle_run() { # <n> -> the idle_pss lines of n VMs started together
    local i ids=()
    for i in $(seq 1 "$1"); do
        ids+=("idle$1-$i")
        "$HOLM_RUNTIME" --root "$TMP/state" --isolation vm run -d --bundle "$B" "idle$1-$i" >/dev/null </dev/null
    done
    sleep 10 # the boot's freed memory is reported to qemu 2 s after the guest frees it
    idle_pss "${ids[@]}"
    for i in "${ids[@]}"; do "$HOLM_RUNTIME" --root "$TMP/state" delete --force "$i" >/dev/null 2>&1 || true; done
}
VMS="${VMS:-4}"
echo
read -r pss guest tcg < <(idle_run 1)
echo "idle VM container (sleep, 128 MiB guest), alone: host PSS of the VMM (state.pid) and its descendants: $pss MiB (qemu's resident guest RAM $guest MiB, TCG cache $tcg MiB)"
echo "$VMS idle VM containers at once, each (PSS MiB, guest RAM MiB, TCG cache MiB):"
idle_run "$VMS" | sed 's/^/  /'
