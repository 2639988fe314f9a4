package streamsapp.bench;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/**
 * A compact binary encoding for the values Kafka Streams keeps in repartition topics,
 * window stores and suppression buffers (what one would use Avro or Protobuf for;
 * without a schema registry). Big-endian fixed-width numbers, strings as a length and
 * UTF-8 bytes, dimension values with a one-byte type tag.
 */
final class Bin {
    private Bin() {}

    interface Encoder<T> {
        void write(T v, Out out);
    }

    interface DecoderFn<T> {
        T read(In in);
    }

    static <T> Serde<T> serde(Encoder<T> enc, DecoderFn<T> dec) {
        Serializer<T> ser = (topic, v) -> {
            if (v == null) {
                return null;
            }
            Out out = new Out(128);
            enc.write(v, out);
            return out.bytes();
        };
        Deserializer<T> de = (topic, b) -> b == null ? null : dec.read(new In(b));
        return Serdes.serdeFrom(ser, de);
    }

    static final class Out {
        private byte[] buf;
        private int n;

        Out(int capacity) {
            buf = new byte[capacity];
        }

        /** Makes room for k more bytes. */
        void room(int k) {
            if (n + k > buf.length) {
                buf = Arrays.copyOf(buf, Math.max(buf.length * 2, n + k));
            }
        }

        void u8(int v) {
            room(1);
            buf[n++] = (byte) v;
        }

        void i32(int v) {
            room(4);
            buf[n++] = (byte) (v >>> 24);
            buf[n++] = (byte) (v >>> 16);
            buf[n++] = (byte) (v >>> 8);
            buf[n++] = (byte) v;
        }

        void i64(long v) {
            room(8);
            for (int s = 56; s >= 0; s -= 8) {
                buf[n++] = (byte) (v >>> s);
            }
        }

        void f64(double v) {
            i64(Double.doubleToRawLongBits(v));
        }

        void str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            i32(b.length);
            room(b.length);
            System.arraycopy(b, 0, buf, n, b.length);
            n += b.length;
        }

        /** A dimension value: null, Long, Double, Boolean or String. */
        void value(Object v) {
            if (v == null) {
                u8('N');
            } else if (v instanceof String s) {
                u8('S');
                str(s);
            } else if (v instanceof Long l) {
                u8('L');
                i64(l);
            } else if (v instanceof Double d) {
                u8('D');
                f64(d);
            } else if (v instanceof Boolean b) {
                u8(b ? 'T' : 'F');
            } else {
                throw new IllegalArgumentException("not a dimension value: " + v.getClass());
            }
        }

        byte[] bytes() {
            return n == buf.length ? buf : Arrays.copyOf(buf, n);
        }
    }

    static final class In {
        private final byte[] b;
        private int p;

        In(byte[] b) {
            this.b = b;
        }

        int u8() {
            return b[p++] & 0xFF;
        }

        int i32() {
            int v = ((b[p] & 0xFF) << 24) | ((b[p + 1] & 0xFF) << 16) | ((b[p + 2] & 0xFF) << 8) | (b[p + 3] & 0xFF);
            p += 4;
            return v;
        }

        long i64() {
            long v = 0;
            for (int i = 0; i < 8; i++) {
                v = (v << 8) | (b[p++] & 0xFF);
            }
            return v;
        }

        double f64() {
            return Double.longBitsToDouble(i64());
        }

        String str() {
            int len = i32();
            String s = new String(b, p, len, StandardCharsets.UTF_8);
            p += len;
            return s;
        }

        Object value() {
            int tag = u8();
            return switch (tag) {
                case 'N' -> null;
                case 'S' -> str();
                case 'L' -> i64();
                case 'D' -> f64();
                case 'T' -> Boolean.TRUE;
                case 'F' -> Boolean.FALSE;
                default -> throw new IllegalStateException("bad value tag " + tag);
            };
        }
    }
}
