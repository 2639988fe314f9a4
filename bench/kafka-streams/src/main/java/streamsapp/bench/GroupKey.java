package streamsapp.bench;

import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;

/**
 * A group key (the group_by values) as one String for Kafka Streams' grouping, and back.
 * Each part carries a type tag so that keys of different values never collide; the
 * output record key is rendered as streams-app's sink renders it (outputKey).
 */
final class GroupKey {
    private GroupKey() {}

    static String of(Object... parts) {
        StringBuilder sb = new StringBuilder(32);
        for (Object p : parts) {
            if (p == null) {
                sb.append('N');
            } else if (p instanceof String s) {
                sb.append('S').append(s.length()).append(':').append(s);
            } else if (p instanceof Long l) {
                sb.append('L').append(l.longValue()).append(';');
            } else if (p instanceof Boolean b) {
                sb.append(b ? 'T' : 'F');
            } else {
                throw new IllegalArgumentException("cannot group by " + p.getClass().getSimpleName());
            }
        }
        return sb.toString();
    }

    /**
     * A long (user_id) as a key of a session store: 16 bytes, each 0x80 plus a 4-bit
     * nibble, most significant first (fixed length, order-preserving). Kafka Streams
     * bounds a session store's range scan for one key by the key's bytes up to the first
     * one below 0x7F, followed by Long.MAX_VALUE (OrderedBytes.upperRange); with the
     * usual encodings (text, or 8-byte big-endian longs) that is the key's first byte,
     * so finding a key's sessions scans every later key in the segment, once per record.
     * With every byte at 0x80 or above the scan covers this key only. The record key of
     * the repartition topic is these bytes too.
     */
    static final Serde<Long> SESSION_LONG = Serdes.serdeFrom(
        (topic, v) -> {
            if (v == null) {
                return null;
            }
            long x = v;
            byte[] b = new byte[16];
            for (int i = 15; i >= 0; i--) {
                b[i] = (byte) (0x80 | (int) (x & 0xF));
                x >>>= 4;
            }
            return b;
        },
        (topic, b) -> {
            if (b == null) {
                return null;
            }
            long x = 0;
            for (int i = 0; i < 16; i++) {
                x = (x << 4) | (b[i] & 0xF);
            }
            return x;
        });

    static Object[] parts(String key) {
        List<Object> out = new ArrayList<>(3);
        int i = 0;
        while (i < key.length()) {
            char tag = key.charAt(i++);
            switch (tag) {
                case 'N' -> out.add(null);
                case 'T' -> out.add(Boolean.TRUE);
                case 'F' -> out.add(Boolean.FALSE);
                case 'S' -> {
                    int colon = key.indexOf(':', i);
                    int len = Integer.parseInt(key, i, colon, 10);
                    out.add(key.substring(colon + 1, colon + 1 + len));
                    i = colon + 1 + len;
                }
                case 'L' -> {
                    int semi = key.indexOf(';', i);
                    out.add(Long.parseLong(key, i, semi, 10));
                    i = semi + 1;
                }
                default -> throw new IllegalStateException("bad group key " + key);
            }
        }
        return out.toArray();
    }

    /**
     * The Kafka key of an output row: the sink's key columns as JSON values, strings
     * without quotes, joined by '|' (crates/streams-kafka/src/sink/mod.rs).
     */
    static String outputKey(Object... parts) {
        StringBuilder sb = new StringBuilder(32);
        for (int i = 0; i < parts.length; i++) {
            if (i > 0) {
                sb.append('|');
            }
            Object p = parts[i];
            if (p instanceof String s) {
                sb.append(s);
            } else if (p instanceof Double d) {
                Json.appendDouble(sb, d);
            } else {
                sb.append(p); // null → "null", Long, Boolean
            }
        }
        return sb.toString();
    }
}
