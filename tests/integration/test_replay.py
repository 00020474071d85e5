"""`bridge replay` on a real Apache Kafka and the vendor sandbox.

The letters come from the bridge itself: it runs while the sandbox refuses every request (HTTP
400, so each record is dead-lettered as ``rejected`` after one attempt), then it stops, and
the replay runs against what it left in the dead-letter topic.
"""

from __future__ import annotations

import asyncio
import io
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from confluent_kafka import Message

from bridge.commands.replay import Options, Selection, replay, replay_group
from bridge.config import Config, validate_config
from bridge.tools.localbroker import LocalBroker
from bridge.tools.sandbox import Sandbox
from tests.integration.test_delivery import accepted_ids, views
from tests.support.apache_kafka import ApacheKafka
from tests.support.kafka import (
    SANDBOX_SETTINGS,
    SECRET_FIELDS,
    committed,
    config_dict,
    produce,
    read_topic,
    running_bridge,
    unique,
    vendor_block,
    wait_for,
)

pytestmark = pytest.mark.integration

COUNT = 12
FAST = {
    "batch": {"max_events": 1, "linger_ms": 0},
    "retry": {"initial_backoff_s": 0.05, "max_backoff_s": 0.5},
}


def headers(message: Message) -> dict[str, str]:
    found = cast(list[tuple[str, bytes | None]], message.headers() or [])
    return {name: (value or b"").decode() for name, value in found}


def letters_of(messages: list[Message]) -> list[Message]:
    """Dead letters only (replay markers carry ``bridge.replayed`` and no value)."""
    return [m for m in messages if "bridge.replayed" not in headers(m)]


async def refused_letters(
    kafka: ApacheKafka,
    sandbox: Sandbox,
    tmp_path: Path,
    vendors: list[str],
    dead_letter: dict[str, Any],
) -> tuple[Config, dict[str, Any], str]:
    """Run the bridge while the sandbox refuses everything; return the config, its raw tree
    and the input topic once every record of every vendor is dead-lettered."""
    topic = unique("views")
    broker = cast(LocalBroker, kafka)
    dlq_topics = {
        dead_letter["topic"]
        if dead_letter.get("mode", "shared") == "shared"
        else f"{dead_letter['topic']}.{name}"
        for name in vendors
    }
    kafka.create_topics({topic: 1, **dict.fromkeys(dlq_topics, 1)})
    produce(broker, topic, views(COUNT, 1, ""))
    for name in vendors:
        sandbox.set_faults(name, status_override=400)
    blocks = {
        name: vendor_block(name, sandbox.base_url(name), tmp_path, **FAST) for name in vendors
    }
    raw = config_dict(broker, blocks, views=topic, dead_letter=dead_letter)
    config = validate_config(raw)
    async with running_bridge(config):
        for dlq in dlq_topics:
            expected = COUNT * sum(1 for n in vendors if config.dead_letter.topic_for(n) == dlq)

            def arrived(dlq: str = dlq, expected: int = expected) -> bool:
                return len(read_topic(broker, dlq, expected, 2)) >= expected

            await wait_for(arrived, 60, f"{expected} dead letters in {dlq}", interval_s=0.5)
    for name in vendors:
        sandbox.set_faults(name, status_override=None)
    return config, raw, topic


def run(config: Config, vendor: str, **options: Any) -> tuple[int, str]:
    out = io.StringIO()
    code = replay(
        config,
        Options(Selection(vendor=vendor, **options.pop("selection", {})), **options),
        out=out,
        err=io.StringIO(),
    )
    return code, out.getvalue()


async def test_replay_after_the_fix_delivers_each_letter_once_to_its_own_vendor(
    kafka: ApacheKafka, tmp_path: Path
) -> None:
    async with Sandbox() as sandbox:
        config, _, _ = await refused_letters(
            kafka, sandbox, tmp_path, ["quicklizard", "esputnik"], {"topic": unique("dlq")}
        )
        # Both vendors' letters share the topic; only QuickLizard's go, and only to it.
        sandbox.set_faults("esputnik", status_override=503)
        before_esputnik = sandbox.stats()["esputnik"]["requests"]
        code, out = await asyncio.to_thread(run, config, "quicklizard")
        assert code == 0, out
        assert f"replayed: {COUNT}" in out
        assert f"other vendor: {COUNT}" in out
        ids = accepted_ids(sandbox, "quicklizard")
        assert sorted(ids) == sorted(f"p0-{i}" for i in range(COUNT))
        assert sandbox.stats()["esputnik"]["requests"] == before_esputnik

        # Run again: nothing is sent twice, the group resumes at the end.
        code, out = await asyncio.to_thread(run, config, "quicklizard")
        assert code == 0, out
        assert "replayed: 0" in out
        # Even from the beginning the markers keep replayed letters from going again.
        code, out = await asyncio.to_thread(run, config, "quicklizard", from_beginning=True)
        assert code == 0, out
        assert "replayed: 0" in out
        assert f"already replayed: {COUNT}" in out
    assert Counter(accepted_ids(sandbox, "quicklizard")) == Counter(f"p0-{i}" for i in range(COUNT))


