package streamsapp.bench;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * The committed lag of a consumer group (a Kafka Streams application id), per topic:
 * end offset − committed offset, summed over the topic's partitions the group has
 * committed. For Kafka Streams under exactly-once this covers the input and the
 * repartition topics, and a record counts as done only once its outputs are committed.
 *
 * usage: GroupLag --bootstrap-servers HOST:PORT --group ID [--wait-max N] [--timeout-ms MS]
 * Prints {@code topic<TAB>lag} lines and {@code total<TAB>lag}. With --wait-max N: polls
 * every second until every topic's lag is at most N (a transaction's commit marker takes
 * an offset that a consumer only passes with its next fetch, so allow the partition count
 * of the repartition topics), then prints the lags; exit 1 on timeout.
 */
public final class GroupLag {
    private GroupLag() {}

    public static void main(String[] argv) throws Exception {
        String bootstrap = null;
        String group = null;
        Long waitMax = null;
        long timeoutMs = 600_000;
        for (int i = 0; i < argv.length; i++) {
            String a = argv[i];
            if (i + 1 >= argv.length && !a.equals("--help")) {
                fail(a + " needs a value");
            }
            switch (a) {
                case "--bootstrap-servers" -> bootstrap = argv[++i];
                case "--group" -> group = argv[++i];
                case "--wait-max" -> waitMax = parse(a, argv[++i]);
                case "--timeout-ms" -> timeoutMs = parse(a, argv[++i]);
                case "--help" -> {
                    System.out.println("usage: java -cp 'LIBS/*' streamsapp.bench.GroupLag --bootstrap-servers HOST:PORT"
                        + " --group ID [--wait-max N] [--timeout-ms MS]");
                    return;
                }
                default -> fail("unknown argument " + a);
            }
        }
        if (bootstrap == null || group == null) {
            fail("--bootstrap-servers and --group are required");
        }
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(p)) {
            long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
            final Long max = waitMax;
            while (true) {
                Map<String, Long> lags = lags(admin, group);
                boolean done = max == null
                    || (!lags.isEmpty() && lags.values().stream().allMatch(l -> l <= max));
                if (done || System.nanoTime() > deadline) {
                    long total = 0;
                    for (Map.Entry<String, Long> e : lags.entrySet()) {
                        System.out.println(e.getKey() + "\t" + e.getValue());
                        total += e.getValue();
                    }
                    System.out.println("total\t" + total);
                    if (!done) {
                        System.err.println("group-lag: timed out after " + timeoutMs + " ms");
                        System.exit(1);
                    }
                    return;
                }
                Thread.sleep(1000);
            }
        }
    }

    static Map<String, Long> lags(Admin admin, String group) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(group)
            .partitionsToOffsetAndMetadata().get(60, TimeUnit.SECONDS);
        Map<TopicPartition, OffsetSpec> want = new HashMap<>();
        List<TopicPartition> parts = new ArrayList<>();
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : committed.entrySet()) {
            if (e.getValue() != null) {
                want.put(e.getKey(), OffsetSpec.latest());
                parts.add(e.getKey());
            }
        }
        Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> ends =
            admin.listOffsets(want).all().get(60, TimeUnit.SECONDS);
        Map<String, Long> lags = new TreeMap<>();
        for (TopicPartition tp : parts) {
            long lag = Math.max(0, ends.get(tp).offset() - committed.get(tp).offset());
            lags.merge(tp.topic(), lag, Long::sum);
        }
        return lags;
    }

    private static long parse(String name, String v) {
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException e) {
            fail(name + " `" + v + "` is not a whole number");
            return 0;
        }
    }

    private static void fail(String m) {
        System.err.println("group-lag: " + m);
        System.exit(2);
    }
}
