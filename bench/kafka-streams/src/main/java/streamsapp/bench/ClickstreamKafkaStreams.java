package streamsapp.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.Suppressed.BufferConfig;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.state.SessionStore;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowStore;
import streamsapp.bench.Aggregates.PageMetrics;
import streamsapp.bench.Aggregates.SegmentRevenue;
import streamsapp.bench.Aggregates.Session;
import streamsapp.bench.Aggregates.Traffic;
import streamsapp.bench.SourceProcessors.DeadLetter;
import streamsapp.bench.SourceProcessors.Decode;
import streamsapp.bench.SourceProcessors.Dedup;

/**
 * The reference clickstream topology (topology/clickstream.toml) on Kafka Streams: the
 * program the comparison benchmark runs next to streams-app on the same broker and
 * records. See bench/kafka-streams/README.md.
 */
public final class ClickstreamKafkaStreams {
    private ClickstreamKafkaStreams() {}

    /** The tables of clickstream.toml, in declaration order; each is topic PREFIX + name. */
    static final List<String> TABLES = List.of(
        "events_clean", "country_segment_revenue", "country_traffic_sliding", "page_metrics", "geo_device",
        "user_sessions");
    static final String DLQ = "dlq";

    // [time] watermark_delay: Kafka Streams' grace period
    // (--grace-ms: a replay of a backlog needs more, as stream time is per task)
    static Duration GRACE = Duration.ofSeconds(10);
    static final Duration SESSION_GAP = Duration.ofSeconds(30);

    private static final String USAGE = String.join("\n",
        "usage: java -cp 'LIBS/*' streamsapp.bench.ClickstreamKafkaStreams",
        "         --bootstrap-servers HOST:PORT --application-id ID --input-topic T --output-prefix P",
        "         --state-dir DIR --dims DIR [--threads N] [--commit-interval-ms MS] [--grace-ms MS]",
        "",
        "Runs topology/clickstream.toml on Kafka Streams (exactly-once v2, RocksDB state) until",
        "SIGTERM or SIGINT. Outputs: topics P<table> for events_clean, country_segment_revenue,",
        "country_traffic_sliding, page_metrics, geo_device, user_sessions, and Pdlq for rejected",
        "input (created when missing, with the input topic's partition count). --dims holds",
        "users.csv, segments.csv and products.csv. --threads: num.stream.threads (default 1);",
        "--commit-interval-ms: default Kafka Streams' exactly-once default (100). --grace-ms: the",
        "windows' grace period (default 10000, the topology's watermark delay).");

    static final class Args {
        String bootstrap;
        String appId;
        String input;
        String prefix;
        Path stateDir;
        Path dims;
        int threads = 1;
        Long commitIntervalMs;
    }

    static final class BadArgs extends Exception {
        private static final long serialVersionUID = 1L;

        BadArgs(String m) {
            super(m);
        }
    }

    static Args parse(String[] argv) throws BadArgs {
        Args a = new Args();
        Map<String, String> seen = new LinkedHashMap<>();
        for (int i = 0; i < argv.length; i++) {
            String arg = argv[i];
            if (arg.equals("-h") || arg.equals("--help")) {
                System.out.println(USAGE);
                System.exit(0);
            }
            String name;
            String value;
            int eq = arg.indexOf('=');
            if (arg.startsWith("--") && eq > 0) {
                name = arg.substring(0, eq);
                value = arg.substring(eq + 1);
            } else {
                name = arg;
                if (i + 1 >= argv.length) {
                    throw new BadArgs(arg.startsWith("--") ? name + " needs a value" : "unexpected argument `" + arg + "`");
                }
                value = argv[++i];
            }
            if (seen.put(name, value) != null) {
                throw new BadArgs(name + " is given twice");
            }
            switch (name) {
                case "--bootstrap-servers" -> a.bootstrap = nonEmpty(name, value);
                case "--application-id" -> a.appId = nonEmpty(name, value);
                case "--input-topic" -> a.input = nonEmpty(name, value);
                case "--output-prefix" -> a.prefix = value;
                case "--state-dir" -> a.stateDir = Path.of(nonEmpty(name, value));
                case "--dims" -> a.dims = Path.of(nonEmpty(name, value));
                case "--threads" -> {
                    a.threads = (int) number(name, value, 1, 1024);
                }
                case "--commit-interval-ms" -> a.commitIntervalMs = number(name, value, 0, Long.MAX_VALUE);
                case "--grace-ms" -> GRACE = Duration.ofMillis(number(name, value, 0, 86_400_000L));
                default -> throw new BadArgs(arg.startsWith("--") ? "unknown option " + name : "unexpected argument `" + arg + "`");
            }
        }
        for (String[] req : new String[][] {
            {"--bootstrap-servers", a.bootstrap}, {"--application-id", a.appId}, {"--input-topic", a.input},
            {"--output-prefix", a.prefix}, {"--state-dir", a.stateDir == null ? null : "x"},
            {"--dims", a.dims == null ? null : "x"}}) {
            if (req[1] == null) {
                throw new BadArgs(req[0] + " is required (--help shows the usage)");
            }
        }
        if (!Files.isDirectory(a.dims)) {
            throw new BadArgs("--dims " + a.dims + " is not a directory");
        }
        for (String f : List.of("users.csv", "segments.csv", "products.csv")) {
            if (!Files.isRegularFile(a.dims.resolve(f))) {
                throw new BadArgs("--dims " + a.dims + " has no " + f);
            }
        }
        return a;
    }

