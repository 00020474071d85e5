"""A real Prometheus for the tests, and what the repository gives it: rules and dashboard queries.

`running_prometheus(target, tmp_path)` starts ``prometheus`` on 127.0.0.1 (a free port) with a
generated configuration: one static scrape target every second, the repository's rules file
evaluated every second, storage in `tmp_path`. It waits for ``/-/ready`` and stops the process
(terminate, then kill) on the way out. The binaries come from PATH or /usr/bin; when missing
and running as root they are installed with ``install_prometheus.sh`` (the Debian package).

The same module reads the artifacts under test, so every test sees them the same way:
`alert_rules()`, `dashboard_queries()` (with Grafana's variables expanded for plain PromQL)
and `metric_names()` (every series name `bridge.metrics.Metrics` can expose).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from bridge.metrics import Metrics
from bridge.tools.localbroker import stop_process

REPO = Path(__file__).resolve().parents[2]
RULES_FILE = REPO / "helm/bridge/files/bridge-rules.yml"
DASHBOARD_FILE = REPO / "helm/bridge/files/bridge-dashboard.json"
RULES_TEST_FILE = REPO / "tests/fixtures/prometheus/rules-test.yml"
INSTALL_SCRIPT = Path(__file__).resolve().parent / "install_prometheus.sh"

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0

# How Grafana's built-in variables are read when a panel query is sent to Prometheus directly.
# `$vendor` is the dashboard's own variable; its "All" value is `.*`.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
    "$vendor": ".*",
}

T = TypeVar("T")


class PrometheusError(RuntimeError):
    """Prometheus refused a request (bad PromQL, not ready) or could not be started."""


def find_binary(name: str) -> Path | None:
    found = shutil.which(name) or (
        f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None
    )
    return Path(found) if found else None


def ensure_installed() -> tuple[Path, Path]:
    """Paths of ``prometheus`` and ``promtool``, installing the Debian package when we may."""
    binaries = find_binary("prometheus"), find_binary("promtool")
    if None in binaries and os.geteuid() == 0:
        subprocess.run(["bash", str(INSTALL_SCRIPT)], check=True, timeout=600)
        binaries = find_binary("prometheus"), find_binary("promtool")
    prometheus, promtool = binaries
    if prometheus is None or promtool is None:
        raise PrometheusError(
            f"prometheus and promtool are needed: run `sudo bash {INSTALL_SCRIPT}` "
            "(Debian package 'prometheus')"
        )
    return prometheus, promtool


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run promtool (not checked: the caller asserts on the exit code and shows the output)."""
    _, binary = ensure_installed()
    return subprocess.run(
        [str(binary), *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def wait_for(
    probe: Callable[[], T | None], timeout_s: float, what: str, interval_s: float = 0.2
) -> T:
    """Poll `probe` until it returns something other than None (or falsy); raise on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(interval_s)


@dataclass(frozen=True)
class Prometheus:
    """The HTTP API of a running Prometheus."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; the ``data`` of a success, PrometheusError with the reason else."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as reply:
                body = json.load(reply)
        except urllib.error.HTTPError as exc:  # 400/422 carry the error as JSON too
            body = json.load(exc)
        if body.get("status") != "success":
            raise PrometheusError(f"{body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[Any]:
        """Evaluate `expr` now; the result (series of a vector, or [time, value] of a scalar)."""
        result: list[Any] = self.api("query", query=expr)["result"]
        return result

    def rules(self) -> dict[str, Any]:
        rules: dict[str, Any] = self.api("rules")
        return rules

    def alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return alerts

    def targets(self) -> dict[str, Any]:
        targets: dict[str, Any] = self.api("targets")
        return targets

    def is_ready(self) -> bool:
        if self.process.poll() is not None:
            raise PrometheusError(f"prometheus exited:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def samples_scraped(self, metric: str) -> int:
        """How many scrapes of `metric` Prometheus holds from the last minute (rates need 2)."""
        result = self.query(f"max(count_over_time({metric}[1m]))")
        return int(float(result[0]["value"][1])) if result else 0

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    # Bound then released: the port may in principle be taken before Prometheus binds it,
    # which then fails loudly at start rather than silently.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _scrape_config(target: str) -> dict[str, Any]:
    """A static job for `target`: ``host:port`` or a URL such as http://127.0.0.1:9400/metrics."""
    parsed = urllib.parse.urlsplit(target if "//" in target else f"//{target}")
    return {
        "job_name": "bridge",
        "scheme": parsed.scheme or "http",
        "metrics_path": parsed.path or "/metrics",
        "static_configs": [{"targets": [parsed.netloc]}],
    }


@contextlib.contextmanager
def running_prometheus(
    target: str, tmp_path: Path, rules_file: Path = RULES_FILE
) -> Iterator[Prometheus]:
    """Prometheus scraping `target` every second and evaluating `rules_file`, until exit."""
    binary, _ = ensure_installed()
    workdir = tmp_path / "prometheus"
    workdir.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules_file)],
        "scrape_configs": [_scrape_config(target)],
    }
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    port = _free_port()
    log_path = workdir / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(binary),
                f"--config.file={config_path}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    prometheus = Prometheus(f"http://127.0.0.1:{port}", process, log_path)
    try:
        wait_for(prometheus.is_ready, START_TIMEOUT_S, "prometheus /-/ready")
        yield prometheus
    finally:
        stop_process(process, STOP_TIMEOUT_S)


def expand_grafana_variables(expr: str) -> str:
    """A panel query as plain PromQL: Grafana's variables replaced by fixed values."""
    # Longest names first: `$__rate_interval` must not be read as `$__r...` of a shorter one.
    for name in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, GRAFANA_VARIABLES[name])
    return expr


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD_FILE.read_text())
    return loaded


def dashboard_panels(model: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every panel that is not a row, including those nested in collapsed rows."""
    panels = []
    for panel in (model or dashboard())["panels"]:
        if panel["type"] == "row":
            panels.extend(panel.get("panels", []))
        else:
            panels.append(panel)
    return panels


def dashboard_queries(model: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """(panel title / refId, PromQL as the dashboard has it) for every panel target."""
    return [
        (f"{panel['title']} / {target['refId']}", target["expr"])
        for panel in dashboard_panels(model)
        for target in panel.get("targets", [])
    ]


def alert_rules() -> list[dict[str, Any]]:
    """Every rule of the rules file (alerting and recording), as written."""
    groups = yaml.safe_load(RULES_FILE.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}


def metric_labels() -> dict[str, tuple[str, ...]]:
    """Every series name `Metrics` can expose (suffixes included: _total, _bucket, _info, ...),
    with the label names its definition declares."""
    names = {}
    for metric in vars(Metrics(CollectorRegistry())).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        # The declared label names are only readable from this attribute: a metric without
        # children exposes no samples, hence no labels, through the public collect().
        labels = tuple(metric._labelnames)
        for family in metric.describe():
            names.update({family.name + suffix: labels for suffix in _SUFFIXES[family.type]})
    return names


def metric_names() -> set[str]:
    return set(metric_labels())


_METRIC = re.compile(r"\bbridge_[a-zA-Z0-9_:]*")


def metrics_used(expr: str) -> set[str]:
    """Names of the bridge's metrics an expression reads (every one starts with ``bridge_``)."""
    return set(_METRIC.findall(expr))
