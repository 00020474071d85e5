"""A pod of the chart run as a container runtime would run it, without a container runtime.

What `tests/deploy/test_pod_simulation.py` needs, kept apart from the scenario:

- **The image's installation** (`image_venv`): a virtualenv at the image's path (`/opt/venv`)
  made as the Dockerfile's build stage makes it: `python -m venv`, `requirements.lock` with
  `--no-deps --only-binary=:all: --require-hashes`, the bridge wheel built with the pinned
  setuptools outside it (`pip wheel --no-deps --no-build-isolation` over the files the
  `.dockerignore` lets in), `pip` and `setuptools` uninstalled. Cached under
  `~/.cache/bridge/podsim` (`$BRIDGE_PODSIM_CACHE`): the locked dependencies per lock hash, the
  finished virtualenv per lock and source hash.
- **The image's runtime stage** (`image_spec`): ENTRYPOINT, CMD, ENV, WORKDIR and what it
  copies, read from the Dockerfile.
- **The pod's files** (`pod_mounts`): each volume the bridge container mounts, written from the
  rendered ConfigMap or Secret (keys, items, modes, owned by root and the pod's fsGroup), or a
  tmpfs for an emptyDir.
- **The container** (`Container`): `unshare` gives it a mount and a PID namespace; its root is a
  read-only overlay of the host's `/` with only the mount points added, the volumes bind-mounted
  read-only at their `mountPath`, a size-limited tmpfs at `/tmp`, a fresh `/proc`; it is
  `chroot`ed into and runs the Deployment's command as PID 1 with the pod's uid, gid and groups
  (`setpriv`: no new privileges, no capabilities, not even inheritable or bounding) and only
  the image's and the container's environment. The network is the host's (loopback: the broker
  and the sandbox), so the probes reach it on 127.0.0.1 at the container port.

Linux only, as root (mount namespaces and overlayfs).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.deploy_support import DOCKERFILE, REPO, Rendered, bridge_container, pod_spec

CACHE = Path(os.environ.get("BRIDGE_PODSIM_CACHE", Path.home() / ".cache" / "bridge" / "podsim"))
LOCK = REPO / "requirements.lock"
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""PATH of the python base image, which the runtime stage's `ENV PATH=...:$PATH` extends."""
KEEP_VENVS = 3
"""Finished virtualenvs kept in the cache (one per source state); older ones are removed."""


def require_namespaces() -> None:
    """Skip where the simulation cannot exist (not Linux, not root, no unshare/setpriv)."""
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("the pod simulation needs Linux and root (mount namespaces, overlayfs)")
    missing = [tool for tool in ("unshare", "setpriv", "chroot", "env") if not shutil.which(tool)]
    if missing:
        pytest.fail(f"util-linux/coreutils tools missing: {', '.join(missing)}", pytrace=False)


# --- the Dockerfile ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageSpec:
    """The runtime stage of the Dockerfile: what a container of the image starts with."""

    entrypoint: list[str]
    cmd: list[str]
    env: dict[str, str]
    workdir: str
    copies: dict[str, str]
    """Destination -> source of the stage's COPY lines (`--from=build` sources are that
    stage's paths, the others the build context's)."""
    build_setuptools: str
    """The setuptools pin the build stage builds the wheel with."""


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    lines = (line.strip() for line in joined.splitlines())
    out = []
    for line in lines:
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def image_spec(dockerfile: Path = DOCKERFILE) -> ImageSpec:
    stages: list[list[tuple[str, str]]] = []
    for word, rest in _instructions(dockerfile.read_text(encoding="utf-8")):
        if word == "FROM":
            stages.append([])
        elif stages:
            stages[-1].append((word, rest))
    build, runtime = stages[0], stages[-1]
    pins = [m for _, rest in build for m in re.findall(r"setuptools==([\w.]+)", rest)]
    assert pins, "the Dockerfile's build stage no longer pins setuptools"
    env: dict[str, str] = {"PATH": BASE_PATH}
    entrypoint: list[str] = []
    cmd: list[str] = []
    workdir = "/"
    copies: dict[str, str] = {}
    for word, rest in runtime:
        if word == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                env[name] = re.sub(r"\$(\w+)|\$\{(\w+)\}", lambda m: env[m[1] or m[2]], value)
        elif word == "ENTRYPOINT":
            entrypoint = json.loads(rest)
        elif word == "CMD":
            cmd = json.loads(rest)
        elif word == "WORKDIR":
            workdir = rest
        elif word == "COPY":
            *flags_and_source, destination = rest.split()
            sources = [s for s in flags_and_source if not s.startswith("--")]
            assert len(sources) == 1, f"COPY {rest}: one source expected"
            copies[destination] = sources[0]
    return ImageSpec(entrypoint, cmd, env, workdir, copies, pins[0])


