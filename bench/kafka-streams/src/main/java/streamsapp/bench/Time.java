package streamsapp.bench;

import java.time.LocalDate;

/**
 * Time as streams-app reads and writes it (crates/streams-core/src/value.rs):
 * timestamps are epoch milliseconds, written as RFC 3339 UTC with milliseconds
 * (chrono's to_rfc3339_opts(Millis, true)), dates are days since the epoch written
 * YYYY-MM-DD, and the input's timestamp strings are parsed like parse_timestamp
 * (RFC 3339 with any offset; "YYYY-MM-DD HH:MM:SS[.fff]" or with a T, as UTC; a bare
 * date as midnight UTC), following chrono's parsers rule for rule.
 */
final class Time {
    private Time() {}

    static final long DAY_MS = 86_400_000L;
    // chrono's NaiveDate range (about ±262,000 years)
    private static final int MIN_YEAR = -262_144;
    private static final int MAX_YEAR = 262_143;

    /** The UTC date of a timestamp (value.rs date_of). */
    static long dateOf(long ms) {
        return Math.floorDiv(ms, DAY_MS);
    }

    /** value.rs format_timestamp: "2024-01-01T00:00:00.000Z"; out of chrono's range: the number. */
    static String formatTimestamp(long ms) {
        long days = Math.floorDiv(ms, DAY_MS);
        long rest = Math.floorMod(ms, DAY_MS);
        LocalDate d;
        try {
            d = LocalDate.ofEpochDay(days);
        } catch (RuntimeException e) {
            return Long.toString(ms);
        }
        if (d.getYear() < MIN_YEAR || d.getYear() > MAX_YEAR) {
            return Long.toString(ms);
        }
        StringBuilder sb = new StringBuilder(24);
        appendDate(sb, d);
        long s = rest / 1000;
        sb.append('T');
        pad2(sb, (int) (s / 3600));
        sb.append(':');
        pad2(sb, (int) (s / 60 % 60));
        sb.append(':');
        pad2(sb, (int) (s % 60));
        sb.append('.');
        int milli = (int) (rest % 1000);
        sb.append((char) ('0' + milli / 100)).append((char) ('0' + milli / 10 % 10)).append((char) ('0' + milli % 10));
        sb.append('Z');
        return sb.toString();
    }

    /** value.rs format_date. */
    static String formatDate(long days) {
        LocalDate d;
        try {
            d = LocalDate.ofEpochDay(days);
        } catch (RuntimeException e) {
            return Long.toString(days);
        }
        StringBuilder sb = new StringBuilder(12);
        appendDate(sb, d);
        return sb.toString();
    }

    private static void appendDate(StringBuilder sb, LocalDate d) {
        int y = d.getYear();
        if (y >= 0 && y <= 9999) {
            sb.append((char) ('0' + y / 1000)).append((char) ('0' + y / 100 % 10));
            sb.append((char) ('0' + y / 10 % 10)).append((char) ('0' + y % 10));
        } else {
            sb.append(String.format("%+05d", y)); // chrono: "{:+05}"
        }
        sb.append('-');
        pad2(sb, d.getMonthValue());
        sb.append('-');
        pad2(sb, d.getDayOfMonth());
    }

    private static void pad2(StringBuilder sb, int v) {
        sb.append((char) ('0' + v / 10)).append((char) ('0' + v % 10));
    }

    // ---- parsing ----------------------------------------------------------------------

