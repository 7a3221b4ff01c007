#!/usr/bin/env bash
# VM isolation vs process isolation: boot-to-exit of one `holm-runtime run` of a busybox bundle running /bin/true,
# side by side in one hyperfine invocation, plus the host memory (PSS) of an idle VM container's processes.
#
#   bench/vm.sh                 # RUNS=5; HOLM_RUNTIME=path to use another build (default: scripts/build-dist.sh)
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
import json, sys
path = sys.argv[1]
with open(path) as f:
    spec = json.load(f)
spec["process"]["args"] = ["/bin/sleep", "60"]
spec["linux"].setdefault("resources", {})["memory"] = {"limit": 128 << 20}
with open(path, "w") as f:
    json.dump(spec, f, indent=2)
PY
"$HOLM_RUNTIME" --root "$TMP/state" --isolation vm run -d --bundle "$B" idle >/dev/null
pid="$("$HOLM_RUNTIME" --root "$TMP/state" state idle | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')"
sleep 3
pss="$(python3 - "$pid" <<'PY'
import os, sys
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
print(total // 1024)
PY
)"
echo
echo "idle VM container (sleep 60, 128 MiB guest): host PSS of the VMM (state.pid) and its descendants: $pss MiB"
"$HOLM_RUNTIME" --root "$TMP/state" delete --force idle >/dev/null 2>&1 || true
