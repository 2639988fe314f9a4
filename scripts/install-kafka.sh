#!/usr/bin/env bash
# Installs the jars of an Apache Kafka broker (KRaft mode) from Maven Central into
# ${STREAMS_KAFKA_HOME:-~/.cache/streams-app/kafka}/libs, once per machine: later runs find
# them there (a stamp file in libs records the version) and return at once. Also puts
# log4j2.properties beside libs. Needs java (17+) and mvn. Skipped when
# STREAMS_TEST_BOOTSTRAP names another broker. The version is the one in
# scripts/kafka/pom.xml. See scripts/kafka/start-broker.sh for how to run the broker.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${STREAMS_TEST_BOOTSTRAP:-}" ]; then
  echo "install-kafka: skipped (STREAMS_TEST_BOOTSTRAP=$STREAMS_TEST_BOOTSTRAP)"
  exit 0
fi

POM=scripts/kafka/pom.xml
KAFKA_HOME="${STREAMS_KAFKA_HOME:-$HOME/.cache/streams-app/kafka}"
LIBS="$KAFKA_HOME/libs"
STAMP_NAME=.kafka-version
kafka_version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")"
log4j_version="$(sed -n 's:.*<log4j.version>\(.*\)</log4j.version>.*:\1:p' "$POM")"
want="kafka_2.13 $kafka_version log4j $log4j_version"

install_log4j_config() {
  if ! cmp -s scripts/kafka/log4j2.properties "$KAFKA_HOME/log4j2.properties"; then
    cp scripts/kafka/log4j2.properties "$KAFKA_HOME/log4j2.properties.tmp.$$"
    mv -f "$KAFKA_HOME/log4j2.properties.tmp.$$" "$KAFKA_HOME/log4j2.properties"
  fi
}

if [ "$(cat "$LIBS/$STAMP_NAME" 2>/dev/null || true)" = "$want" ]; then
  install_log4j_config
  echo "install-kafka: Kafka $kafka_version already installed in $LIBS"
  exit 0
fi

for tool in java mvn; do
  command -v "$tool" >/dev/null || { echo "install-kafka: $tool not found" >&2; exit 1; }
done

mkdir -p "$KAFKA_HOME"
# fetch into a fresh staging folder and rename it at the end, so that an interrupted run
# never leaves a half-filled libs folder behind
staging="$KAFKA_HOME/libs.staging.$$"
mvnlog="$KAFKA_HOME/mvn-log.$$"
trap 'rm -rf "$staging" "$mvnlog" "$KAFKA_HOME/libs.old.$$"' EXIT
trap 'exit 130' INT TERM
for old in "$KAFKA_HOME"/libs.staging.* "$KAFKA_HOME"/libs.old.* "$KAFKA_HOME"/mvn-log.*; do
  # left by a run that was killed outright (SIGKILL): remove it unless that run is alive
  if [ -e "$old" ] && ! kill -0 "${old##*.}" 2>/dev/null; then rm -rf "$old"; fi
done
start=$SECONDS
# Maven's output is kept for failures only (Debian's Maven 3.8 also prints stray colour
# resets even with -q -B)
if ! mvn -q -B -f "$POM" package -DoutputDirectory="$staging" >"$mvnlog" 2>&1; then
  cat "$mvnlog" >&2
  echo "install-kafka: mvn failed (log above)" >&2
  exit 1
fi
jars=$(find "$staging" -maxdepth 1 -name '*.jar' | wc -l)
if [ ! -f "$staging/kafka_2.13-$kafka_version.jar" ]; then
  echo "install-kafka: maven did not deliver kafka_2.13-$kafka_version.jar" >&2
  exit 1
fi
echo "$want" >"$staging/$STAMP_NAME"
if [ "$(cat "$LIBS/$STAMP_NAME" 2>/dev/null || true)" != "$want" ]; then
  # an older (or half) libs folder is moved away first: rename cannot replace a full folder
  [ -e "$LIBS" ] && mv "$LIBS" "$KAFKA_HOME/libs.old.$$"
  mv -T "$staging" "$LIBS"
fi  # else a concurrent run installed the same version meanwhile: keep that one
install_log4j_config
echo "install-kafka: installed Kafka $kafka_version ($jars jars) into $LIBS in $((SECONDS - start)) s"
