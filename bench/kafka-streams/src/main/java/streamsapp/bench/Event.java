package streamsapp.bench;

/**
 * One accepted input event: the declared fields after cleaning and defaults, and its
 * event time (event_ts); the lookup joins then fill in the dimension columns. Values of
 * dimension columns are null, Long, Double, Boolean or String, typed as streams-app
 * infers the CSV column (see Dims).
 */
final class Event {
    final String eventId;
    final long userId;
    final Long productId;
    final String eventType;
    final String page;
    final String device;
    final String country;
    final double amount;
    final long eventTs;

    // lookup joins
    Object segment; // users.segment, default "unknown"
    Object userName; // users.name AS user_name
    Object isPremium; // segments.is_premium, default false
    Object category; // products.category, default "unknown"
    Object productName; // products.name AS product_name
    Object price; // products.price

    Event(String eventId, long userId, Long productId, String eventType, String page, String device,
          String country, double amount, long eventTs) {
        this.eventId = eventId;
        this.userId = userId;
        this.productId = productId;
        this.eventType = eventType;
        this.page = page;
        this.device = device;
        this.country = country;
        this.amount = amount;
        this.eventTs = eventTs;
    }

    /** The `enriched` map: its select list, with event_date = to_date(event_ts). */
    String toEventsCleanJson(Json json) {
        return json.begin()
            .str("event_id", eventId)
            .num("user_id", userId)
            .num("product_id", productId)
            .str("event_type", eventType)
            .str("page", page)
            .str("device", device)
            .str("country", country)
            .dbl("amount", amount)
            .ts("event_ts", eventTs)
            .value("segment", segment)
            .value("is_premium", isPremium)
            .value("user_name", userName)
            .value("category", category)
            .value("product_name", productName)
            .value("price", price)
            .date("event_date", Time.dateOf(eventTs))
            .end();
    }
}
