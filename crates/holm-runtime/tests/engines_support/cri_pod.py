"""A pod through containerd's CRI plugin, as the kubelet would run it, for engines_vm.rs (cri.rs starts containerd).

    cri_pod.py SOCKET HANDLER IMAGE CGROUP_PARENT LOG_DIR

Uses the CRI v1 gRPC API (the `container-runtime-interface-api` package from PyPI, installed in a venv by
scripts/install-test-deps.sh): RunPodSandbox with runtime handler HANDLER (host network, so no CNI is needed), then
in that pod a container running `uname -r; exit 3` to its end, and a container running `sleep` with an ExecSync of
`uname -r` in it; then StopPodSandbox and RemovePodSandbox. Prints one JSON object with what it saw (the Rust test
judges it); the sandbox is stopped and removed whatever happened. Exits 1 with the error on a failed call.
"""

import json
import sys
import time
import uuid

import grpc
from cri_api.v1 import api_pb2 as cri
from cri_api.v1 import api_pb2_grpc as cri_grpc

TIMEOUT = 120  # seconds per call: a VM boots under TCG in seconds on a loaded machine


def wait_exited(rt, cid, deadline):
    while time.monotonic() < deadline:
        st = rt.ContainerStatus(cri.ContainerStatusRequest(container_id=cid), timeout=TIMEOUT).status
        if st.state == cri.CONTAINER_EXITED:
            return st
        time.sleep(0.2)
    raise TimeoutError(f"container {cid} did not exit")


def container(name, image, command, pod_config, log_name):
    return cri.ContainerConfig(
        metadata=cri.ContainerMetadata(name=name),
        image=cri.ImageSpec(image=image),
        command=command,
        log_path=log_name,
        linux=cri.LinuxContainerConfig(),
    )


def main():
    sock, handler, image, cgroup_parent, log_dir = sys.argv[1:6]
    channel = grpc.insecure_channel("unix://" + sock)
    rt = cri_grpc.RuntimeServiceStub(channel)
    out = {"version": rt.Version(cri.VersionRequest(), timeout=TIMEOUT).runtime_version}
    pod_config = cri.PodSandboxConfig(
        metadata=cri.PodSandboxMetadata(name="vmpod", uid=str(uuid.uuid4()), namespace="default", attempt=0),
        log_directory=log_dir,
        linux=cri.LinuxPodSandboxConfig(
            cgroup_parent=cgroup_parent,
            security_context=cri.LinuxSandboxSecurityContext(
                namespace_options=cri.NamespaceOption(
                    network=cri.NODE, pid=cri.CONTAINER, ipc=cri.POD
                )
            ),
        ),
    )
    pod = rt.RunPodSandbox(
        cri.RunPodSandboxRequest(config=pod_config, runtime_handler=handler), timeout=TIMEOUT
    ).pod_sandbox_id
    out["pod"] = pod
    try:
        status = rt.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=pod, verbose=True), timeout=TIMEOUT)
        info = json.loads(status.info.get("info", "{}"))
        out["sandbox_ready"] = status.status.state == cri.SANDBOX_READY
        out["sandbox_pid"] = info.get("pid")
        out["sandbox_runtime"] = info.get("runtimeHandler")

        cid = rt.CreateContainer(
            cri.CreateContainerRequest(
                pod_sandbox_id=pod,
                config=container("uname", image, ["sh", "-c", "uname -r; exit 3"], pod_config, "uname.log"),
                sandbox_config=pod_config,
            ),
            timeout=TIMEOUT,
        ).container_id
        rt.StartContainer(cri.StartContainerRequest(container_id=cid), timeout=TIMEOUT)
        st = wait_exited(rt, cid, time.monotonic() + TIMEOUT)
        out["exit_code"] = st.exit_code
        with open(st.log_path) as f:
            # CRI log lines: `TIMESTAMP STREAM TAG TEXT`.
            out["log"] = [line.rstrip("\n").split(" ", 3)[-1] for line in f]

        sid = rt.CreateContainer(
            cri.CreateContainerRequest(
                pod_sandbox_id=pod,
                config=container("sleeper", image, ["sleep", "1000"], pod_config, "sleeper.log"),
                sandbox_config=pod_config,
            ),
            timeout=TIMEOUT,
        ).container_id
        rt.StartContainer(cri.StartContainerRequest(container_id=sid), timeout=TIMEOUT)
        ex = rt.ExecSync(
            cri.ExecSyncRequest(container_id=sid, cmd=["sh", "-c", "uname -r; exit 4"], timeout=60),
            timeout=TIMEOUT,
        )
        out["exec_stdout"] = ex.stdout.decode(errors="replace")
        out["exec_exit_code"] = ex.exit_code
        out["containers"] = len(
            rt.ListContainers(
                cri.ListContainersRequest(filter=cri.ContainerFilter(pod_sandbox_id=pod)), timeout=TIMEOUT
            ).containers
        )
    finally:
        rt.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=TIMEOUT)
        rt.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=TIMEOUT)
        out["removed"] = True
    print(json.dumps(out))


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as e:
        sys.exit(f"cri_pod.py: {e.code()}: {e.details()}")
