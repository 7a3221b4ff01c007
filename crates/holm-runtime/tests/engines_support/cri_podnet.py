"""A pod on a CNI pod network through containerd's CRI plugin, for engines_vm.rs (cri.rs starts containerd with a
bridge + host-local CNI config).

    cri_podnet.py SOCKET HANDLER IMAGE CGROUP_PARENT LOG_DIR

RunPodSandbox with runtime handler HANDLER on the pod network (CNI gives the sandbox's network namespace eth0 and
the pod IP), then a container `web` serving HTTP with busybox httpd on port 8080, fetched from the host at the pod
IP; ExecSync `uname -r` and `ip -4 addr show eth0` in it; then a second container `second` that is refused (the
pod's interfaces belong to web's VM); then StopPodSandbox and RemovePodSandbox. Prints one JSON object with what
it saw (the Rust test judges it); the sandbox is stopped and removed whatever happened. Exits 1 with the error on
a failed call.
"""

import json
import sys
import time
import urllib.request
import uuid

import grpc
from cri_api.v1 import api_pb2 as cri
from cri_api.v1 import api_pb2_grpc as cri_grpc

TIMEOUT = 120  # seconds per call: a VM boots under TCG in seconds on a loaded machine
PAGE = "hello from the pod VM"
T0 = time.monotonic()


def log(msg):
    """Progress on stderr (in the test's failure message when a call hangs)."""
    print(f"{time.monotonic() - T0:.1f}s {msg}", file=sys.stderr, flush=True)


def container(name, image, command, log_name):
    return cri.ContainerConfig(
        metadata=cri.ContainerMetadata(name=name),
        image=cri.ImageSpec(image=image),
        command=command,
        log_path=log_name,
        linux=cri.LinuxContainerConfig(),
    )


def fetch(url, deadline):
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.read().decode(errors="replace")
        except OSError as e:
            last = e
            time.sleep(0.5)
    return f"ERROR: {last}"


def main():
    sock, handler, image, cgroup_parent, log_dir = sys.argv[1:6]
    channel = grpc.insecure_channel("unix://" + sock)
    rt = cri_grpc.RuntimeServiceStub(channel)
    out = {}
    pod_config = cri.PodSandboxConfig(
        metadata=cri.PodSandboxMetadata(name="vmpodnet", uid=str(uuid.uuid4()), namespace="default", attempt=0),
        log_directory=log_dir,
        linux=cri.LinuxPodSandboxConfig(
            cgroup_parent=cgroup_parent,
            security_context=cri.LinuxSandboxSecurityContext(
                namespace_options=cri.NamespaceOption(network=cri.POD, pid=cri.CONTAINER, ipc=cri.POD)
            ),
        ),
    )
    pod = rt.RunPodSandbox(
        cri.RunPodSandboxRequest(config=pod_config, runtime_handler=handler), timeout=TIMEOUT
    ).pod_sandbox_id
    out["pod"] = pod
    log(f"pod {pod} ready")
    try:
        status = rt.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=pod, verbose=True), timeout=TIMEOUT)
        info = json.loads(status.info.get("info", "{}"))
        out["sandbox_ready"] = status.status.state == cri.SANDBOX_READY
        out["sandbox_runtime"] = info.get("runtimeHandler")
        out["pod_ip"] = status.status.network.ip
        nss = ((info.get("runtimeSpec") or {}).get("linux") or {}).get("namespaces") or []
        out["netns"] = next((n.get("path") for n in nss if n.get("type") == "network"), None)
        cmd = f"mkdir -p /tmp/www && echo '{PAGE}' > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"
        web = rt.CreateContainer(
            cri.CreateContainerRequest(
                pod_sandbox_id=pod,
                config=container("web", image, ["sh", "-c", cmd], "web.log"),
                sandbox_config=pod_config,
            ),
            timeout=TIMEOUT,
        ).container_id
        rt.StartContainer(cri.StartContainerRequest(container_id=web), timeout=TIMEOUT)
        log(f"web started; GET http://{out['pod_ip']}:8080/")
        out["http"] = fetch(f"http://{out['pod_ip']}:8080/", time.monotonic() + 40)
        st = rt.ContainerStatus(cri.ContainerStatusRequest(container_id=web), timeout=TIMEOUT).status
        if st.state != cri.CONTAINER_RUNNING:
            with open(st.log_path) as f:
                text = f.read()
            raise RuntimeError(f"web is not running (exit code {st.exit_code}, reason {st.reason!r}); its log: {text!r}")
        for key, c in [("uname", ["uname", "-r"]), ("addr", ["ip", "-4", "-o", "addr", "show", "eth0"])]:
            ex = rt.ExecSync(cri.ExecSyncRequest(container_id=web, cmd=c, timeout=60), timeout=TIMEOUT)
            out[key] = ex.stdout.decode(errors="replace").strip()
        second = rt.CreateContainer(
            cri.CreateContainerRequest(
                pod_sandbox_id=pod,
                config=container("second", image, ["sleep", "1000"], "second.log"),
                sandbox_config=pod_config,
            ),
            timeout=TIMEOUT,
        ).container_id
        log(f"http: {out['http']!r}; starting the second container")
        try:
            rt.StartContainer(cri.StartContainerRequest(container_id=second), timeout=TIMEOUT)
            out["second_error"] = None
        except grpc.RpcError as e:
            out["second_error"] = e.details()
        # web still serves after the refusal.
        out["http_after"] = fetch(f"http://{out['pod_ip']}:8080/", time.monotonic() + 30)
    finally:
        log("stopping the pod")
        rt.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=TIMEOUT)
        rt.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=TIMEOUT)
        out["removed"] = True
    print(json.dumps(out))


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as e:
        sys.exit(f"cri_podnet.py: {e.code()}: {e.details()}")
    except RuntimeError as e:
        sys.exit(f"cri_podnet.py: {e}")
