package streamsapp.bench;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The three lookup joins of the topology (users → segments → products), each a HashMap
 * lookup per record against a CSV loaded at start, with the defaults of clickstream.toml.
 */
final class Enricher {
    private final Dims.Lookup users; // user_id → segment, name
    private final Dims.Lookup segments; // segment → is_premium
    private final Dims.Lookup products; // product_id → category, name, price
    final String summary;

    Enricher(Path dir) throws IOException {
        Dims u = Dims.loadCsv(dir.resolve("users.csv"));
        Dims s = Dims.loadCsv(dir.resolve("segments.csv"));
        Dims p = Dims.loadCsv(dir.resolve("products.csv"));
        users = u.lookup("user_id", Dims.Type.BIGINT, "segment", "name");
        // the default "unknown" must fit users.segment; the segments join keys on it
        require(u, "segment", Dims.Type.STRING);
        segments = s.lookup("segment", Dims.Type.STRING, "is_premium");
        require(s, "is_premium", Dims.Type.BOOLEAN);
        products = p.lookup("product_id", Dims.Type.BIGINT, "category", "name", "price");
        require(p, "category", Dims.Type.STRING);
        summary = u.origin + " (" + users.size() + " keys), " + s.origin + " (" + segments.size()
            + " keys), " + p.origin + " (" + products.size() + " keys)";
    }

    private static void require(Dims d, String column, Dims.Type type) {
        Dims.Type t = d.types.get(d.column(column));
        if (t != type) {
            throw new IllegalArgumentException(d.origin + ": column `" + column + "` is a " + Dims.word(t)
                + "; its default in the topology is a " + Dims.word(type));
        }
    }

    /** users, segments, products: fills the event's dimension columns. */
    Event enrich(Event e) {
        Object[] u = users.get(e.userId);
        e.segment = u[0] != null ? u[0] : "unknown";
        e.userName = u[1];
        Object[] s = segments.get(e.segment);
        e.isPremium = s[0] != null ? s[0] : Boolean.FALSE;
        Object[] p = products.get(e.productId);
        e.category = p[0] != null ? p[0] : "unknown";
        e.productName = p[1];
        e.price = p[2];
        return e;
    }
}
