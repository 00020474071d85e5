#!/usr/bin/env bash
# Assembles Apache Kafka's broker from Maven Central jars (no tarball) into a cache folder that
# repeated runs and CI reuse: ${BRIDGE_KAFKA_CACHE:-$HOME/.cache/bridge/kafka-<version>}/libs.
# Installs a JRE (17+) and Maven with apt-get where they are missing. A no-op when the cache is
# complete (its .complete marker exists), so `make` can call it on every run.
#
# Prints the cache folder on its last line; tests/support/apache_kafka.py reads the same default.
set -euo pipefail

KAFKA_VERSION="${BRIDGE_KAFKA_VERSION:-4.2.0}"
# Kafka's own jars declare slf4j-api 1.7 and log4j-core 2 at runtime but no binding between them.
LOG4J_VERSION=2.24.3
cache="${BRIDGE_KAFKA_CACHE:-$HOME/.cache/bridge/kafka-$KAFKA_VERSION}"
marker="$cache/.complete"

if [ -e "$marker" ]; then
    echo "$cache"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null; then
    as_root=(sudo)
else
    as_root=(false)
fi

java_major() {
    # `java -version` prints e.g. 'openjdk version "17.0.15"' (or "1.8.0_x" for Java 8).
    java -version 2>&1 | sed -n 's/.*version "\([0-9]*\)\(\.\([0-9]*\)\)\{0,1\}.*/\1 \3/p' | head -1 |
        awk '{ print ($1 == 1 ? $2 : $1) }'
}

packages=()
if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then
    packages+=(openjdk-17-jre-headless)
fi
if ! command -v mvn >/dev/null; then
    packages+=(maven)
fi
if [ "${#packages[@]}" -gt 0 ]; then
    if [ "${as_root[0]:-}" = false ]; then
        echo "install_kafka.sh: ${packages[*]} missing and we are not root; install them" >&2
        exit 1
    fi
    "${as_root[@]}" apt-get update -q
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${packages[@]}"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>bridge.tests</groupId>
  <artifactId>apache-kafka-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <!-- kafka.Kafka and kafka.tools.StorageTool, with the server modules they pull in -->
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
POM

echo "install_kafka.sh: fetching Apache Kafka $KAFKA_VERSION jars into $cache/libs" >&2
rm -rf "$cache/libs"
mkdir -p "$cache"
mvn -q -B -Dstyle.color=never -f "$work/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$cache/libs"
for main in kafka/Kafka.class kafka/tools/StorageTool.class; do
    # Entry names are stored uncompressed in a jar's headers.
    if ! grep -q -a -F "$main" "$cache/libs/kafka_2.13-$KAFKA_VERSION.jar"; then
        echo "install_kafka.sh: $main is not in kafka_2.13-$KAFKA_VERSION.jar" >&2
        exit 1
    fi
done
echo "$KAFKA_VERSION" >"$marker"
echo "$cache"