    private static String nonEmpty(String name, String v) throws BadArgs {
        if (v.isEmpty()) {
            throw new BadArgs(name + " is empty");
        }
        return v;
    }

    private static long number(String name, String v, long min, long max) throws BadArgs {
        long n;
        try {
            n = Long.parseLong(v);
        } catch (NumberFormatException e) {
            throw new BadArgs(name + " `" + v + "` is not a whole number");
        }
        if (n < min || n > max) {
            throw new BadArgs(name + " " + v + " is out of range (" + min + ".." + max + ")");
        }
        return n;
    }

    // ---- the topology -------------------------------------------------------------------

    private static final ThreadLocal<Json> JSON = ThreadLocal.withInitial(Json::new);

    static Topology topology(String inputTopic, String prefix, Enricher enricher) {
        StreamsBuilder b = new StreamsBuilder();
        b.addStateStore(Stores.windowStoreBuilder(
            Stores.persistentWindowStore(Dedup.STORE, Duration.ofMillis(Dedup.STORE_RETENTION_MS),
                Duration.ofMillis(Dedup.STORE_RETENTION_MS), false),
            Serdes.String(), Serdes.Long()));

        // source: decode + validate; rejected records to the dead-letter topic
        KStream<byte[], Object> decoded = b
            .stream(inputTopic, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()).withName("source"))
            .processValues(Decode::new, Named.as("decode"));
        Map<String, KStream<byte[], Object>> branches = decoded.split(Named.as("decoded-"))
            .branch((k, v) -> v instanceof DeadLetter, Branched.as("rejected"))
            .defaultBranch(Branched.as("accepted"));
        branches.get("decoded-rejected")
            .mapValues(v -> ((DeadLetter) v).value(), Named.as("dead-letters"))
            .to(prefix + DLQ, Produced.with(Serdes.ByteArray(), Serdes.ByteArray()).withName("dlq-sink"));

        // dedup (per input partition, before any re-keying) → users → segments → products → enriched
        KStream<byte[], Event> enriched = branches.get("decoded-accepted")
            .mapValues(v -> (Event) v, Named.as("accepted"))
            .processValues(Dedup::new, Named.as("dedup"), Dedup.STORE)
            .mapValues(enricher::enrich, Named.as("enriched"));

        // events_clean: every accepted event, keyed by event_id
        enriched
            .map((k, e) -> KeyValue.pair(e.eventId, e.toEventsCleanJson(JSON.get())), Named.as("events_clean"))
            .to(prefix + "events_clean", Produced.with(Serdes.String(), Serdes.String()).withName("events_clean-sink"));

        // the five window aggregates read a slim copy of each event
        KStream<byte[], Click> clicks = enriched.mapValues(Click::of, Named.as("clicks"));
        Serde<String> str = Serdes.String();

