package streamsapp.bench;

import org.apache.kafka.common.serialization.Serde;

/**
 * What the five window aggregates read of an enriched event: the value written to their
 * repartition topics (the record's timestamp is event_ts as well).
 */
final class Click {
    final long userId;
    final String eventType;
    final String page;
    final String device;
    final String country;
    final Object segment;
    final double amount;
    final long eventTs;

    Click(long userId, String eventType, String page, String device, String country, Object segment,
          double amount, long eventTs) {
        this.userId = userId;
        this.eventType = eventType;
        this.page = page;
        this.device = device;
        this.country = country;
        this.segment = segment;
        this.amount = amount;
        this.eventTs = eventTs;
    }

    static Click of(Event e) {
        return new Click(e.userId, e.eventType, e.page, e.device, e.country, e.segment, e.amount, e.eventTs);
    }

    boolean isPurchase() {
        return "purchase".equals(eventType);
    }

    static final Serde<Click> SERDE = Bin.serde(
        (c, out) -> {
            out.i64(c.userId);
            out.str(c.eventType);
            out.str(c.page);
            out.str(c.device);
            out.str(c.country);
            out.value(c.segment);
            out.f64(c.amount);
            out.i64(c.eventTs);
        },
        in -> new Click(in.i64(), in.str(), in.str(), in.str(), in.str(), in.value(), in.f64(), in.i64()));
}