    /** Rust's char::is_whitespace (Unicode White_Space). */
    static boolean isRustWhitespace(char c) {
        if (c <= 0x20) {
            return c == ' ' || (c >= 0x09 && c <= 0x0D);
        }
        if (c < 0x85) {
            return false;
        }
        return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A)
            || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
    }

    /** Rust's str::trim. */
    static String rustTrim(String s) {
        int a = 0;
        int b = s.length();
        while (a < b && isRustWhitespace(s.charAt(a))) {
            a++;
        }
        while (b > a && isRustWhitespace(s.charAt(b - 1))) {
            b--;
        }
        return (a == 0 && b == s.length()) ? s : s.substring(a, b);
    }

    /** Whether Rust's str::trim would give an empty string. */
    static boolean isRustBlank(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (!isRustWhitespace(s.charAt(i))) {
                return false;
            }
        }
        return true;
    }

    static final long NONE = Long.MIN_VALUE;

    /** value.rs parse_timestamp: epoch ms, or NONE when the text is not a time. */
    static long parseTimestamp(String text) {
        String s = rustTrim(text);
        long v = parseRfc3339(s);
        if (v != NONE) {
            return v;
        }
        v = parseNaive(s, true, ' ');
        if (v != NONE) {
            return v;
        }
        v = parseNaive(s, true, 'T');
        if (v != NONE) {
            return v;
        }
        return parseNaive(s, false, ' ');
    }

    private static int digit(String s, int i) {
        char c = s.charAt(i);
        return (c >= '0' && c <= '9') ? c - '0' : -1;
    }

    /** chrono's parse_rfc3339 (format/parse.rs). */
    private static long parseRfc3339(String s) {
        if (s.length() < 19) {
            return NONE;
        }
        int[] d = new int[19];
        for (int i : new int[] {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18}) {
            d[i] = digit(s, i);
            if (d[i] < 0) {
                return NONE;
            }
        }
        if (s.charAt(4) != '-' || s.charAt(7) != '-') {
            return NONE;
        }
        char sep = s.charAt(10);
        if (sep != 'T' && sep != 't' && sep != ' ') {
            return NONE;
        }
        if (s.charAt(13) != ':' || s.charAt(16) != ':') {
            return NONE;
        }
        int year = d[0] * 1000 + d[1] * 100 + d[2] * 10 + d[3];
        int month = d[5] * 10 + d[6];
        int day = d[8] * 10 + d[9];
        long epochDay = epochDay(year, month, day);
        if (epochDay == NONE) {
            return NONE;
        }
        int hour = d[11] * 10 + d[12];
        int min = d[14] * 10 + d[15];
        int sec = d[17] * 10 + d[18];
        long extraNanos = 0;
        if (sec == 60) {
            sec = 59;
            extraNanos = 1_000_000_000L;
        }
        int i = 19;
        long nanos = 0;
        if (i < s.length() && s.charAt(i) == '.') {
            i++;
            int start = i;
            long v = 0;
            while (i < s.length() && i - start < 9 && digit(s, i) >= 0) {
                v = v * 10 + digit(s, i);
                i++;
            }
            int n = i - start;
            if (n == 0) {
                return NONE;
            }
            for (int z = n; z < 9; z++) {
                v *= 10;
            }
            while (i < s.length() && digit(s, i) >= 0) {
                i++;
            }
            nanos = v;
        }
        nanos += extraNanos;
        if (hour >= 24 || min >= 60 || sec >= 60 || nanos >= 2_000_000_000L
            || (nanos >= 1_000_000_000L && sec != 59)) {
            return NONE;
        }
        // offset: Z / z, or (+|-|U+2212) HH ':' MM
        if (i >= s.length()) {
            return NONE;
        }
        long offsetSec;
        char c = s.charAt(i);
        if (c == 'Z' || c == 'z') {
            offsetSec = 0;
            i++;
        } else {
            boolean negative;
            if (c == '+') {
                negative = false;
            } else if (c == '-' || c == '\u2212') {
                negative = true;
            } else {
                return NONE;
            }
            i++;
            if (s.length() - i < 2 || digit(s, i) < 0 || digit(s, i + 1) < 0) {
                return NONE;
            }
            int oh = digit(s, i) * 10 + digit(s, i + 1);
            i += 2;
            if (i >= s.length() || s.charAt(i) != ':') {
                return NONE;
            }
            i++;
            if (s.length() - i < 2) {
                return NONE;
            }
            int m1 = digit(s, i);
            int m2 = digit(s, i + 1);
            if (m1 < 0 || m1 > 5 || m2 < 0) {
                return NONE;
            }
            i += 2;
            offsetSec = oh * 3600L + (m1 * 10 + m2) * 60L;
            if (offsetSec >= 86_400) {
                return NONE; // FixedOffset::east_opt
            }
            if (negative) {
                offsetSec = -offsetSec;
            }
        }
        if (i != s.length()) {
            return NONE;
        }
        long secs = epochDay * 86_400L + hour * 3600L + min * 60L + sec - offsetSec;
        return secs * 1000 + nanos / 1_000_000;
    }

    /** Days since the epoch of a valid date in chrono's range, else NONE. */
    private static long epochDay(long year, long month, long day) {
        if (year < MIN_YEAR || year > MAX_YEAR || month < 1 || month > 12 || day < 1 || day > 31) {
            return NONE;
        }
        try {
            return LocalDate.of((int) year, (int) month, (int) day).toEpochDay();
        } catch (RuntimeException e) {
            return NONE;
        }
    }

    /**
     * chrono's NaiveDateTime::parse_from_str with "%Y-%m-%d{sep}%H:%M:%S%.f" (withTime;
     * sep ' ' is a whitespace item, 'T' a literal) or NaiveDate's "%Y-%m-%d": numbers may
     * be preceded by whitespace, have 1..width digits (a signed year any number), and
     * nothing may follow.
     */
    private static long parseNaive(String s, boolean withTime, char sep) {
        int[] pos = {0};
        long year = number(s, pos, 4, true);
        if (year == NONE || !literal(s, pos, '-')) {
            return NONE;
        }
        long month = number(s, pos, 2, false);
        if (month == NONE || !literal(s, pos, '-')) {
            return NONE;
        }
        long day = number(s, pos, 2, false);
        if (day == NONE) {
            return NONE;
        }
        if (year < Integer.MIN_VALUE || year > Integer.MAX_VALUE || month > 12 || month < 1
            || day < 1 || day > 31) {
            return NONE;
        }
        if (!withTime) {
            if (pos[0] != s.length()) {
                return NONE;
            }
            long ed = epochDay(year, month, day);
            return ed == NONE ? NONE : ed * DAY_MS;
        }
        if (sep == ' ') {
            skipSpace(s, pos);
        } else if (!literal(s, pos, sep)) {
            return NONE;
        }
        long hour = number(s, pos, 2, false);
        if (hour == NONE || !literal(s, pos, ':')) {
            return NONE;
        }
        long min = number(s, pos, 2, false);
        if (min == NONE || !literal(s, pos, ':')) {
            return NONE;
        }
        long sec = number(s, pos, 2, false);
        if (sec == NONE) {
            return NONE;
        }
        long nanos = 0;
        int i = pos[0];
        if (i < s.length() && s.charAt(i) == '.') {
            i++;
            int start = i;
            long v = 0;
            while (i < s.length() && i - start < 9 && digit(s, i) >= 0) {
                v = v * 10 + digit(s, i);
                i++;
            }
            int n = i - start;
            if (n == 0) {
                return NONE;
            }
            for (int z = n; z < 9; z++) {
                v *= 10;
            }
            while (i < s.length() && digit(s, i) >= 0) {
                i++;
            }
            nanos = v;
        }
        if (i != s.length()) {
            return NONE;
        }
        if (hour > 23 || min > 59 || sec > 60) {
            return NONE;
        }
        if (sec == 60) {
            sec = 59;
            nanos += 1_000_000_000L;
        }
        long ed = epochDay(year, month, day);
        if (ed == NONE) {
            return NONE;
        }
        return (ed * 86_400L + hour * 3600L + min * 60L + sec) * 1000 + nanos / 1_000_000;
    }

    private static void skipSpace(String s, int[] pos) {
        while (pos[0] < s.length() && isRustWhitespace(s.charAt(pos[0]))) {
            pos[0]++;
        }
    }

    private static boolean literal(String s, int[] pos, char c) {
        if (pos[0] < s.length() && s.charAt(pos[0]) == c) {
            pos[0]++;
            return true;
        }
        return false;
    }

    /** chrono's numeric item: whitespace, then 1..width digits (signed: +/- then any). */
    private static long number(String s, int[] pos, int width, boolean signed) {
        skipSpace(s, pos);
        int i = pos[0];
        boolean negative = false;
        int max = width;
        if (signed && i < s.length() && (s.charAt(i) == '-' || s.charAt(i) == '+')) {
            negative = s.charAt(i) == '-';
            i++;
            max = Integer.MAX_VALUE;
        }
        int start = i;
        long v = 0;
        while (i < s.length() && i - start < max && digit(s, i) >= 0) {
            if (v > (Long.MAX_VALUE - 9) / 10) {
                return NONE;
            }
            v = v * 10 + digit(s, i);
            i++;
        }
        if (i == start) {
            return NONE;
        }
        pos[0] = i;
        return negative ? -v : v;
    }
}
