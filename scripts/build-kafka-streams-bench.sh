#!/usr/bin/env bash
# Builds the Kafka Streams side of the comparison benchmark (bench/kafka-streams: the
# reference clickstream topology as a Kafka Streams program) into
# ${STREAMS_KSTREAMS_HOME:-~/.cache/streams-app/kafka-streams}/libs: the program jar and
# every runtime dependency jar in one folder. Once per machine: a stamp file in libs holds
# a hash of the pom and the sources, so an unchanged tree returns at once and a changed
# one rebuilds. Needs java (17+) and mvn (Maven Central). Maven's output is shown only
# when it fails. Run the program with
#   java -cp "$HOME/.cache/streams-app/kafka-streams/libs/*" streamsapp.bench.ClickstreamKafkaStreams --help
# and dump topics (read_committed) with streamsapp.bench.DumpTopics.
set -euo pipefail
cd "$(dirname "$0")/.."

SRC=bench/kafka-streams
POM=$SRC/pom.xml
KS_HOME="${STREAMS_KSTREAMS_HOME:-$HOME/.cache/streams-app/kafka-streams}"
LIBS="$KS_HOME/libs"
STAMP_NAME=.source-hash
JAR=clickstream-kafka-streams.jar

# the hash of everything that goes into the build: the pom and src/ (names and contents)
source_hash() {
  (cd "$SRC" && find pom.xml src -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}
want="$(source_hash)"

if [ "$(cat "$LIBS/$STAMP_NAME" 2>/dev/null || true)" = "$want" ] && [ -f "$LIBS/$JAR" ]; then
  echo "build-kafka-streams-bench: up to date in $LIBS"
  exit 0
fi

for tool in java mvn; do
  command -v "$tool" >/dev/null || { echo "build-kafka-streams-bench: $tool not found" >&2; exit 1; }
done

mkdir -p "$KS_HOME"
# build into fresh staging folders and rename at the end, so that an interrupted run never
# leaves a half-filled libs folder behind (and Maven's target/ stays out of the repository)
staging="$KS_HOME/libs.staging.$$"
build="$KS_HOME/build.$$"
mvnlog="$KS_HOME/mvn-log.$$"
trap 'rm -rf "$staging" "$build" "$mvnlog" "$KS_HOME/libs.old.$$"' EXIT
trap 'exit 130' INT TERM
for old in "$KS_HOME"/libs.staging.* "$KS_HOME"/build.* "$KS_HOME"/libs.old.* "$KS_HOME"/mvn-log.*; do
  # left by a run that was killed outright (SIGKILL): remove it unless that run is alive
  if [ -e "$old" ] && ! kill -0 "${old##*.}" 2>/dev/null; then rm -rf "$old"; fi
done
start=$SECONDS
# Debian's Maven 3.8 prints stray colour resets even with -q -B: keep the log for failures
if ! mvn -q -B -f "$POM" package -DoutputDirectory="$staging" -DbuildDirectory="$build" >"$mvnlog" 2>&1; then
  cat "$mvnlog" >&2
  echo "build-kafka-streams-bench: mvn failed (log above)" >&2
  exit 1
fi
if [ ! -f "$staging/$JAR" ]; then
  echo "build-kafka-streams-bench: maven did not deliver $JAR" >&2
  exit 1
fi
jars=$(find "$staging" -maxdepth 1 -name '*.jar' | wc -l)
if [ "$want" != "$(source_hash)" ]; then
  echo "build-kafka-streams-bench: the sources changed during the build; run it again" >&2
  exit 1
fi
echo "$want" >"$staging/$STAMP_NAME"
# an older (or half) libs folder is moved away first: rename cannot replace a full folder
[ -e "$LIBS" ] && mv "$LIBS" "$KS_HOME/libs.old.$$"
mv -T "$staging" "$LIBS"
echo "build-kafka-streams-bench: built $JAR ($jars jars) into $LIBS in $((SECONDS - start)) s"
