"""One pod of the chart, run as the kubelet would run it, against the local broker and sandbox.

No container engine or cluster here, so `tests/deploy/pod_support.py` stands in for them: the
chart is rendered with Helm's engine, the Deployment's ConfigMap and Secret are written as the
pod's volumes at their mount paths, the image's /opt/venv is built as the Dockerfile builds it
(the lock's wheels, hashes required, and the bridge wheel; cached per lock and source), and the
container's command runs as PID 1 with the pod's uid/gid on a read-only root with a tmpfs at
/tmp. The probes are the rendered ones (path, port), called as the kubelet calls them. What this
cannot show is in docs/deploy.md ("The pod simulation").
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bridge.tools.localbroker import CONSUMER_PROPERTIES, LocalBroker, free_port
from bridge.tools.sandbox import Sandbox
from tests.deploy.deploy_support import (
    bridge_container,
    deployment_config,
    pod_spec,
    render_minimal,
)
from tests.deploy.pod_support import (
    BuiltImage,
    Container,
    ImageSpec,
    image_spec,
    image_venv,
    probe_url,
    require_namespaces,
    running,
    tmpfs_size,
)
from tests.integration.test_delivery import accepted_ids, views
from tests.support.kafka import SANDBOX_SETTINGS, committed, produce, read_topic, unique

pytestmark = pytest.mark.integration

VENDOR = "quicklizard"
"""The pod simulated: a vendor with a credential file and both topics."""
PARTITIONS = 2
PROBE_EVERY_S = 0.25
"""The simulated kubelet probes this often (the rendered periods are 5-10 s; more samples only
make the liveness check stricter). Thresholds and timeouts are the rendered ones."""


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[ImageSpec, BuiltImage]:
    require_namespaces()
    spec = image_spec()
    log = tmp_path_factory.mktemp("image") / "build.log"
    built = image_venv(spec, log)
    if built.built:
        print(f"POD-SIMULATION image built ({', '.join(built.built)}) in {built.seconds:.1f} s")
    return spec, built


def values(broker: LocalBroker, sandbox: Sandbox, topics: dict[str, str]) -> dict[str, Any]:
    others = {name: {"enabled": False} for name in SANDBOX_SETTINGS if name != VENDOR}
    return {
        "kafka": {
            "bootstrapServers": broker.bootstrap,
            "groupPrefix": unique("podsim"),
            "consumerProperties": dict(CONSUMER_PROPERTIES),
            "topicPartitions": PARTITIONS,
        },
        "metrics": {"port": free_port()},
        "credentials": {
            "values": {"quicklizard-client-key": SANDBOX_SETTINGS[VENDOR]["client_key"]}
        },
        "config": {
            "topics": {
                "orders": {"name": topics["orders"]},
                "product_views": {"name": topics["views"]},
            },
            "dead_letter": {"topic": topics["dlq"]},
        },
        "vendors": {
            **others,
            VENDOR: {
                "baseUrl": sandbox.base_url(VENDOR),
                "options": {"retry": {"credentials_probe_s": 0.5}},
            },
        },
    }


class Kubelet:
    """Calls the rendered probes: startup until it passes, then liveness and readiness."""

    def __init__(self, container: dict[str, Any]) -> None:
        self.container = container
        self.session = aiohttp.ClientSession()
        self.liveness_failures: list[str] = []
        self.readiness: list[tuple[float, int]] = []
        self._task: asyncio.Task[None] | None = None

    async def call(self, probe: str) -> int:
        """The probe's HTTP status (0: no answer within its timeoutSeconds)."""
        timeout = aiohttp.ClientTimeout(total=self.container[probe]["timeoutSeconds"])
        try:
            async with self.session.get(
                probe_url(self.container, probe), timeout=timeout, allow_redirects=False
            ) as reply:
                return reply.status
        except (aiohttp.ClientError, TimeoutError):
            return 0

    async def started(self, process_alive: Any) -> float:
        """Seconds until the startup probe passed, within its rendered budget."""
        probe = self.container["startupProbe"]
        budget = probe["periodSeconds"] * probe["failureThreshold"]
        began = time.monotonic()
        while not 200 <= await self.call("startupProbe") < 400:
            assert process_alive(), "the container exited before its startup probe passed"
            assert time.monotonic() - began < budget, f"startup probe failing after {budget} s"
            await asyncio.sleep(PROBE_EVERY_S)
        self._task = asyncio.create_task(self._loop())
        return time.monotonic() - began

    async def _loop(self) -> None:
        while True:
            live = await self.call("livenessProbe")
            if not 200 <= live < 400:
                self.liveness_failures.append(f"{time.monotonic():.1f}: {live}")
            self.readiness.append((time.monotonic(), await self.call("readinessProbe")))
            await asyncio.sleep(PROBE_EVERY_S)

    async def ready_is(self, status: int, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not (self.readiness and self.readiness[-1][1] == status):
            assert time.monotonic() < deadline, f"timed out after {timeout_s}s waiting for {what}"
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.session.close()


async def wait_for(condition: Any, timeout_s: float, what: str) -> None:
    """Poll a blocking condition off the event loop (the sandbox serves on it)."""
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, f"timed out after {timeout_s}s waiting for {what}"
        await asyncio.sleep(0.2)


@pytest.fixture
def topics(broker: LocalBroker) -> dict[str, str]:
    names = {"orders": unique("orders"), "views": unique("views"), "dlq": unique("dlq")}
    broker.create_topics({names["orders"]: PARTITIONS, names["views"]: PARTITIONS, names["dlq"]: 1})
    return names


async def test_a_rendered_pod_runs_read_only_as_10001_probes_behave_and_sigterm_drains(
    broker: LocalBroker,
    image: tuple[ImageSpec, BuiltImage],
    topics: dict[str, str],
    tmp_path: Path,
) -> None:
    spec, built = image
    began = time.monotonic()
    async with Sandbox() as sandbox:
        rendered = render_minimal(values(broker, sandbox, topics))
        deployment = rendered.named("Deployment", f"rel-bridge-{VENDOR}")
        container_spec = bridge_container(deployment)
        grace = pod_spec(deployment)["terminationGracePeriodSeconds"]
        group = f"{deployment_config(rendered, deployment)['kafka']['group_prefix']}.{VENDOR}"
        pod = Container(deployment, rendered, spec, built, tmp_path)
        assert pod.uid == 10001
        assert pod.gid == 10001
        secret = SANDBOX_SETTINGS[VENDOR]["client_key"]

        config_path = pod.argv[pod.argv.index("--config") + 1]
        config_dir = Path(config_path).parent
        read_only = [f"{built.mount_at}/x", "/app/x", f"{config_dir}/x", "/x", "/root/x"]
        # The root as the container's user finds it: read-only (EROFS, not a mere EACCES)
        # everywhere but the tmpfs at /tmp, whose size is the emptyDir's sizeLimit.
        check = pod.run_once(
            [
                "python",
                "-c",
                "import os, pathlib\n"
                f"for p in {read_only!r}:\n"
                "    try:\n"
                "        open(p, 'w')\n"
                "    except OSError as e:\n"
                "        print('refused', p, e.errno)\n"
                "    else:\n"
                "        print('WROTE', p)\n"
                "pathlib.Path('/tmp/x').write_text('ok')\n"
                "st = os.statvfs('/tmp')\n"
                "print('tmp', pathlib.Path('/tmp/x').read_text(), st.f_blocks * st.f_frsize)\n"
                "print('uid', os.getuid(), os.getgid(), sorted(os.getgroups()))\n"
                "print('cwd', os.getcwd(), os.environ['HOME'])\n"
                f"print('config', len(pathlib.Path({config_path!r}).read_text()) > 0)\n",
            ]
        )
        assert check.returncode == 0, check.stderr
        lines = check.stdout.splitlines()
        refused = [line for line in lines if line.startswith(("refused", "WROTE"))]
        assert refused == [f"refused {path} {errno.EROFS}" for path in read_only]
        (tmp_volume,) = [
            m["name"] for m in container_spec["volumeMounts"] if m["mountPath"] == "/tmp"
        ]
        (empty_dir,) = [
            v["emptyDir"] for v in pod_spec(deployment)["volumes"] if v["name"] == tmp_volume
        ]
        tmp_bytes = int(tmpfs_size(empty_dir["sizeLimit"]))
        assert f"tmp ok {tmp_bytes}" in lines
        assert "uid 10001 10001 [10001]" in lines
        assert "cwd /app /nonexistent" in lines
        assert "config True" in lines

        with running(pod):
            kubelet = Kubelet(container_spec)
            try:
                startup = await kubelet.started(lambda: pod.exit_code() is None)
                # Answering probes, so the setup shell has exec'd into the bridge: PID 1 of its
                # namespace, the pod's uid and gid, on a read-only root.
                status = pod.status()
                assert status["Uid"].split()[:2] == ["10001", "10001"]
                assert status["NSpid"].split()[-1] == "1"
                # ENTRYPOINT `bridge` found on the image's PATH: the venv's script, its python
                assert pod.cmdline() == [
                    f"{built.mount_at}/bin/python{sys.version_info.major}.{sys.version_info.minor}",
                    f"{built.mount_at}/bin/{pod.argv[0]}",
                    *pod.argv[1:],
                ]
                assert "ro" in pod.root_mount_options()

                await kubelet.ready_is(200, 30, "/readyz 200 after joining the group")
                first = views(20, PARTITIONS, "a")
                await asyncio.to_thread(produce, broker, topics["views"], first)
                await wait_for(
                    lambda: len(set(accepted_ids(sandbox, VENDOR))) == 20, 30, "20 delivered"
                )

                # The vendor refuses the key: not ready, still live; nothing dead-lettered.
                async with kubelet.session.put(
                    f"{sandbox.url}/_control/{VENDOR}", json={"status_override": 401}
                ) as reply:
                    assert reply.status == 200
                second = views(10, PARTITIONS, "b")
                await asyncio.to_thread(produce, broker, topics["views"], second)
                await kubelet.ready_is(503, 20, "/readyz 503 while the key is refused")
                await asyncio.sleep(1.5)  # several credential probes and liveness calls
                assert sandbox.stats()[VENDOR]["by_status"].get("401", 0) >= 2
                assert kubelet.readiness[-1][1] == 503
                async with kubelet.session.put(
                    f"{sandbox.url}/_control/{VENDOR}", json={"status_override": None}
                ) as reply:
                    assert reply.status == 200
                await wait_for(
                    lambda: len(set(accepted_ids(sandbox, VENDOR))) == 30, 30, "30 delivered"
                )
                await kubelet.ready_is(200, 20, "/readyz 200 once the key works again")
                assert kubelet.liveness_failures == [], "liveness failed during the outage"

                # SIGTERM, as the kubelet's runtime sends it to PID 1.
                pod.terminate()
                stopped = time.monotonic()
                while pod.exit_code() is None:
                    assert time.monotonic() - stopped < grace, f"still running after {grace} s"
                    await asyncio.sleep(0.1)
                drained = time.monotonic() - stopped
            finally:
                await kubelet.close()
            assert pod.exit_code() == 0, pod.log()

    end = {p: 15 for p in range(PARTITIONS)}
    assert await asyncio.to_thread(committed, broker, group, topics["views"], PARTITIONS) == end
    assert await asyncio.to_thread(read_topic, broker, topics["dlq"], 1, 2) == []
    log = pod.log_path.read_text(errors="replace")
    assert secret not in log, "the credential reached the container's log"
    assert "Traceback" not in log, log[-3000:]
    assert "Read-only file system" not in log, log[-3000:]
    print(
        f"POD-SIMULATION started in {startup:.1f} s, drained in {drained:.1f} s "
        f"(grace {grace} s), scenario {time.monotonic() - began:.1f} s"
    )
