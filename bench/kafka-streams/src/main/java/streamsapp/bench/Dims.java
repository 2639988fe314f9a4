package streamsapp.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A dimension table loaded into memory at start, as streams-app loads a CSV
 * (crates/streams-runtime/src/topology_file/dims.rs): a header row, every field trimmed,
 * each column's type inferred from its non-empty cells (all i64: bigint; all f64:
 * double; all booleans true/false/t/f/yes/no/y/n/1/0: boolean; else string), empty
 * cells NULL. The lookup_join semantics (crates/streams-core/src/dataflow/lookup_join):
 * the first row with a key wins, a NULL key matches a row whose key cell is empty, and a
 * column's default replaces every NULL it brings (misses and empty cells alike).
 */
final class Dims {
    enum Type { BIGINT, DOUBLE, BOOLEAN, STRING }

    final String origin;
    final List<String> columns;
    final List<Type> types;
    final List<Object[]> rows;

    private Dims(String origin, List<String> columns, List<Type> types, List<Object[]> rows) {
        this.origin = origin;
        this.columns = columns;
        this.types = types;
        this.rows = rows;
    }

    int column(String name) {
        int i = columns.indexOf(name);
        if (i < 0) {
            throw new IllegalArgumentException(origin + ": no column `" + name + "` (columns: "
                + String.join(", ", columns) + ")");
        }
        return i;
    }

    /** An index on one key column: key value (possibly null) → row. */
    Lookup lookup(String keyColumn, Type expected, String... broughtColumns) {
        int k = column(keyColumn);
        if (types.get(k) != expected) {
            throw new IllegalArgumentException(origin + ": key column `" + keyColumn + "` is a "
                + word(types.get(k)) + ", the stream's key is a " + word(expected));
        }
        int[] brought = new int[broughtColumns.length];
        for (int i = 0; i < brought.length; i++) {
            brought[i] = column(broughtColumns[i]);
        }
        Map<Object, Object[]> index = new HashMap<>();
        for (Object[] row : rows) {
            if (!index.containsKey(row[k])) {
                Object[] values = new Object[brought.length];
                for (int i = 0; i < brought.length; i++) {
                    values[i] = row[brought[i]];
                }
                index.put(row[k], values);
            }
        }
        return new Lookup(index, brought.length);
    }

    /** Looks up a key; the brought values (null when missing). */
    static final class Lookup {
        private final Map<Object, Object[]> index;
        private final Object[] miss;

        Lookup(Map<Object, Object[]> index, int width) {
            this.index = index;
            this.miss = new Object[width];
        }

        Object[] get(Object key) {
            Object[] v = index.get(key);
            return v != null ? v : miss;
        }

        int size() {
            return index.size();
        }
    }

    static String word(Type t) {
        return switch (t) {
            case BIGINT -> "bigint";
            case DOUBLE -> "double";
            case BOOLEAN -> "boolean";
            case STRING -> "string";
        };
    }

    // ---- loading ----------------------------------------------------------------------

    static Dims loadCsv(Path path) throws IOException {
        String shown = path.toString();
        String text = new String(Files.readAllBytes(path), StandardCharsets.UTF_8);
        if (text.startsWith("\uFEFF")) {
            text = text.substring(1);
        }
        List<List<String>> records = parseCsv(text, shown);
        if (records.isEmpty()) {
            throw new IOException(shown + ": no header row");
        }
        List<String> header = records.get(0);
        List<List<String>> body = records.subList(1, records.size());
        for (int r = 0; r < body.size(); r++) {
            if (body.get(r).size() != header.size()) {
                throw new IOException(shown + ": row " + (r + 2) + ": found record with " + body.get(r).size()
                    + " fields, but the previous record has " + header.size() + " fields");
            }
        }
        List<Type> types = new ArrayList<>();
        for (int c = 0; c < header.size(); c++) {
            List<String> values = new ArrayList<>();
            for (List<String> rec : body) {
                values.add(rec.get(c));
            }
            types.add(infer(values));
        }
        List<Object[]> rows = new ArrayList<>(body.size());
        for (List<String> rec : body) {
            Object[] row = new Object[header.size()];
            for (int c = 0; c < header.size(); c++) {
                row[c] = cell(rec.get(c), types.get(c));
            }
            rows.add(row);
        }
        return new Dims(shown, header, types, rows);
    }

