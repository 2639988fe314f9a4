package streamsapp.bench;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import java.io.IOException;
import java.util.Locale;

/**
 * The [source] of topology/clickstream.toml, decoded exactly as streams-app's decoder does
 * (crates/streams-core/src/input/): the first failing step decides the dead-letter reason:
 * <ol>
 * <li>too_large: the value is larger than max_record_bytes (1 MiB);</li>
 * <li>malformed_json: not JSON, not an object, or a declared field twice;</li>
 * <li>per field in declaration order: wrong JSON type (invalid_field, or the field's own
 *     reason: event_id's is invalid_event), a required field missing/null/blank;</li>
 * <li>the check amount &gt;= 0 AND isfinite(amount): invalid_amount;</li>
 * <li>future_timestamp: event time more than max_future (1 h) after the Kafka timestamp.</li>
 * </ol>
 * Strings are cleaned (trim, case, blank to NULL) before defaults apply; event_time is
 * epoch ms (an integer) or a timestamp string, and anything unparseable is NULL
 * (on_invalid = "null"); event_ts = coalesce(event_time, kafka_timestamp).
 */
final class Decoder {
    static final int MAX_RECORD_BYTES = 1 << 20;
    static final long MAX_FUTURE_MS = 3_600_000L;

    static final String TOO_LARGE = "too_large";
    static final String MALFORMED_JSON = "malformed_json";
    static final String INVALID_FIELD = "invalid_field";
    static final String INVALID_EVENT = "invalid_event";
    static final String INVALID_AMOUNT = "invalid_amount";
    static final String FUTURE_TIMESTAMP = "future_timestamp";
    /**
     * Not a streams-app reason: Kafka records cannot carry a negative timestamp, so an
     * event before 1970 cannot be a Kafka Streams record (streams-app accepts it).
     */
    static final String UNSUPPORTED_TIMESTAMP = "unsupported_timestamp";

    // field slots, in declaration order
    private static final int EVENT_ID = 0;
    private static final int USER_ID = 1;
    private static final int PRODUCT_ID = 2;
    private static final int EVENT_TYPE = 3;
    private static final int PAGE = 4;
    private static final int DEVICE = 5;
    private static final int COUNTRY = 6;
    private static final int AMOUNT = 7;
    private static final int EVENT_TIME = 8;
    private static final String[] NAMES = {
        "event_id", "user_id", "product_id", "event_type", "page", "device", "country", "amount", "event_time",
    };

    // what a JSON value was (serde_json's view: integers that fit i64 are ints, the rest floats)
    private static final byte MISSING = 0;
    private static final byte NULL = 1;
    private static final byte BOOL = 2;
    private static final byte INT = 3;
    private static final byte FLOAT = 4;
    private static final byte STR = 5;
    private static final byte COMPOUND = 6;

    private static final JsonFactory FACTORY = JsonFactory.builder()
        // serde_json: recursion limit 128; no limit on number length
        .streamReadConstraints(StreamReadConstraints.builder()
            .maxNestingDepth(128)
            .maxNumberLength(Integer.MAX_VALUE)
            .maxStringLength(Integer.MAX_VALUE)
            .build())
        .build();

    /** A record that failed: the reason (ledger key and header) and what was wrong. */
    record Rejected(String reason, String detail) {}

    private final byte[] kinds = new byte[NAMES.length];
    private final long[] ints = new long[NAMES.length];
    private final double[] floats = new double[NAMES.length];
    private final String[] strs = new String[NAMES.length];
    private Rejected rejected;

    /** The reason of the last decode() that returned null. */
    Rejected rejected() {
        return rejected;
    }

    private Event reject(String reason, String detail) {
        rejected = new Rejected(reason, detail);
        return null;
    }

    private static int slot(String name) {
        return switch (name) {
            case "event_id" -> EVENT_ID;
            case "user_id" -> USER_ID;
            case "product_id" -> PRODUCT_ID;
            case "event_type" -> EVENT_TYPE;
            case "page" -> PAGE;
            case "device" -> DEVICE;
            case "country" -> COUNTRY;
            case "amount" -> AMOUNT;
            case "event_time" -> EVENT_TIME;
            default -> -1;
        };
    }

    private static boolean asciiWhitespace(byte b) {
        // Rust's u8::is_ascii_whitespace
        return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == 0x0C;
    }

