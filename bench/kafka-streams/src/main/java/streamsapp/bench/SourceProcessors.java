package streamsapp.bench;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.WindowStore;
import org.apache.kafka.streams.state.WindowStoreIterator;

/** The two processors before the re-keying: decode + validate, and dedup. */
final class SourceProcessors {
    private SourceProcessors() {}

    /** A rejected input record, as it goes to the dead-letter topic. */
    record DeadLetter(byte[] value) {}

    // streams-app's dead-letter headers (crates/streams-kafka/src/identity.rs)
    static final String DLQ_REASON = "streams-dlq-reason";
    static final String DLQ_DETAIL = "streams-dlq-detail";
    static final String DLQ_TOPIC = "streams-dlq-topic";
    static final String DLQ_PARTITION = "streams-dlq-partition";
    static final String DLQ_OFFSET = "streams-dlq-offset";
    static final String DLQ_ORIGINAL_SIZE = "streams-dlq-original-size";
    static final String DLQ_ORIGINAL_SHA256 = "streams-dlq-original-sha256";
    /** A dead letter's value is cut to fit 1,000,000-byte records with 64 KiB to spare. */
    static final int MAX_DEAD_LETTER_BYTES = 1_000_000 - 64 * 1024;

    /**
     * Decodes each input record (Decoder). Accepted: an Event, with the record timestamp
     * set to its event time (so that windows downstream use event time). Rejected: a
     * DeadLetter with the original bytes (and key) and streams-app's headers.
     */
    static final class Decode implements FixedKeyProcessor<byte[], byte[], Object> {
        private FixedKeyProcessorContext<byte[], Object> ctx;
        private final Decoder decoder = new Decoder();

        @Override
        public void init(FixedKeyProcessorContext<byte[], Object> context) {
            this.ctx = context;
        }

        @Override
        public void process(FixedKeyRecord<byte[], byte[]> record) {
            Stats.CONSUMED.increment();
            Event e = decoder.decode(record.value(), record.timestamp());
            if (e != null) {
                ctx.forward(record.<Object>withValue(e).withTimestamp(e.eventTs));
                return;
            }
            Decoder.Rejected r = decoder.rejected();
            Stats.deadLetter(r.reason());
            RecordHeaders h = new RecordHeaders();
            h.add(DLQ_REASON, utf8(r.reason()));
            h.add(DLQ_DETAIL, utf8(r.detail()));
            RecordMetadata m = ctx.recordMetadata().orElse(null);
            if (m != null) {
                h.add(DLQ_TOPIC, utf8(m.topic()));
                h.add(DLQ_PARTITION, utf8(Integer.toString(m.partition())));
                h.add(DLQ_OFFSET, utf8(Long.toString(m.offset())));
            }
            byte[] value = record.value() == null ? new byte[0] : record.value();
            int limit = MAX_DEAD_LETTER_BYTES - (record.key() == null ? 0 : record.key().length);
            limit = Math.max(0, limit);
            if (value.length > limit) {
                h.add(DLQ_ORIGINAL_SIZE, utf8(Integer.toString(value.length)));
                h.add(DLQ_ORIGINAL_SHA256, utf8(sha256(value)));
                value = java.util.Arrays.copyOf(value, limit);
            }
            ctx.forward(record.<Object>withValue(new DeadLetter(value)).withHeaders(h));
        }
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String sha256(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * dedup on event_id within an input partition (this processor runs in the input
     * partition's task, before any re-keying): the first record wins; later ones are
     * dropped while the first is retained, i.e. until the watermark (the task's highest
     * event time − 10 s) passes its event time + 1 h.
     *
     * The usual Kafka Streams pattern: a window store keyed by event_id with the event
     * time as the window start. Its retention is 1 h + 10 s, and a window store hides
     * entries older than its observed stream time − retention, so an entry is visible
     * exactly while streams-app's is live (expires_at = event_ts + 1 h > W).
     */
    static final class Dedup implements FixedKeyProcessor<byte[], Event, Event> {
        static final String STORE = "dedup-store";
        static final long RETENTION_MS = 3_600_000L;
        static final long WATERMARK_DELAY_MS = 10_000L;
        static final long STORE_RETENTION_MS = RETENTION_MS + WATERMARK_DELAY_MS;

        /**
         * The end of every dedup look-up: any time that can occur, yet below 2^56. A window
         * store bounds a key's range scan by the key followed by this time; a first byte
         * of 0x7F (Long.MAX_VALUE) would let the scan run over every later key in the
         * segment (Kafka Streams' OrderedBytes.upperRange), a first byte of 0 keeps it to
         * this key.
         */
        static final long FETCH_TO = (1L << 55) - 1;

        private FixedKeyProcessorContext<byte[], Event> ctx;
        private WindowStore<String, Long> store;
        private long maxEventTs = Long.MIN_VALUE;

        @Override
        public void init(FixedKeyProcessorContext<byte[], Event> context) {
            this.ctx = context;
            this.store = context.getStateStore(STORE);
        }

        @Override
        public void process(FixedKeyRecord<byte[], Event> record) {
            Event e = record.value();
            long t = e.eventTs;
            try (WindowStoreIterator<Long> it = store.fetch(e.eventId, 0L, FETCH_TO)) {
                if (it.hasNext()) {
                    Stats.DUPLICATES.increment();
                    return;
                }
            }
            maxEventTs = Math.max(maxEventTs, t);
            // an entry already expired is not kept (the store would drop it anyway)
            if (t + RETENTION_MS > maxEventTs - WATERMARK_DELAY_MS) {
                store.put(e.eventId, t, t);
            }
            Stats.ACCEPTED.increment();
            ctx.forward(record);
        }
    }
}