        // country_segment_revenue: tumbling 60 s by country, segment
        String t = "country_segment_revenue";
        clicks
            .groupBy((k, c) -> GroupKey.of(c.country, c.segment), Grouped.with(t, str, Click.SERDE))
            .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofSeconds(60), GRACE))
            .aggregate(SegmentRevenue::new, (k, c, a) -> a.add(c), Named.as(t + "-aggregate"),
                Materialized.<String, SegmentRevenue, WindowStore<Bytes, byte[]>>as(t + "-store")
                    .withKeySerde(str).withValueSerde(SegmentRevenue.SERDE))
            .suppress(Suppressed.untilWindowCloses(BufferConfig.unbounded()).withName(t + "-final"))
            .toStream(Named.as(t + "-results"))
            .filter((k, a) -> a != null, Named.as(t + "-nonnull"))
            .map((wk, a) -> {
                Object[] g = GroupKey.parts(wk.key());
                long s = wk.window().start();
                Json json = JSON.get().begin()
                    .ts("window_start", s).ts("window_end", wk.window().end())
                    .value("country", g[0]).value("segment", g[1])
                    .num("events", a.events).num("purchases", a.purchases).dbl("revenue", a.revenue)
                    .num("unique_users", a.users.size());
                Json j = a.maxEventTs == Long.MIN_VALUE ? json.value("max_event_time", null)
                    : json.ts("max_event_time", a.maxEventTs);
                return KeyValue.pair(GroupKey.outputKey(g[0], g[1]), j.date("event_date", Time.dateOf(s)).end());
            }, Named.as(t + "-rows"))
            .to(prefix + t, Produced.with(str, str).withName(t + "-sink"));

        // country_traffic_sliding: hopping 60 s every 30 s by country
        t = "country_traffic_sliding";
        clicks
            .groupBy((k, c) -> GroupKey.of(c.country), Grouped.with(t, str, Click.SERDE))
            .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofSeconds(60), GRACE).advanceBy(Duration.ofSeconds(30)))
            .aggregate(Traffic::new, (k, c, a) -> a.add(c), Named.as(t + "-aggregate"),
                Materialized.<String, Traffic, WindowStore<Bytes, byte[]>>as(t + "-store")
                    .withKeySerde(str).withValueSerde(Traffic.SERDE))
            .suppress(Suppressed.untilWindowCloses(BufferConfig.unbounded()).withName(t + "-final"))
            .toStream(Named.as(t + "-results"))
            .filter((k, a) -> a != null, Named.as(t + "-nonnull"))
            .map((wk, a) -> {
                Object[] g = GroupKey.parts(wk.key());
                long s = wk.window().start();
                return KeyValue.pair(GroupKey.outputKey(g[0]), JSON.get().begin()
                    .ts("window_start", s).ts("window_end", wk.window().end())
                    .value("country", g[0])
                    .num("events", a.events).dbl("revenue", a.revenue)
                    .date("event_date", Time.dateOf(s)).end());
            }, Named.as(t + "-rows"))
            .to(prefix + t, Produced.with(str, str).withName(t + "-sink"));

        // page_metrics: tumbling 30 s by page
        t = "page_metrics";
        clicks
            .groupBy((k, c) -> GroupKey.of(c.page), Grouped.with(t, str, Click.SERDE))
            .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofSeconds(30), GRACE))
            .aggregate(PageMetrics::new, (k, c, a) -> a.add(c), Named.as(t + "-aggregate"),
                Materialized.<String, PageMetrics, WindowStore<Bytes, byte[]>>as(t + "-store")
                    .withKeySerde(str).withValueSerde(PageMetrics.SERDE))
            .suppress(Suppressed.untilWindowCloses(BufferConfig.unbounded()).withName(t + "-final"))
            .toStream(Named.as(t + "-results"))
            .filter((k, a) -> a != null, Named.as(t + "-nonnull"))
            .map((wk, a) -> {
                Object[] g = GroupKey.parts(wk.key());
                long s = wk.window().start();
                return KeyValue.pair(GroupKey.outputKey(g[0]), JSON.get().begin()
                    .ts("window_start", s).ts("window_end", wk.window().end())
                    .value("page", g[0])
                    .num("views", a.views).num("clicks", a.clicks).num("add_to_carts", a.addToCarts)
                    .num("purchases", a.purchases).dbl("revenue", a.revenue).num("unique_users", a.users.size())
                    .date("event_date", Time.dateOf(s)).end());
            }, Named.as(t + "-rows"))
            .to(prefix + t, Produced.with(str, str).withName(t + "-sink"));

        // geo_device: tumbling 30 s by country, device: a count
        t = "geo_device";
        clicks
            .groupBy((k, c) -> GroupKey.of(c.country, c.device), Grouped.with(t, str, Click.SERDE))
            .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofSeconds(30), GRACE))
            .count(Named.as(t + "-count"), Materialized.<String, Long, WindowStore<Bytes, byte[]>>as(t + "-store")
                .withKeySerde(str).withValueSerde(Serdes.Long()))
            .suppress(Suppressed.untilWindowCloses(BufferConfig.unbounded()).withName(t + "-final"))
            .toStream(Named.as(t + "-results"))
            .filter((k, n) -> n != null, Named.as(t + "-nonnull"))
            .map((Windowed<String> wk, Long n) -> {
                Object[] g = GroupKey.parts(wk.key());
                long s = wk.window().start();
                return KeyValue.pair(GroupKey.outputKey(g[0], g[1]), JSON.get().begin()
                    .ts("window_start", s).ts("window_end", wk.window().end())
                    .value("country", g[0]).value("device", g[1])
                    .num("events", n.longValue())
                    .date("event_date", Time.dateOf(s)).end());
            }, Named.as(t + "-rows"))
            .to(prefix + t, Produced.with(str, str).withName(t + "-sink"));

        // user_sessions: session windows, gap 30 s, by user_id. Kafka Streams merges two
        // events up to `gap` apart inclusive, streams-app (like Flink) only when they are
        // less than `gap` apart: an inactivity gap 1 ms shorter gives the same sessions,
        // and a grace 1 ms longer emits each one at the same stream time
        // (session_end + gap + grace). The key serde keeps the session store's look-ups
        // to one key (GroupKey.SESSION_LONG).
        t = "user_sessions";
        Serde<Long> userKey = GroupKey.SESSION_LONG;
        clicks
            .groupBy((k, c) -> c.userId, Grouped.with(t, userKey, Click.SERDE))
            .windowedBy(SessionWindows.ofInactivityGapAndGrace(SESSION_GAP.minusMillis(1), GRACE.plusMillis(1)))
            .aggregate(Session::new, (k, c, a) -> a.add(c), (k, a1, a2) -> Session.merge(a1, a2),
                Named.as(t + "-aggregate"),
                sessionStore(t + "-store").withKeySerde(userKey).withValueSerde(Session.SERDE))
            .suppress(Suppressed.untilWindowCloses(BufferConfig.unbounded()).withName(t + "-final"))
            .toStream(Named.as(t + "-results"))
            .filter((k, a) -> a != null, Named.as(t + "-nonnull"))
            .map((wk, a) -> {
                long s = wk.window().start();
                return KeyValue.pair(Long.toString(wk.key()), JSON.get().begin()
                    .ts("session_start", s).ts("session_end", wk.window().end())
                    .num("user_id", wk.key().longValue())
                    .num("events", a.events).num("distinct_pages", a.pages.size()).dbl("revenue", a.revenue)
                    .date("event_date", Time.dateOf(s)).end());
            }, Named.as(t + "-rows"))
            .to(prefix + t, Produced.with(str, str).withName(t + "-sink"));

        return b.build();
    }

    /**
     * The session store: RocksDB (Kafka Streams' default) unless the system property
     * streamsapp.sessionStore=memory asks for Stores.inMemorySessionStore (an experiment
     * knob: see README, "Performance notes").
     */
    static Materialized<Long, Session, SessionStore<Bytes, byte[]>> sessionStore(String name) {
        String kind = System.getProperty("streamsapp.sessionStore", "rocksdb");
        return switch (kind) {
            case "rocksdb" -> Materialized.as(name);
            // retention: the longest a session stays open after its last event (gap + grace)
            case "memory" -> Materialized.as(Stores.inMemorySessionStore(name, SESSION_GAP.plus(GRACE)));
            default -> throw new IllegalArgumentException(
                "-Dstreamsapp.sessionStore=" + kind + ": expected rocksdb or memory");
        };
    }

    // ---- running it ---------------------------------------------------------------------

    /** Creates the output topics that are missing: the input's partition count, replication 1. */
    static int createOutputTopics(Args a) throws Exception {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, a.bootstrap);
        try (Admin admin = Admin.create(p)) {
            TopicDescription d;
            try {
                d = admin.describeTopics(List.of(a.input)).allTopicNames().get(60, TimeUnit.SECONDS).get(a.input);
            } catch (ExecutionException e) {
                if (e.getCause() instanceof UnknownTopicOrPartitionException) {
                    throw new IllegalStateException("the input topic `" + a.input + "` does not exist");
                }
                throw e;
            }
            int partitions = d.partitions().size();
            Set<String> existing = admin.listTopics().names().get(60, TimeUnit.SECONDS);
            List<NewTopic> create = new ArrayList<>();
            List<String> names = new ArrayList<>();
            for (String table : TABLES) {
                names.add(a.prefix + table);
            }
            names.add(a.prefix + DLQ);
            for (String n : names) {
                if (!existing.contains(n)) {
                    create.add(new NewTopic(n, partitions, (short) 1));
                }
            }
            if (!create.isEmpty()) {
                try {
                    admin.createTopics(create).all().get(60, TimeUnit.SECONDS);
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw e;
                    }
                }
            }
            return partitions;
        }
    }

    static Properties config(Args a) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, a.appId);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, a.bootstrap);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, a.threads);
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
        p.put(StreamsConfig.STATE_DIR_CONFIG, a.stateDir.toAbsolutePath().toString());
        p.put(StreamsConfig.TOPOLOGY_OPTIMIZATION_CONFIG, StreamsConfig.OPTIMIZE);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        if (a.commitIntervalMs != null) {
            p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, a.commitIntervalMs);
        }
        return p;
    }

    /** Kafka Streams' count of records it dropped (late for a window, among others). */
    static long droppedRecords(KafkaStreams streams) {
        double sum = 0;
        for (Map.Entry<MetricName, ? extends Metric> e : streams.metrics().entrySet()) {
            MetricName n = e.getKey();
            if (n.name().equals("dropped-records-total") && n.group().equals("stream-task-metrics")) {
                Object v = e.getValue().metricValue();
                if (v instanceof Number num) {
                    sum += num.doubleValue();
                }
            }
        }
        return (long) sum;
    }

    static String oneLine(Throwable t) {
        Throwable root = t;
        StringBuilder sb = new StringBuilder();
        while (root != null) {
            if (sb.length() > 0) {
                sb.append(": ");
            }
            sb.append(root.getClass().getSimpleName());
            if (root.getMessage() != null) {
                sb.append(" ").append(root.getMessage().replace('\n', ' '));
            }
            root = root.getCause() == root ? null : root.getCause();
        }
        return sb.toString();
    }

    public static void main(String[] argv) {
        Args a;
        try {
            a = parse(argv);
        } catch (BadArgs e) {
            System.err.println("kafka-streams: " + e.getMessage());
            System.exit(2);
            return;
        }
        int code;
        try {
            code = run(a);
        } catch (IllegalStateException e) {
            System.err.println("kafka-streams: " + e.getMessage()); // ours: a complete sentence
            code = 1;
        } catch (Exception e) {
            System.err.println("kafka-streams: " + oneLine(e));
            code = 1;
        }
        System.out.flush();
        System.err.flush();
        System.exit(code);
    }

    static int run(Args a) throws Exception {
        Enricher enricher;
        try {
            enricher = new Enricher(a.dims);
        } catch (IOException | IllegalArgumentException e) {
            throw new IllegalStateException("dimension tables: " + e.getMessage(), e);
        }
        int partitions = createOutputTopics(a);
        Topology topology = topology(a.input, a.prefix, enricher);
        System.err.println("kafka-streams: app " + a.appId + ", input " + a.input + " (" + partitions
            + " partitions), outputs " + a.prefix + "<table>, " + a.threads + " thread(s), dims " + enricher.summary);

        KafkaStreams streams = new KafkaStreams(topology, config(a));
        CountDownLatch stop = new CountDownLatch(1);
        AtomicReference<String> failure = new AtomicReference<>();
        AtomicBoolean announced = new AtomicBoolean();
        AtomicBoolean closing = new AtomicBoolean();
        streams.setUncaughtExceptionHandler(e -> {
            failure.compareAndSet(null, oneLine(e));
            return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streams.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.RUNNING && announced.compareAndSet(false, true)) {
                System.out.println("kafka-streams: RUNNING");
                System.out.flush();
            }
            if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.PENDING_ERROR) {
                failure.compareAndSet(null, "Kafka Streams went into state " + now);
                stop.countDown();
            }
            if (now == KafkaStreams.State.NOT_RUNNING && !closing.get()) {
                failure.set("Kafka Streams stopped by itself");
                stop.countDown();
            }
        });
        // SIGTERM / SIGINT: close cleanly and exit 0 (a JVM shutdown hook alone would exit 143)
        sun.misc.SignalHandler onSignal = sig -> stop.countDown();
        sun.misc.Signal.handle(new sun.misc.Signal("TERM"), onSignal);
        sun.misc.Signal.handle(new sun.misc.Signal("INT"), onSignal);
        // any other way out of the JVM still closes the stores and the transactions
        Thread hook = new Thread(() -> {
            closing.set(true);
            streams.close(Duration.ofSeconds(30));
        }, "close-on-exit");
        Runtime.getRuntime().addShutdownHook(hook);

        long started = System.nanoTime();
        streams.start();
        stop.await();
        closing.set(true);
        long dropped = droppedRecords(streams);
        boolean closed = streams.close(Duration.ofSeconds(60));
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException ignored) {
            // already shutting down
        }
        double secs = (System.nanoTime() - started) / 1e9;
        System.err.printf("kafka-streams: stopped after %.1f s: %s dropped_records=%d%s%n", secs, Stats.summary(),
            dropped, closed ? "" : " (close timed out)");
        String f = failure.get();
        if (f != null) {
            System.err.println("kafka-streams: failed: " + f);
            return 1;
        }
        return 0;
    }
}