    /** Decodes one record value; null means rejected (see rejected()). */
    Event decode(byte[] value, long kafkaTs) {
        if (value == null) {
            value = new byte[0];
        }
        if (value.length > MAX_RECORD_BYTES) {
            return reject(TOO_LARGE, "record is " + value.length + " bytes, the limit is " + MAX_RECORD_BYTES);
        }
        int first = 0;
        while (first < value.length && asciiWhitespace(value[first])) {
            first++;
        }
        if (first >= value.length || value[first] != '{') {
            return reject(MALFORMED_JSON, "not a JSON object");
        }
        java.util.Arrays.fill(kinds, MISSING);
        java.util.Arrays.fill(strs, null);
        String duplicate = null;
        try (JsonParser p = FACTORY.createParser(value)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return reject(MALFORMED_JSON, "not a JSON object");
            }
            JsonToken t;
            while ((t = p.nextToken()) != JsonToken.END_OBJECT) {
                if (t != JsonToken.FIELD_NAME) {
                    return reject(MALFORMED_JSON, "expected a key at " + p.currentLocation().getColumnNr());
                }
                int i = slot(p.currentName());
                JsonToken v = p.nextToken();
                if (v == null) {
                    return reject(MALFORMED_JSON, "EOF while parsing an object");
                }
                if (i < 0) {
                    p.skipChildren();
                    continue;
                }
                if (kinds[i] != MISSING && duplicate == null) {
                    duplicate = NAMES[i];
                }
                read(p, v, i);
            }
            JsonToken after = p.nextToken();
            if (after != null) {
                return reject(MALFORMED_JSON, "trailing characters");
            }
        } catch (IOException | NumberFormatException e) {
            String m = String.valueOf(e.getMessage());
            int nl = m.indexOf('\n');
            if (nl >= 0) {
                m = m.substring(0, nl);
            }
            return reject(MALFORMED_JSON, m.length() > 200 ? m.substring(0, 200) : m);
        } catch (MalformedNumber e) {
            return reject(MALFORMED_JSON, "number out of range");
        }
        if (duplicate != null) {
            return reject(MALFORMED_JSON, "key `" + duplicate + "` appears twice");
        }