    private static final Pattern RUST_I64 = Pattern.compile("[+-]?[0-9]+");
    private static final Pattern RUST_F64 = Pattern.compile(
        "[+-]?(?:(?i:inf|infinity|nan)|(?:[0-9]+\\.?[0-9]*|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?)");

    private static Long parseI64(String v) {
        if (!RUST_I64.matcher(v).matches()) {
            return null;
        }
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException e) {
            return null; // out of range
        }
    }

    private static Double parseF64(String v) {
        if (!RUST_F64.matcher(v).matches()) {
            return null;
        }
        String l = v.toLowerCase(Locale.ROOT);
        boolean neg = l.startsWith("-");
        String body = (l.startsWith("-") || l.startsWith("+")) ? l.substring(1) : l;
        if (body.equals("inf") || body.equals("infinity")) {
            return neg ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
        }
        if (body.equals("nan")) {
            return Double.NaN;
        }
        return Double.parseDouble(v);
    }

    private static Boolean parseBool(String v) {
        // dims.rs parse_bool: trimmed, ASCII lowercase
        return switch (Time.rustTrim(v).toLowerCase(Locale.ROOT)) {
            case "true", "t", "yes", "y", "1" -> Boolean.TRUE;
            case "false", "f", "no", "n", "0" -> Boolean.FALSE;
            default -> null;
        };
    }

    private static Type infer(List<String> values) {
        List<String> present = values.stream().filter(v -> !v.isEmpty()).toList();
        if (present.isEmpty()) {
            return Type.STRING;
        }
        if (present.stream().allMatch(v -> parseI64(v) != null)) {
            return Type.BIGINT;
        }
        if (present.stream().allMatch(v -> parseF64(v) != null)) {
            return Type.DOUBLE;
        }
        if (present.stream().allMatch(v -> parseBool(v) != null)) {
            return Type.BOOLEAN;
        }
        return Type.STRING;
    }

    private static Object cell(String v, Type t) {
        if (v.isEmpty()) {
            return null;
        }
        return switch (t) {
            case BIGINT -> parseI64(v);
            case DOUBLE -> parseF64(v);
            case BOOLEAN -> parseBool(v);
            case STRING -> v;
        };
    }

    /** ASCII whitespace, as the csv crate's Trim::All removes it. */
    private static String trimAscii(String s) {
        int a = 0;
        int b = s.length();
        while (a < b && isAsciiSpace(s.charAt(a))) {
            a++;
        }
        while (b > a && isAsciiSpace(s.charAt(b - 1))) {
            b--;
        }
        return s.substring(a, b);
    }

    private static boolean isAsciiSpace(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0x0B || c == 0x0C;
    }

    /** RFC 4180 CSV: quoted fields with "" escapes, CRLF or LF line ends, blank lines skipped. */
    private static List<List<String>> parseCsv(String text, String shown) throws IOException {
        List<List<String>> out = new ArrayList<>();
        List<String> rec = new ArrayList<>();
        StringBuilder field = new StringBuilder();
        int i = 0;
        int n = text.length();
        boolean inQuotes = false;
        boolean any = false; // the current record has content
        while (i < n) {
            char c = text.charAt(i);
            if (inQuotes) {
                if (c == '"') {
                    if (i + 1 < n && text.charAt(i + 1) == '"') {
                        field.append('"');
                        i += 2;
                        continue;
                    }
                    inQuotes = false;
                } else {
                    field.append(c);
                }
                i++;
                continue;
            }
            switch (c) {
                case '"' -> {
                    inQuotes = true;
                    any = true;
                }
                case ',' -> {
                    rec.add(trimAscii(field.toString()));
                    field.setLength(0);
                    any = true;
                }
                case '\r', '\n' -> {
                    if (any || field.length() > 0) {
                        rec.add(trimAscii(field.toString()));
                        out.add(rec);
                    }
                    rec = new ArrayList<>();
                    field.setLength(0);
                    any = false;
                }
                default -> {
                    field.append(c);
                    any = true;
                }
            }
            i++;
        }
        if (inQuotes) {
            throw new IOException(shown + ": a quoted field is not closed");
        }
        if (any || field.length() > 0) {
            rec.add(trimAscii(field.toString()));
            out.add(rec);
        }
        return out;
    }
}
