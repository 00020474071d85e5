#!/usr/bin/env bash
# One-shot topic creation for the compose stack (run by the `topics` service, apache/kafka image).
# Idempotent: --if-not-exists, so `docker compose up` may run it again.
set -euo pipefail

bootstrap="${BOOTSTRAP_SERVER:-kafka:19092}"
partitions="${PARTITIONS:-6}"
topics=/opt/kafka/bin/kafka-topics.sh

create() {
  "$topics" --bootstrap-server "$bootstrap" --create --if-not-exists \
    --topic "$1" --partitions "$2" --replication-factor 1
}

# The events the bridge reads (keyed, so one customer's events stay in order).
create orders "$partitions"
create product-views "$partitions"
# Where records no vendor can take end up (dead_letter.mode: shared).
create bridge.dead-letter 1
# Per-record delivery outcomes (outcomes.enabled: true in deploy/compose/bridge.yaml).
create bridge.outcomes "$partitions"

"$topics" --bootstrap-server "$bootstrap" --list