        // fields, in declaration order
        // event_id: string, required, empty_as_null, reason invalid_event
        String eventId;
        switch (kinds[EVENT_ID]) {
            case STR -> eventId = Time.isRustBlank(strs[EVENT_ID]) ? null : strs[EVENT_ID];
            case MISSING, NULL -> eventId = null;
            default -> {
                return reject(INVALID_EVENT, "`event_id` is " + typeName(kinds[EVENT_ID]) + ", expected a string");
            }
        }
        if (eventId == null) {
            return reject(INVALID_EVENT, "`event_id` is missing, null or empty, expected a string");
        }
        // user_id: bigint, default 0
        long userId;
        switch (kinds[USER_ID]) {
            case INT -> userId = ints[USER_ID];
            case MISSING, NULL -> userId = 0;
            default -> {
                return invalid("user_id", kinds[USER_ID], "an integer");
            }
        }
        // product_id: bigint, nullable
        Long productId;
        switch (kinds[PRODUCT_ID]) {
            case INT -> productId = ints[PRODUCT_ID];
            case MISSING, NULL -> productId = null;
            default -> {
                return invalid("product_id", kinds[PRODUCT_ID], "an integer");
            }
        }
        String[] cleaned = new String[4];
        int[] stringSlots = {EVENT_TYPE, PAGE, DEVICE, COUNTRY};
        for (int j = 0; j < 4; j++) {
            int i = stringSlots[j];
            switch (kinds[i]) {
                case STR -> cleaned[j] = clean(i, strs[i]);
                case MISSING, NULL -> cleaned[j] = null;
                default -> {
                    return invalid(NAMES[i], kinds[i], "a string");
                }
            }
        }
        String eventType = cleaned[0] != null ? cleaned[0] : "unknown";
        String page = cleaned[1] != null ? cleaned[1] : "unknown";
        String device = cleaned[2] != null ? cleaned[2] : "unknown";
        String country = cleaned[3] != null ? cleaned[3] : "UNKNOWN";
        // amount: double, default 0.0
        double amount;
        switch (kinds[AMOUNT]) {
            case INT -> amount = (double) ints[AMOUNT];
            case FLOAT -> amount = floats[AMOUNT];
            case MISSING, NULL -> amount = 0.0;
            default -> {
                return invalid("amount", kinds[AMOUNT], "a number");
            }
        }
        // event_time: timestamp, on_invalid = null
        long eventTime = Time.NONE;
        switch (kinds[EVENT_TIME]) {
            case INT -> eventTime = ints[EVENT_TIME];
            case STR -> eventTime = Time.parseTimestamp(strs[EVENT_TIME]);
            case FLOAT, MISSING, NULL -> eventTime = Time.NONE;
            default -> {
                return invalid("event_time", kinds[EVENT_TIME], "an RFC 3339 string or integer epoch milliseconds");
            }
        }
        // event_ts = coalesce(event_time, kafka_timestamp)
        long eventTs = eventTime != Time.NONE ? eventTime : kafkaTs;
        // checks: amount >= 0 AND isfinite(amount)
        if (!(amount >= 0 && Double.isFinite(amount))) {
            return reject(INVALID_AMOUNT, "check `amount >= 0 AND isfinite(amount)` failed: amount = " + Json.doubleText(amount));
        }
        // max_future
        long limit = kafkaTs > Long.MAX_VALUE - MAX_FUTURE_MS ? Long.MAX_VALUE : kafkaTs + MAX_FUTURE_MS;
        if (eventTs > limit) {
            return reject(FUTURE_TIMESTAMP, "event time " + Time.formatTimestamp(eventTs)
                + " is more than " + MAX_FUTURE_MS + " ms after the record timestamp " + Time.formatTimestamp(kafkaTs));
        }
        if (eventTs < 0) {
            return reject(UNSUPPORTED_TIMESTAMP, "event time " + eventTs + " is before 1970: Kafka records cannot carry it");
        }
        rejected = null;
        return new Event(eventId, userId, productId, eventType, page, device, country, amount, eventTs);
    }

    private Event invalid(String name, byte kind, String expected) {
        return reject(INVALID_FIELD, "`" + name + "` is " + typeName(kind) + ", expected " + expected + " or null");
    }

    private static String typeName(byte kind) {
        return switch (kind) {
            case MISSING -> "missing";
            case NULL -> "null";
            case BOOL -> "a boolean";
            case INT, FLOAT -> "a number";
            case STR -> "a string";
            default -> "an array or object";
        };
    }

    /** The clean steps of each string field: trim, change case, blank to NULL. */
    private static String clean(int slot, String s) {
        // every string field here has empty_as_null, checked on the untrimmed text
        if (Time.isRustBlank(s)) {
            return null;
        }
        return switch (slot) {
            case EVENT_TYPE, DEVICE -> Time.rustTrim(s).toLowerCase(Locale.ROOT);
            case COUNTRY -> Time.rustTrim(s).toUpperCase(Locale.ROOT);
            default -> s; // page: empty_as_null only
        };
    }

    private static final class MalformedNumber extends RuntimeException {
        private static final long serialVersionUID = 1L;

        MalformedNumber() {
            super(null, null, false, false);
        }
    }

    private static boolean hasLoneSurrogate(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c)) {
                if (i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                    i++;
                } else {
                    return true;
                }
            } else if (Character.isLowSurrogate(c)) {
                return true;
            }
        }
        return false;
    }

    /** Reads the value at the current token into slot i, as serde_json would see it. */
    private void read(JsonParser p, JsonToken v, int i) throws IOException {
        switch (v) {
            case VALUE_NULL -> kinds[i] = NULL;
            case VALUE_TRUE, VALUE_FALSE -> kinds[i] = BOOL;
            case VALUE_STRING -> {
                String text = p.getText();
                if (hasLoneSurrogate(text)) {
                    // only a \\u escape can make one; serde_json refuses it in a string it reads
                    throw new IOException("lone surrogate in hex escape");
                }
                kinds[i] = STR;
                strs[i] = text;
            }
            case VALUE_NUMBER_INT -> {
                JsonParser.NumberType nt = p.getNumberType();
                if (nt == JsonParser.NumberType.INT || nt == JsonParser.NumberType.LONG) {
                    long x = p.getLongValue();
                    if (x == 0 && p.getText().startsWith("-")) {
                        // serde_json reads "-0" as the float -0.0
                        kinds[i] = FLOAT;
                        floats[i] = -0.0;
                    } else {
                        kinds[i] = INT;
                        ints[i] = x;
                    }
                } else {
                    // beyond i64: serde_json reads a float (and fails when it is infinite)
                    double d = p.getBigIntegerValue().doubleValue();
                    if (!Double.isFinite(d)) {
                        throw new MalformedNumber();
                    }
                    kinds[i] = FLOAT;
                    floats[i] = d;
                }
            }
            case VALUE_NUMBER_FLOAT -> {
                double d = p.getDoubleValue();
                if (!Double.isFinite(d)) {
                    throw new MalformedNumber();
                }
                kinds[i] = FLOAT;
                floats[i] = d;
            }
            case START_OBJECT, START_ARRAY -> {
                p.skipChildren();
                kinds[i] = COMPOUND;
            }
            default -> throw new IOException("unexpected token " + v);
        }
    }
}
