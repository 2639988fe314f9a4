package streamsapp.bench;

import java.util.HashSet;
import java.util.Set;
import org.apache.kafka.common.serialization.Serde;

/**
 * The aggregates of the four aggregate classes (geo_device is a plain count()), as
 * clickstream.toml declares them. Semantics of streams-app
 * (crates/streams-core/src/dataflow/aggregate.rs): count counts rows (with `where`: the
 * rows that match); sum starts at 0.0 (a group without a matching row shows 0.0, never
 * null); approx_distinct is kept exact here (streams-app's HyperLogLog is within 2 %);
 * count_distinct is exact; max of event_ts is a timestamp.
 */
final class Aggregates {
    private Aggregates() {}

    /** country_segment_revenue: events, purchases, revenue, unique_users, max_event_time. */
    static final class SegmentRevenue {
        long events;
        long purchases;
        double revenue;
        LongSet users = new LongSet();
        long maxEventTs = Long.MIN_VALUE;

        SegmentRevenue add(Click c) {
            events++;
            if (c.isPurchase()) {
                purchases++;
                revenue += c.amount;
            }
            users.add(c.userId);
            maxEventTs = Math.max(maxEventTs, c.eventTs);
            return this;
        }

        static final Serde<SegmentRevenue> SERDE = Bin.serde(
            (a, out) -> {
                out.i64(a.events);
                out.i64(a.purchases);
                out.f64(a.revenue);
                out.i64(a.maxEventTs);
                a.users.write(out);
            },
            in -> {
                SegmentRevenue a = new SegmentRevenue();
                a.events = in.i64();
                a.purchases = in.i64();
                a.revenue = in.f64();
                a.maxEventTs = in.i64();
                a.users = LongSet.read(in);
                return a;
            });
    }

    /** country_traffic_sliding: events, revenue. */
    static final class Traffic {
        long events;
        double revenue;

        Traffic add(Click c) {
            events++;
            if (c.isPurchase()) {
                revenue += c.amount;
            }
            return this;
        }

        static final Serde<Traffic> SERDE = Bin.serde(
            (a, out) -> {
                out.i64(a.events);
                out.f64(a.revenue);
            },
            in -> {
                Traffic a = new Traffic();
                a.events = in.i64();
                a.revenue = in.f64();
                return a;
            });
    }

    /** page_metrics: views, clicks, add_to_carts, purchases, revenue, unique_users. */
    static final class PageMetrics {
        long views;
        long clicks;
        long addToCarts;
        long purchases;
        double revenue;
        LongSet users = new LongSet();

        PageMetrics add(Click c) {
            switch (c.eventType) {
                case "page_view" -> views++;
                case "click" -> clicks++;
                case "add_to_cart" -> addToCarts++;
                case "purchase" -> {
                    purchases++;
                    revenue += c.amount;
                }
                default -> { }
            }
            users.add(c.userId);
            return this;
        }

        static final Serde<PageMetrics> SERDE = Bin.serde(
            (a, out) -> {
                out.i64(a.views);
                out.i64(a.clicks);
                out.i64(a.addToCarts);
                out.i64(a.purchases);
                out.f64(a.revenue);
                a.users.write(out);
            },
            in -> {
                PageMetrics a = new PageMetrics();
                a.views = in.i64();
                a.clicks = in.i64();
                a.addToCarts = in.i64();
                a.purchases = in.i64();
                a.revenue = in.f64();
                a.users = LongSet.read(in);
                return a;
            });
    }

    /** user_sessions: events, distinct_pages, revenue. */
    static final class Session {
        long events;
        Set<String> pages = new HashSet<>();
        double revenue;

        Session add(Click c) {
            events++;
            pages.add(c.page);
            if (c.isPurchase()) {
                revenue += c.amount;
            }
            return this;
        }

        /** Two sessions that a record bridges (or one and an empty one) become one. */
        static Session merge(Session a, Session b) {
            Session m = new Session();
            m.events = a.events + b.events;
            m.pages.addAll(a.pages);
            m.pages.addAll(b.pages);
            m.revenue = a.revenue + b.revenue;
            return m;
        }

        static final Serde<Session> SERDE = Bin.serde(
            (a, out) -> {
                out.i64(a.events);
                out.f64(a.revenue);
                out.i32(a.pages.size());
                for (String p : a.pages) {
                    out.str(p);
                }
            },
            in -> {
                Session a = new Session();
                a.events = in.i64();
                a.revenue = in.f64();
                int n = in.i32();
                for (int i = 0; i < n; i++) {
                    a.pages.add(in.str());
                }
                return a;
            });
    }
}
