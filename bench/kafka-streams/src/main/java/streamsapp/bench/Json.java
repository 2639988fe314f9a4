package streamsapp.bench;

import com.fasterxml.jackson.core.io.NumberOutput;

/**
 * Output rows as JSON text, byte for byte as streams-app writes them (serde_json with
 * preserve_order): columns in declaration order, strings escaped as serde_json does
 * (only '"', '\\' and control characters; lowercase \\u00xx), doubles in ryu's layout
 * (shortest digits: "0.0", "12.5", "1e16", "1.5e-7"), non-finite doubles as null,
 * timestamps as RFC 3339 UTC with milliseconds and dates as YYYY-MM-DD (see Time).
 */
final class Json {
    private final StringBuilder sb = new StringBuilder(512);
    private boolean first;

    Json begin() {
        sb.setLength(0);
        sb.append('{');
        first = true;
        return this;
    }

    private void name(String n) {
        if (!first) {
            sb.append(',');
        }
        first = false;
        sb.append('"').append(n).append("\":");
    }

    Json str(String n, String v) {
        name(n);
        if (v == null) {
            sb.append("null");
        } else {
            quote(sb, v);
        }
        return this;
    }

    Json num(String n, long v) {
        name(n);
        sb.append(v);
        return this;
    }

    Json num(String n, Long v) {
        name(n);
        if (v == null) {
            sb.append("null");
        } else {
            sb.append(v.longValue());
        }
        return this;
    }

    Json dbl(String n, double v) {
        name(n);
        appendDouble(sb, v);
        return this;
    }

    Json bool(String n, boolean v) {
        name(n);
        sb.append(v);
        return this;
    }

    /** A value of a dimension-table column: null, Long, Double, Boolean or String. */
    Json value(String n, Object v) {
        name(n);
        appendValue(sb, v);
        return this;
    }

    Json ts(String n, long ms) {
        name(n);
        quote(sb, Time.formatTimestamp(ms));
        return this;
    }

    Json date(String n, long days) {
        name(n);
        quote(sb, Time.formatDate(days));
        return this;
    }

    String end() {
        sb.append('}');
        return sb.toString();
    }

    static void appendValue(StringBuilder sb, Object v) {
        if (v == null) {
            sb.append("null");
        } else if (v instanceof String s) {
            quote(sb, s);
        } else if (v instanceof Double d) {
            appendDouble(sb, d);
        } else {
            sb.append(v); // Long, Boolean
        }
    }

    private static final char[] HEX = "0123456789abcdef".toCharArray();

    /** A JSON string as serde_json writes it. */
    static void quote(StringBuilder sb, String s) {
        sb.append('"');
        int run = 0;
        int n = s.length();
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c >= 0x20 && c != '"' && c != '\\') {
                continue;
            }
            sb.append(s, run, i);
            run = i + 1;
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\b' -> sb.append("\\b");
                case '\t' -> sb.append("\\t");
                case '\n' -> sb.append("\\n");
                case '\f' -> sb.append("\\f");
                case '\r' -> sb.append("\\r");
                default -> sb.append("\\u00").append(HEX[c >> 4]).append(HEX[c & 0xF]);
            }
        }
        sb.append(s, run, n);
        sb.append('"');
    }

    /**
     * A double in ryu's layout (what serde_json prints). The shortest digits come from
     * jackson-core's Schubfach (Double.toString of JDK 19+; Java 17's own Double.toString
     * sometimes prints more digits than needed).
     */
    static void appendDouble(StringBuilder sb, double v) {
        if (!Double.isFinite(v)) {
            sb.append("null"); // serde_json::Number::from_f64 refuses it; to_json gives Null
            return;
        }
        if (v == 0.0) {
            sb.append((Double.doubleToRawLongBits(v) < 0) ? "-0.0" : "0.0");
            return;
        }
        String s = NumberOutput.toString(v, true); // e.g. "12.5", "1.0E-5", "1.234E10"
        int i = 0;
        if (s.charAt(0) == '-') {
            sb.append('-');
            i = 1;
        }
        int e = s.indexOf('E');
        int mantEnd = e < 0 ? s.length() : e;
        int exp10 = e < 0 ? 0 : Integer.parseInt(s, e + 1, s.length(), 10);
        // digits of the mantissa, the position of its point
        StringBuilder digits = new StringBuilder(20);
        int pointAt = -1;
        for (int j = i; j < mantEnd; j++) {
            char c = s.charAt(j);
            if (c == '.') {
                pointAt = digits.length();
            } else {
                digits.append(c);
            }
        }
        if (pointAt < 0) {
            pointAt = digits.length();
        }
        // value = 0.DIGITS * 10^(pointAt + exp10); strip leading and trailing zeros
        int lead = 0;
        while (lead < digits.length() - 1 && digits.charAt(lead) == '0') {
            lead++;
        }
        int trail = digits.length();
        while (trail > lead + 1 && digits.charAt(trail - 1) == '0') {
            trail--;
        }
        String d = digits.substring(lead, trail);
        int length = d.length();
        int kk = pointAt - lead + exp10; // 10^(kk-1) <= |v| < 10^kk
        if (length == 2) {
            // Java picks the closest of the 1- and 2-digit decimals that round to v, ryu
            // the shortest (4.9E-324 vs 5e-324): prefer one digit when one digit reads back
            String one = oneDigit(Math.abs(v), d, kk);
            if (one != null) {
                d = one.substring(0, 1);
                kk = one.length() > 1 ? kk + 1 : kk;
                length = 1;
            }
        }
        int k = kk - length; // v = d * 10^k
        if (0 <= k && kk <= 16) {
            sb.append(d);
            for (int z = 0; z < k; z++) {
                sb.append('0');
            }
            sb.append(".0");
        } else if (0 < kk && kk <= 16) {
            sb.append(d, 0, kk).append('.').append(d, kk, length);
        } else if (-5 < kk && kk <= 0) {
            sb.append("0.");
            for (int z = 0; z < -kk; z++) {
                sb.append('0');
            }
            sb.append(d);
        } else if (length == 1) {
            sb.append(d).append('e').append(kk - 1);
        } else {
            sb.append(d, 0, 1).append('.').append(d, 1, length).append('e').append(kk - 1);
        }
    }

    /**
     * The one-digit decimal nearest |v| that reads back as |v|, or null; a result of two
     * characters means the digit carried into the next power of ten ("10").
     */
    private static String oneDigit(double abs, String d, int kk) {
        int first = d.charAt(0) - '0';
        String best = null;
        java.math.BigDecimal exact = new java.math.BigDecimal(abs);
        java.math.BigDecimal bestDist = null;
        for (int c = first; c <= first + 1; c++) {
            java.math.BigDecimal cand = java.math.BigDecimal.valueOf(c).scaleByPowerOfTen(kk - 1);
            if (cand.signum() == 0 || cand.doubleValue() != abs) {
                continue;
            }
            java.math.BigDecimal dist = cand.subtract(exact).abs();
            if (bestDist == null || dist.compareTo(bestDist) < 0) {
                bestDist = dist;
                best = Integer.toString(c);
            }
        }
        return best;
    }

    static String doubleText(double v) {
        StringBuilder sb = new StringBuilder(24);
        appendDouble(sb, v);
        return sb.toString();
    }
}
