package streamsapp.bench;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counters for the summary line printed at exit: records decoded, accepted, duplicates
 * and dead letters by reason. Informational only: unlike Kafka Streams' outputs they are
 * not exactly-once (a task that is revoked, aborted or restarted processes its records
 * again and counts them again).
 */
final class Stats {
    private Stats() {}

    static final LongAdder CONSUMED = new LongAdder();
    static final LongAdder ACCEPTED = new LongAdder();
    static final LongAdder DUPLICATES = new LongAdder();
    private static final Map<String, LongAdder> DEAD = new ConcurrentHashMap<>();

    static void deadLetter(String reason) {
        DEAD.computeIfAbsent(reason, r -> new LongAdder()).increment();
    }

    static String summary() {
        long dead = 0;
        StringBuilder reasons = new StringBuilder();
        for (Map.Entry<String, LongAdder> e : new TreeMap<>(DEAD).entrySet()) {
            dead += e.getValue().sum();
            reasons.append(reasons.length() == 0 ? "" : ",").append(e.getKey()).append('=').append(e.getValue().sum());
        }
        return "consumed=" + CONSUMED.sum() + " accepted=" + ACCEPTED.sum() + " duplicate=" + DUPLICATES.sum()
            + " dead_lettered=" + dead + (reasons.length() > 0 ? " (" + reasons + ")" : "");
    }
}
