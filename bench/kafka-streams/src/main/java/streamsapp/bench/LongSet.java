package streamsapp.bench;

import java.util.Arrays;

/** An exact set of longs (user ids) as a sorted array: small to store, quick to merge. */
final class LongSet {
    private long[] v;
    private int n;

    LongSet() {
        v = new long[8];
    }

    private LongSet(long[] v, int n) {
        this.v = v;
        this.n = n;
    }

    int size() {
        return n;
    }

    void add(long x) {
        int i = Arrays.binarySearch(v, 0, n, x);
        if (i >= 0) {
            return;
        }
        i = -i - 1;
        if (n == v.length) {
            v = Arrays.copyOf(v, Math.max(8, n * 2));
        }
        System.arraycopy(v, i, v, i + 1, n - i);
        v[i] = x;
        n++;
    }

    void addAll(LongSet o) {
        long[] m = new long[n + o.n];
        int i = 0;
        int j = 0;
        int k = 0;
        while (i < n && j < o.n) {
            long a = v[i];
            long b = o.v[j];
            if (a < b) {
                m[k++] = a;
                i++;
            } else if (b < a) {
                m[k++] = b;
                j++;
            } else {
                m[k++] = a;
                i++;
                j++;
            }
        }
        while (i < n) {
            m[k++] = v[i++];
        }
        while (j < o.n) {
            m[k++] = o.v[j++];
        }
        v = m;
        n = k;
    }

    void write(Bin.Out out) {
        out.room(4 + 8 * n);
        out.i32(n);
        for (int i = 0; i < n; i++) {
            out.i64(v[i]);
        }
    }

    static LongSet read(Bin.In in) {
        int n = in.i32();
        // room for the few ids an update adds before the set is written again
        long[] v = new long[n + 8];
        for (int i = 0; i < n; i++) {
            v[i] = in.i64();
        }
        return new LongSet(v, n);
    }
}