# --- the image's installation -----------------------------------------------------------------


def base_python() -> Path:
    """The interpreter the image's `python` stands for: this one's base installation."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    python = Path(sys.base_prefix) / "bin" / version
    assert python.exists(), f"{python}: no base interpreter"
    return python


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:16]


def wheel_sources() -> list[Path]:
    """What the Dockerfile copies into the wheel build (the .dockerignore drops bytecode)."""
    files = [REPO / "pyproject.toml", REPO / "README.md"]
    files += sorted(
        p
        for p in (REPO / "bridge").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in {".pyc", ".pyo"}
    )
    return files


def _source_digest() -> str:
    return _digest(
        *(
            part
            for p in wheel_sources()
            for part in (str(p.relative_to(REPO)).encode(), p.read_bytes())
        )
    )


@dataclass
class BuiltImage:
    venv: Path
    """The finished virtualenv on the host, to be mounted at `mount_at`."""
    mount_at: str
    built: list[str] = field(default_factory=list)
    """What this call had to build (empty when everything came from the cache)."""
    seconds: float = 0.0


def _build_env() -> dict[str, str]:
    """The build stage's environment, plus the host's package-index settings (CI's mirror,
    proxy, CA), which are the machine's, not the image's."""
    env = {
        "PATH": BASE_PATH,
        "HOME": "/root",
        "PIP_NO_CACHE_DIR": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    passed = {"http_proxy", "https_proxy", "no_proxy", "ssl_cert_file"}
    for name, value in os.environ.items():
        if name.startswith("PIP_") or name.lower() in passed:
            env.setdefault(name, value)
    return env


def image_venv(spec: ImageSpec, log: Path) -> BuiltImage:
    """The image's /opt/venv, built as the Dockerfile builds it, from the cache when it can."""
    started = time.monotonic()
    python = base_python()
    destinations = [dest for dest, src in spec.copies.items() if src == dest]
    assert len(destinations) == 1, f"expected one virtualenv COPY --from=build, got {spec.copies}"
    mount_at = destinations[0]
    CACHE.mkdir(parents=True, exist_ok=True)
    deps_key = _digest(LOCK.read_bytes(), str(python).encode(), sys.version.encode())
    deps = CACHE / f"deps-{deps_key}"
    final = CACHE / f"venv-{deps_key}-{_source_digest()}"
    result = BuiltImage(venv=final, mount_at=mount_at)
    if final.exists():
        return result

    if not deps.exists():
        # RUN python -m venv /opt/venv && /opt/venv/bin/pip install ... -r requirements.lock
        staging = Path(tempfile.mkdtemp(prefix="deps-", dir=CACHE))
        lock_dir = Path(tempfile.mkdtemp(prefix="lock-"))
        shutil.copy(LOCK, lock_dir / "requirements.lock")
        try:
            run_in_root(
                [
                    "sh",
                    "-c",
                    f"{python} -m venv {mount_at} && {mount_at}/bin/pip install --no-deps"
                    " --only-binary=:all: --require-hashes -r /build/lock/requirements.lock",
                ],
                mounts=[
                    Mount(mount_at, source=staging, read_only=False),
                    Mount("/build/lock", source=lock_dir),
                ],
                env=_build_env(),
                log=log,
                python=python,
            )
            staging.chmod(0o755)  # mkdtemp made it 0700: the image's is world-readable
            staging.rename(deps)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(lock_dir, ignore_errors=True)
        result.built.append("locked dependencies")

    # The bridge itself, built with the pinned setuptools outside the runtime virtualenv.
    builder = CACHE / f"build-setuptools-{spec.build_setuptools}-{_digest(str(python).encode())}"
    if not builder.exists():
        try:  # a virtualenv records its own path: built where it stays
            _run([str(python), "-m", "venv", str(builder)], log)
            pip = [str(builder / "bin" / "python"), "-m", "pip", "install", "--no-deps"]
            _run([*pip, f"setuptools=={spec.build_setuptools}"], log)
        except BaseException:
            shutil.rmtree(builder, ignore_errors=True)
            raise
    with tempfile.TemporaryDirectory(prefix="wheel-") as scratch:
        source, wheels = Path(scratch) / "src", Path(scratch) / "wheels"
        for path in wheel_sources():
            target = source / path.relative_to(REPO)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        _run(
            [
                str(builder / "bin" / "python"),
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                "--wheel-dir",
                str(wheels),
                str(source),
            ],
            log,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        (wheel,) = wheels.glob("bridge-*.whl")
        staging = Path(tempfile.mkdtemp(prefix="venv-", dir=CACHE))
        try:
            shutil.rmtree(staging)
            shutil.copytree(deps, staging, symlinks=True)
            run_in_root(
                [
                    "sh",
                    "-c",
                    f"{mount_at}/bin/pip install --no-deps /build/wheels/{wheel.name}"
                    f" && {mount_at}/bin/pip uninstall --yes pip setuptools",
                ],
                mounts=[
                    Mount(mount_at, source=staging, read_only=False),
                    Mount("/build/wheels", source=wheels),
                ],
                env=_build_env(),
                log=log,
                python=python,
            )
            staging.chmod(0o755)
            staging.rename(final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    result.built.append("bridge wheel")
    _prune(deps_key, keep=final)
    result.seconds = time.monotonic() - started
    return result


def _prune(deps_key: str, keep: Path) -> None:
    """Drop finished virtualenvs beyond the newest KEEP_VENVS, and stale dependency layers."""
    venvs = sorted(CACHE.glob("venv-*"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in venvs[KEEP_VENVS:]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)
    for old in CACHE.glob("deps-*"):
        if old.name != f"deps-{deps_key}":
            shutil.rmtree(old, ignore_errors=True)


def _run(argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> None:
    with open(log, "ab") as out:
        out.write(f"$ {shlex.join(argv)}\n".encode())
        out.flush()
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise AssertionError(f"{shlex.join(argv)} exited {done.returncode}:\n{tail}")


# --- mounts and the root ------------------------------------------------------------------------


@dataclass(frozen=True)
class Mount:
    """One mount of the container: a host directory bind-mounted, or a tmpfs (`source` None)."""

    target: str
    source: Path | None = None
    read_only: bool = True
    size: str | None = None
    """A tmpfs's size (`64m`)."""


_QUANTITY = re.compile(r"^(\d+)(Ki|Mi|Gi|k|M|G)?$")


def tmpfs_size(quantity: str) -> str:
    """A Kubernetes quantity (64Mi) as a tmpfs size in bytes."""
    match = _QUANTITY.match(str(quantity))
    assert match, f"sizeLimit {quantity!r}: not understood by the simulation"
    factor = {None: 1, "k": 1000, "M": 1000**2, "G": 1000**3, "Ki": 1024, "Mi": 1024**2}
    factor["Gi"] = 1024**3
    return str(int(match[1]) * factor[match[2]])


def _root_script(
    work: Path, mounts: Sequence[Mount], python: Path, exec_argv: Sequence[str]
) -> str:
    """The shell that builds the container's root in its mount namespace, then execs."""
    q = shlex.quote
    lines = [
        "set -eu",
        f'W={q(str(work))}; S="$W/stub"; R="$W/root"; mkdir "$S" "$R"',
        # The mount points the image would have: a layer of empty directories over the host's
        # root, on a tmpfs (overlayfs refuses a layer inside another).
        'mount -t tmpfs -o mode=755 podsim-stub "$S"',
    ]
    targets = [m.target for m in mounts] + ["/proc", "/dev", "/sys", "/tmp"]
    lines += [f'mkdir -p "$S"{q(t)}' for t in targets]
    if str(python).startswith("/root/"):
        # The base interpreter lives under root's home (0700): let the pod's user traverse it,
        # as the image's /usr/local would let it. Nothing in /root becomes listable or writable.
        lines.append('mkdir -m 711 "$S/root"')
    lines += [
        'mount -t overlay podsim-root -o ro,lowerdir="$S":/ "$R"',
        'mount -t proc proc "$R/proc"',
        'mount --rbind /dev "$R/dev"',
        'mount --rbind /sys "$R/sys"',
        'mount -o remount,bind,ro "$R/sys"',
    ]
    if not any(m.target == "/tmp" for m in mounts):
        lines.append('mount -t tmpfs -o mode=1777,size=64m podsim-tmp "$R/tmp"')
    for m in mounts:
        target = f'"$R"{q(m.target)}'
        if m.source is None:
            size = f",size={m.size}" if m.size else ""
            lines.append(f"mount -t tmpfs -o mode=1777{size} podsim-tmpfs {target}")
        else:
            lines.append(f"mount --bind {q(str(m.source))} {target}")
            if m.read_only:
                lines.append(f"mount -o remount,bind,ro {target}")
    lines.append(f'exec chroot "$R" {shlex.join(exec_argv)}')
    return "\n".join(lines)


def _unshare(script: str) -> list[str]:
    # A private mount namespace and a PID namespace whose PID 1 is, after the execs, the
    # container's command, as in a container.
    return ["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child",
            "sh", "-c", script]  # fmt: skip


def run_in_root(
    argv: Sequence[str],
    *,
    mounts: Sequence[Mount],
    env: Mapping[str, str],
    log: Path,
    python: Path,
) -> None:
    """Run a build step as root in the same read-only root (writable only where mounted so)."""
    exec_argv = ["env", "-i", *(f"{k}={v}" for k, v in env.items()), *argv]
    with tempfile.TemporaryDirectory(prefix="podsim-build-") as work:
        _run(_unshare(_root_script(Path(work), mounts, python, exec_argv)), log)


# --- the pod ----------------------------------------------------------------------------------


def pod_mounts(rendered: Rendered, deployment: Mapping[str, Any], dest: Path) -> list[Mount]:
    """Each volume the bridge container mounts, as the kubelet would give it: ConfigMap and
    Secret keys (or their `items`) written as files with the volume's mode, owned by root and
    the pod's fsGroup; an emptyDir as a tmpfs of its sizeLimit."""
    spec = pod_spec(deployment)
    fs_group = spec.get("securityContext", {}).get("fsGroup")
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts: list[Mount] = []
    for volume_mount in bridge_container(deployment)["volumeMounts"]:
        volume = volumes[volume_mount["name"]]
        read_only = bool(volume_mount.get("readOnly", False))
        target = volume_mount["mountPath"]
        assert "subPath" not in volume_mount, "subPath mounts are not simulated"
        if "emptyDir" in volume:
            limit = (volume["emptyDir"] or {}).get("sizeLimit")
            mounts.append(Mount(target, size=tmpfs_size(limit) if limit else None))
            continue
        if "configMap" in volume:
            source = volume["configMap"]
            obj = rendered.named("ConfigMap", source["name"])
            data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
            mode = source.get("defaultMode", 0o644)
        elif "secret" in volume:
            source = volume["secret"]
            obj = rendered.named("Secret", source["secretName"])
            data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
            data |= {k: v.encode() for k, v in (obj.get("stringData") or {}).items()}
            mode = source.get("defaultMode", 0o644)
        else:
            raise AssertionError(f"volume {volume['name']}: a kind the simulation does not mount")
        items = source.get("items") or [{"key": key, "path": key} for key in data]
        directory = dest / volume["name"]
        directory.mkdir(parents=True)
        for item in items:
            path = directory / item["path"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data[item["key"]])
            os.chown(path, 0, fs_group if fs_group is not None else 0)
            path.chmod(item.get("mode", mode))
        directory.chmod(0o755)  # the kubelet's volume directory (files keep their modes)
        mounts.append(Mount(target, source=directory, read_only=read_only))
    return mounts


def container_argv(container: Mapping[str, Any], image: ImageSpec) -> list[str]:
    """Kubernetes' rule: `command` replaces ENTRYPOINT, `args` replaces CMD."""
    if container.get("command"):
        return [*container["command"], *(container.get("args") or [])]
    args = container.get("args", image.cmd)
    return [*image.entrypoint, *args]


def container_env(container: Mapping[str, Any], image: ImageSpec, hostname: str) -> dict[str, str]:
    """The image's ENV, then the container's `env` (literal values only), as the runtime sets
    them; HOME from the image's user (/nonexistent), HOSTNAME the pod's name."""
    env = {"HOSTNAME": hostname, "HOME": "/nonexistent", **image.env}
    for item in container.get("env") or []:
        assert "value" in item, f"env {item['name']}: valueFrom is not simulated"
        env[item["name"]] = str(item["value"])
    assert not container.get("envFrom"), "envFrom is not simulated"
    return env


class Container:
    """The bridge container of one rendered Deployment, running in its simulated root."""

    def __init__(
        self,
        deployment: Mapping[str, Any],
        rendered: Rendered,
        image: ImageSpec,
        built: BuiltImage,
        workdir: Path,
    ) -> None:
        self.deployment = deployment
        self.spec = pod_spec(deployment)
        self.container = bridge_container(deployment)
        context = {**self.spec.get("securityContext", {}), **self.container["securityContext"]}
        self.uid: int = context["runAsUser"]
        self.gid: int = context.get("runAsGroup", self.uid)
        self.groups = [g for g in [self.spec["securityContext"].get("fsGroup")] if g is not None]
        self.groups += self.spec["securityContext"].get("supplementalGroups", [])
        assert context["readOnlyRootFilesystem"] is True
        assert context.get("allowPrivilegeEscalation") is False
        self.mounts = pod_mounts(rendered, deployment, workdir / "volumes")
        self.mounts.append(Mount(built.mount_at, source=built.venv))
        for destination, source in image.copies.items():
            if destination != built.mount_at:  # COPY schemas /app/schemas (the build context)
                self.mounts.append(Mount(destination, source=REPO / source))
        self.argv = container_argv(self.container, image)
        self.env = container_env(self.container, image, deployment["metadata"]["name"])
        self.workingdir = self.container.get("workingDir", image.workdir)
        self.workdir = workdir
        self.log_path = workdir / "container.log"
        self.process: subprocess.Popen[bytes] | None = None

    def exec_argv(self, argv: Sequence[str]) -> list[str]:
        groups = ",".join(str(g) for g in self.groups)
        return [
            "setpriv",
            f"--reuid={self.uid}",
            f"--regid={self.gid}",
            f"--groups={groups}" if groups else "--clear-groups",
            "--no-new-privs",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "env",
            "-i",
            "-C",
            self.workingdir,
            *(f"{k}={v}" for k, v in self.env.items()),
            *argv,
        ]

    def run_once(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        """Another command in a container just like this one (same root, user, env)."""
        with tempfile.TemporaryDirectory(prefix="podsim-once-") as work:
            script = _root_script(Path(work), self.mounts, base_python(), self.exec_argv(argv))
            return subprocess.run(
                _unshare(script), capture_output=True, text=True, timeout=60, check=False
            )

    def start(self) -> None:
        root = self.workdir / "rootfs"
        root.mkdir()
        script = _root_script(root, self.mounts, base_python(), self.exec_argv(self.argv))
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(_unshare(script), stdout=log, stderr=subprocess.STDOUT)

    def exit_code(self) -> int | None:
        """None while running; the container's exit status (unshare passes PID 1's on)."""
        assert self.process is not None, "not started"
        return self.process.poll()

    @property
    def pid1(self) -> int:
        """The host's pid of the container's PID 1 (unshare's only child)."""
        assert self.process is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
            with contextlib.suppress(FileNotFoundError):
                found = children.read_text().split()
                if found:
                    return int(found[0])
            assert self.process.poll() is None, f"the container exited: {self.log()}"
            time.sleep(0.05)
        raise AssertionError("the container's PID 1 did not appear")

    def status(self) -> dict[str, str]:
        lines = Path(f"/proc/{self.pid1}/status").read_text().splitlines()
        return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}

    def cmdline(self) -> list[str]:
        return Path(f"/proc/{self.pid1}/cmdline").read_text().rstrip("\0").split("\0")

    def root_mount_options(self) -> list[str]:
        """The options of `/` as the container's process sees it (its mount namespace)."""
        for line in Path(f"/proc/{self.pid1}/mountinfo").read_text().splitlines():
            fields = line.split()
            if fields[4] == "/":
                return fields[5].split(",")
        raise AssertionError("no root in the container's mountinfo")

    def terminate(self) -> None:
        """SIGTERM to the container's PID 1, as the kubelet's runtime sends it."""
        os.kill(self.pid1, signal.SIGTERM)

    def kill(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(AssertionError, ProcessLookupError):
            os.kill(self.pid1, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@contextlib.contextmanager
def running(container: Container) -> Iterator[Container]:
    container.start()
    try:
        yield container
    finally:
        container.kill()


def probe_url(container: Mapping[str, Any], probe: str, host: str = "127.0.0.1") -> str:
    """The URL the kubelet's HTTP probe calls: its path on the (named) container port."""
    get = container[probe]["httpGet"]
    port = get["port"]
    if isinstance(port, str):
        (port,) = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    return f"{get.get('scheme', 'HTTP').lower()}://{host}:{port}{get['path']}"
