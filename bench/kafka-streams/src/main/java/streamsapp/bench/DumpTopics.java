package streamsapp.bench;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Prints every committed record of the given topics, one line each:
 * {@code topic<TAB>key<TAB>value} (with --headers a fourth column: the headers as a JSON
 * object), reading with isolation.level=read_committed from the beginning up to the end
 * offsets (last stable offsets) captured at start, then exits 0. Partitions are read
 * in parallel; lines of one partition keep their order.
 *
 * Fields are written as PostgreSQL's COPY text format does: a null key or value is
 * {@code \N}; backslash, tab, newline and carriage return are written {@code \\},
 * {@code \t}, {@code \n}, {@code \r}; in a field that is not valid UTF-8 every
 * non-ASCII byte is written {@code \xHH}. A JSON value (which holds no raw tab or
 * newline) prints as it is, except that each backslash of its escapes is doubled.
 *
 * usage: DumpTopics --bootstrap-servers HOST:PORT [--headers] [--timeout-ms MS] TOPIC...
 * Exit status: 0 done; 1 a topic does not exist or the end was not reached in time; 2 bad arguments.
 */
public final class DumpTopics {
    private DumpTopics() {}

    public static void main(String[] argv) throws IOException {
        String bootstrap = null;
        boolean headers = false;
        long timeoutMs = 120_000;
        List<String> topics = new ArrayList<>();
        for (int i = 0; i < argv.length; i++) {
            String a = argv[i];
            switch (a) {
                case "--bootstrap-servers" -> {
                    if (i + 1 >= argv.length) {
                        bad("--bootstrap-servers needs a value");
                    }
                    bootstrap = argv[++i];
                }
                case "--headers" -> headers = true;
                case "--timeout-ms" -> {
                    if (i + 1 >= argv.length) {
                        bad("--timeout-ms needs a value");
                    }
                    try {
                        timeoutMs = Long.parseLong(argv[++i]);
                    } catch (NumberFormatException e) {
                        bad("--timeout-ms `" + argv[i] + "` is not a whole number");
                    }
                }
                case "-h", "--help" -> {
                    System.out.println("usage: java -cp 'LIBS/*' streamsapp.bench.DumpTopics --bootstrap-servers HOST:PORT"
                        + " [--headers] [--timeout-ms MS] TOPIC...");
                    return;
                }
                default -> {
                    if (a.startsWith("--")) {
                        bad("unknown option " + a);
                    }
                    topics.add(a);
                }
            }
        }
        if (bootstrap == null) {
            bad("--bootstrap-servers is required");
        }
        if (topics.isEmpty()) {
            bad("name at least one topic");
        }
        System.exit(dump(bootstrap, topics, headers, timeoutMs));
    }

    private static void bad(String m) {
        System.err.println("dump-topics: " + m);
        System.exit(2);
    }

    static int dump(String bootstrap, List<String> topics, boolean withHeaders, long timeoutMs) throws IOException {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 5000);
        BufferedWriter out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), 1 << 16);
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> all = new ArrayList<>();
            for (String t : topics) {
                List<PartitionInfo> parts = c.partitionsFor(t, Duration.ofSeconds(30));
                if (parts == null || parts.isEmpty()) {
                    System.err.println("dump-topics: topic `" + t + "` does not exist");
                    return 1;
                }
                for (PartitionInfo pi : parts) {
                    all.add(new TopicPartition(t, pi.partition()));
                }
            }
            c.assign(all);
            c.seekToBeginning(all);
            Map<TopicPartition, Long> end = c.endOffsets(all, Duration.ofSeconds(30)); // LSO under read_committed
            Map<TopicPartition, Long> begin = c.beginningOffsets(all, Duration.ofSeconds(30));
            Set<TopicPartition> open = new HashSet<>();
            for (TopicPartition tp : all) {
                if (end.get(tp) > begin.get(tp)) {
                    open.add(tp);
                }
            }
            List<TopicPartition> done = new ArrayList<>(all);
            done.removeAll(open);
            c.pause(done);
            long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
            StringBuilder line = new StringBuilder(1024);
            while (!open.isEmpty()) {
                if (System.nanoTime() > deadline) {
                    out.flush();
                    System.err.println("dump-topics: timed out after " + timeoutMs + " ms with " + open.size()
                        + " partition(s) short of their end: " + open);
                    return 1;
                }
                ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(200));
                for (ConsumerRecord<byte[], byte[]> r : recs) {
                    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                    if (r.offset() >= end.get(tp)) {
                        continue;
                    }
                    line.setLength(0);
                    line.append(r.topic()).append('\t');
                    field(line, r.key());
                    line.append('\t');
                    field(line, r.value());
                    if (withHeaders) {
                        line.append('\t');
                        StringBuilder h = new StringBuilder("{");
                        Map<String, String> seen = new HashMap<>();
                        for (Header x : r.headers()) {
                            if (seen.put(x.key(), "") != null) {
                                continue; // JSON objects have unique names: the first one wins
                            }
                            if (h.length() > 1) {
                                h.append(',');
                            }
                            Json.quote(h, x.key());
                            h.append(':');
                            if (x.value() == null) {
                                h.append("null");
                            } else {
                                Json.quote(h, new String(x.value(), StandardCharsets.UTF_8));
                            }
                        }
                        h.append('}');
                        field(line, h.toString().getBytes(StandardCharsets.UTF_8));
                    }
                    line.append('\n');
                    out.append(line);
                }
                List<TopicPartition> finished = new ArrayList<>();
                for (TopicPartition tp : open) {
                    if (c.position(tp) >= end.get(tp)) {
                        finished.add(tp);
                    }
                }
                if (!finished.isEmpty()) {
                    open.removeAll(finished);
                    c.pause(finished);
                }
            }
        }
        out.flush();
        return 0;
    }

    private static final char[] HEX = "0123456789abcdef".toCharArray();

    /** One field in COPY text format (see the class comment). */
    static void field(StringBuilder sb, byte[] b) {
        if (b == null) {
            sb.append("\\N");
            return;
        }
        String s;
        try {
            s = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT)
                .decode(ByteBuffer.wrap(b)).toString();
        } catch (CharacterCodingException e) {
            // not UTF-8: ASCII as text, every other byte as \xHH
            for (byte x : b) {
                int v = x & 0xFF;
                if (v < 0x80) {
                    escape(sb, (char) v);
                } else {
                    sb.append("\\x").append(HEX[v >> 4]).append(HEX[v & 0xF]);
                }
            }
            return;
        }
        for (int i = 0; i < s.length(); i++) {
            escape(sb, s.charAt(i));
        }
    }

    private static void escape(StringBuilder sb, char c) {
        switch (c) {
            case '\\' -> sb.append("\\\\");
            case '\t' -> sb.append("\\t");
            case '\n' -> sb.append("\\n");
            case '\r' -> sb.append("\\r");
            default -> sb.append(c);
        }
    }
}