async def test_a_letter_refused_again_is_dead_lettered_with_attempt_2_and_never_loops(
    kafka: ApacheKafka, tmp_path: Path
) -> None:
    prefix = unique("dlq")
    async with Sandbox() as sandbox:
        config, _, topic = await refused_letters(
            kafka, sandbox, tmp_path, ["quicklizard"], {"topic": prefix, "mode": "per_vendor"}
        )
        dlq = f"{prefix}.quicklizard"
        originals = read_topic(cast(LocalBroker, kafka), dlq, COUNT)
        assert {headers(m)["bridge.attempts"] for m in originals} == {"1"}
        sandbox.set_faults("quicklizard", status_override=422)  # still refused, a new reason
        code, out = await asyncio.to_thread(run, config, "quicklizard")
        assert code == 1, out
        assert f"refused again: {COUNT}" in out  # each once: its new letter waits for a next run
        everything = read_topic(cast(LocalBroker, kafka), dlq, 2 * COUNT + 1, timeout_s=5)
    assert len(everything) == 2 * COUNT  # no markers: nothing was replayed
    again = everything[COUNT:]
    by_origin = {f"0:{m.offset()}": m for m in originals}
    for letter in again:
        h = headers(letter)
        original = by_origin[h["bridge.replay.of"]]
        assert h["bridge.attempts"] == "2"
        assert h["bridge.error.class"] == "rejected"
        assert h["bridge.http.status"] == "422"
        assert h["bridge.source.topic"] == topic
        assert h["bridge.source.offset"] == headers(original)["bridge.source.offset"]
        assert h["bridge.attempt.first"] == headers(original)["bridge.attempt.first"]
        assert letter.value() == original.value()
        assert letter.key() == original.key()
        names = [name for name, _ in cast(list[tuple[str, bytes]], letter.headers() or [])]
        assert names.count("bridge.vendor") == 1


async def test_dry_run_sends_nothing_and_shows_counts_and_a_masked_request(
    kafka: ApacheKafka, tmp_path: Path
) -> None:
    async with Sandbox() as sandbox:
        config, _, _ = await refused_letters(
            kafka, sandbox, tmp_path, ["quicklizard"], {"topic": unique("dlq")}
        )
        requests = sandbox.stats()["quicklizard"]["requests"]
        code, out = await asyncio.to_thread(run, config, "quicklizard", dry_run=True)
        assert sandbox.stats()["quicklizard"]["requests"] == requests
    assert code == 0
    assert f"{COUNT} letters match" in out
    assert "quicklizard  rejected  400" in out
    assert "POST http://127.0.0.1" in out
    secrets = [
        value for field, value in SANDBOX_SETTINGS["quicklizard"].items() if field in SECRET_FIELDS
    ]
    assert secrets
    assert all(secret not in out for secret in secrets)
    group = replay_group(config, "quicklizard")
    assert committed(cast(LocalBroker, kafka), group, config.dead_letter.topic, 1)[0] < 0


async def test_an_interrupted_replay_resumes_and_sends_each_letter_once(
    kafka: ApacheKafka, tmp_path: Path
) -> None:
    async with Sandbox() as sandbox:
        _, raw, _ = await refused_letters(
            kafka, sandbox, tmp_path, ["quicklizard"], {"topic": unique("dlq")}
        )
        path = tmp_path / "bridge.yaml"
        path.write_text(yaml.safe_dump(raw))
        sandbox.set_faults("quicklizard", latency_ms=150)
        script = (
            "import sys; from bridge.config import load_config; "
            "from bridge.commands.replay import Options, Selection, replay; "
            f"sys.exit(replay(load_config({str(path)!r}), Options(Selection('quicklizard'))))"
        )
        first = subprocess.Popen(  # noqa: ASYNC220 - it runs while the test watches the sandbox
            [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            await wait_for(
                lambda: len(accepted_ids(sandbox, "quicklizard")) >= 3, 60, "some replayed"
            )
            first.send_signal(signal.SIGINT)
            out, err = await asyncio.to_thread(first.communicate, timeout=30)
        finally:
            if first.poll() is None:
                first.kill()
        assert first.returncode == 130, (out, err)
        assert b"interrupted" in out
        sent_before = len(accepted_ids(sandbox, "quicklizard"))
        assert sent_before < COUNT, "the interruption must land mid-way"
        second = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-c", script], capture_output=True, timeout=120
        )
        assert second.returncode == 0, second
        assert f"replayed: {COUNT - sent_before}".encode() in second.stdout
    assert Counter(accepted_ids(sandbox, "quicklizard")) == Counter(f"p0-{i}" for i in range(COUNT))
