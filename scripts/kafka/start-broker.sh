#!/usr/bin/env bash
# Starts ONE Apache Kafka node in KRaft mode (broker and controller in one JVM) in the
# foreground, with all its files in DIR:
#   DIR/server.properties  the configuration written by this script
#   DIR/data               the log dir (formatted here on first use)
#   DIR/logs/server.log    the broker's log; "Kafka Server started" there means ready
# Usage: scripts/kafka/start-broker.sh DIR        (stop it with Ctrl-C or SIGTERM)
# Env:   BPORT / CPORT  broker and controller ports (default: two free ports)
#        SCRAM_USER / SCRAM_PASSWORD  also open a SASL_PLAINTEXT listener (SCRAM-SHA-256)
#                       on SPORT (default: a free port) with that user, created at format time
#        STREAMS_KAFKA_HOME  where scripts/install-kafka.sh put the jars
# This is the recipe the Rust test fixture follows; it is meant for humans to try it.
set -euo pipefail

DIR="${1:?usage: $0 DIR}"
KAFKA_HOME="${STREAMS_KAFKA_HOME:-$HOME/.cache/streams-app/kafka}"
if [ ! -f "$KAFKA_HOME/libs/.kafka-version" ]; then
  echo "start-broker: no Kafka in $KAFKA_HOME/libs: run scripts/install-kafka.sh first" >&2
  exit 1
fi
mkdir -p "$DIR/data" "$DIR/logs"
DIR="$(cd "$DIR" && pwd)"

# a formatted log dir remembers the controller's address: reuse the ports it was made with
prop() { sed -n "s/^$1=//p" "$DIR/server.properties" 2>/dev/null; }
if [ -f "$DIR/data/meta.properties" ] && [ -f "$DIR/server.properties" ]; then
  CPORT="$(prop controller.quorum.bootstrap.servers | sed 's/.*://')"
  BPORT="${BPORT:-$(prop listeners | tr , '\n' | sed -n 's|^PLAINTEXT://127.0.0.1:||p')}"
  SPORT="${SPORT:-$(prop listeners | tr , '\n' | sed -n 's|^SASL_PLAINTEXT://127.0.0.1:||p')}"
fi
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
BPORT="${BPORT:-$(free_port)}"
CPORT="${CPORT:-$(free_port)}"
while [ "$CPORT" = "$BPORT" ]; do CPORT="$(free_port)"; done

listeners="PLAINTEXT://127.0.0.1:$BPORT,CONTROLLER://127.0.0.1:$CPORT"
protocols="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
sasl_lines=""
scram_args=()
if [ -n "${SCRAM_USER:-}" ]; then
  SPORT="${SPORT:-$(free_port)}"
  listeners="$listeners,SASL_PLAINTEXT://127.0.0.1:$SPORT"
  protocols="$protocols,SASL_PLAINTEXT:SASL_PLAINTEXT"
  sasl_lines="sasl.enabled.mechanisms=SCRAM-SHA-256
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
  scram_args=(--add-scram "SCRAM-SHA-256=[name=$SCRAM_USER,password=${SCRAM_PASSWORD:?SCRAM_PASSWORD is needed with SCRAM_USER}]")
fi

cat >"$DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CPORT
listeners=$listeners
advertised.listeners=$listeners
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=$protocols
log.dirs=$DIR/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
$sasl_lines
PROPS
# log.flush.* and transaction.max.timeout.ms stay at their defaults

CP="$KAFKA_HOME/libs/*"
JVM=(-Xmx512m -Xms512m -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent
  -Djava.awt.headless=true
  -Dkafka.logs.dir="$DIR/logs" -Dlog4j2.configurationFile="$KAFKA_HOME/log4j2.properties")

if [ ! -f "$DIR/data/meta.properties" ]; then
  cluster_id="$(java -cp "$CP" kafka.tools.StorageTool random-uuid)"
  java "${JVM[@]}" -cp "$CP" kafka.tools.StorageTool format --standalone \
    -t "$cluster_id" -c "$DIR/server.properties" "${scram_args[@]}"
fi

echo "start-broker: bootstrap 127.0.0.1:$BPORT${SPORT:+ (SASL_PLAINTEXT/SCRAM-SHA-256: 127.0.0.1:$SPORT)}, log $DIR/logs/server.log"
exec java "${JVM[@]}" -cp "$CP" kafka.Kafka "$DIR/server.properties"
