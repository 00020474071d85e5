"""Generate helm/bridge/README.md from values.yaml's `# --` comments (helm-docs' convention).

`python -m tests.deploy.chart_readme` rewrites the README; test_chart_readme checks it is
current. A key's description is the `# --` comment block right above it (continuation lines
are the `#` lines that follow); its default is the value as values.yaml parses it.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[2] / "helm" / "bridge"
README = CHART / "README.md"
KEY = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z0-9_.\-]+):")


def documented_keys(text: str) -> list[tuple[str, str]]:
    """(dotted key, description) for every key with a `# --` comment, in file order."""
    found: list[tuple[str, str]] = []
    path: list[tuple[int, str]] = []
    comment: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            comment = [stripped[4:].strip()]
            continue
        if stripped.startswith("#"):
            if comment is not None:
                comment.append(stripped[1:].strip())
            continue
        match = KEY.match(line)
        if not match or stripped.startswith("-"):
            comment = None
            continue
        indent = len(match.group("indent"))
        path = [(i, k) for i, k in path if i < indent] + [(indent, match.group("key"))]
        if comment is not None:
            found.append((".".join(k for _, k in path), " ".join(comment)))
        comment = None
    return found


def lookup(values: Any, dotted: str) -> Any:
    node = values
    for part in dotted.split("."):
        node = node[part]
    return node


def generate() -> str:
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    text = (CHART / "values.yaml").read_text()
    values = yaml.safe_load(text)
    lines = [
        f"# {meta['name']}",
        "",
        f"Version {meta['version']}, app version {meta['appVersion']}. {meta['description']}",
        "",
        "Generated from `values.yaml` by `python -m tests.deploy.chart_readme`; do not edit.",
        "Installing, upgrading, scaling and replaying: [docs/deploy.md](../../docs/deploy.md).",
        "Managed Kafka examples: [examples/](examples/).",
        "",
        "## Values",
        "",
        "| key | default | description |",
        "| --- | --- | --- |",
    ]
    for key, description in documented_keys(text):
        default = json.dumps(lookup(values, key), sort_keys=False)
        default = default.replace("|", "\\|")
        lines.append(f"| `{key}` | `{default}` | {description.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    README.write_text(generate())
    sys.stdout.write(f"wrote {README}\n")
