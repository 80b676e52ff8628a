package kpp.peers;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;

import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.AppInfoParser;

/**
 * The Java KafkaProducer driven by the side-by-side benchmark's client
 * contract (see peers/README.md): a warm-up, then N records sent
 * asynchronously as fast as the client accepts them, then one JSON result
 * line on stdout. Logs go to stderr.
 */
public final class JavaProducer {
    /** Shared with every other client: 1 MiB of pseudo-random lowercase bytes. */
    static final int POOL_LEN = 1 << 20;

    public static void main(String[] argv) throws Exception {
        Args args;
        try {
            args = Args.parse(argv);
        } catch (IllegalArgumentException e) {
            System.err.println("java-producer: " + e.getMessage());
            System.err.println(Args.USAGE);
            System.exit(2);
            return;
        }
        System.exit(run(args));
    }

    static byte[] valuePool() {
        byte[] pool = new byte[POOL_LEN];
        long state = 0x9E3779B97F4A7C15L;
        for (int i = 0; i < POOL_LEN; i++) {
            // Java's long arithmetic wraps, as the contract's u64 does.
            state = state * 6364136223846793005L + 1442695040888963407L;
            pool[i] = (byte) ('a' + ((state >>> 33) % 16));
        }
        return pool;
    }

    static int valueOffset(long i, int valueSize) {
        return (int) ((i * 7919L * 64L) % (POOL_LEN - valueSize));
    }

    static int run(Args a) throws IOException {
        if (a.valueSize < 0 || a.valueSize >= POOL_LEN) {
            System.err.println("java-producer: --value-size must be in 0.." + (POOL_LEN - 1));
            return 2;
        }
        byte[] pool = valuePool();

        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, a.bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, a.acks);
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, a.idempotence);
        p.put(ProducerConfig.LINGER_MS_CONFIG, a.lingerMs);
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, a.compression);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        if (a.transactionalId != null) {
            p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, a.transactionalId);
        }

        Counters warm = new Counters();
        Counters measured = new Counters();
        long transactions = 0;
        double elapsedS;
        double cpuS;
        com.sun.management.OperatingSystemMXBean os =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

        KafkaProducer<byte[], byte[]> created;
        try {
            created = new KafkaProducer<>(p);
        } catch (KafkaException e) {
            // Bad settings, such as acks=1 with idempotence on.
            System.err.println("java-producer: cannot create the producer: " + e.getMessage()
                + (e.getCause() != null ? ": " + e.getCause().getMessage() : ""));
            return 2;
        }
        try (KafkaProducer<byte[], byte[]> producer = created) {
            if (a.transactionalId != null) {
                producer.initTransactions();
            }
            System.err.printf("java-producer: warm-up of %d records%n", a.warmup);
            sendPhase(producer, a, pool, a.warmup, warm);
            if (warm.failed.sum() > 0) {
                System.err.println("java-producer: warm-up failed: " + warm.firstError.get());
                return 1;
            }

            System.err.printf("java-producer: measuring %d records of %d B%n", a.records, a.valueSize);
            long cpu0 = os.getProcessCpuTime();
            long t0 = System.nanoTime();
            transactions = sendPhase(producer, a, pool, a.records, measured);
            long t1 = System.nanoTime();
            long cpu1 = os.getProcessCpuTime();
            elapsedS = (t1 - t0) / 1e9;
            cpuS = (cpu1 - cpu0) / 1e9;
        }
        // VmHWM is the high-water mark, so reading it after close still
        // gives the peak reached while sending.
        long peakRssKb = vmHwmKb();

        long delivered = measured.delivered.sum();
        long failed = measured.failed.sum();
        if (failed > 0) {
            System.err.println("java-producer: " + failed + " records failed; first error: "
                + measured.firstError.get());
        }
        long denom = Math.max(1, a.records);
        System.out.println(String.format(Locale.ROOT,
            "{\"client\":\"java\",\"library\":\"kafka-clients %s\",\"records\":%d,\"delivered\":%d,"
                + "\"failed\":%d,\"elapsed_s\":%.6f,\"records_per_s\":%.1f,\"cpu_s\":%.6f,"
                + "\"cpu_us_per_record\":%.4f,\"peak_rss_kb\":%d,\"transactions\":%d}",
            AppInfoParser.getVersion(), a.records, delivered, failed, elapsedS,
            elapsedS > 0 ? a.records / elapsedS : 0.0, cpuS, cpuS * 1e6 / denom, peakRssKb,
            transactions));
        System.out.flush();
        return (failed > 0 || delivered != a.records) ? 1 : 0;
    }

    /**
     * Sends {@code count} records, then waits until each is acknowledged
     * (flush, or the commit of the last transaction). Returns the number of
     * transactions committed.
     */
    static long sendPhase(KafkaProducer<byte[], byte[]> producer, Args a, byte[] pool, long count,
                          Counters c) {
        boolean txn = a.transactionalId != null;
        long commits = 0;
        long inTxn = 0;
        long deliveredAtBegin = 0;
        for (long i = 0; i < count; i++) {
            if (txn && inTxn == 0) {
                try {
                    producer.beginTransaction();
                } catch (KafkaException e) {
                    // Fatal (the producer is in an error state): every record
                    // left is counted as failed, as franz-go does.
                    c.failed.add(count - i);
                    c.firstError.compareAndSet(null, e);
                    return commits;
                }
                deliveredAtBegin = c.delivered.sum();
            }
            int off = valueOffset(i, a.valueSize);
            // The API takes a byte[] per record, so each value is copied out
            // of the pool, as an application handing over its payload would.
            byte[] value = Arrays.copyOfRange(pool, off, off + a.valueSize);
            try {
                producer.send(new ProducerRecord<>(a.topic, null, value), c);
            } catch (KafkaException e) {
                c.fail(e);
            }
            if (txn && ++inTxn == a.transactionRecords) {
                commits += commit(producer, c, inTxn, deliveredAtBegin) ? 1 : 0;
                inTxn = 0;
            }
        }
        if (txn && inTxn > 0) {
            commits += commit(producer, c, inTxn, deliveredAtBegin) ? 1 : 0;
        } else if (!txn) {
            producer.flush();
        }
        return commits;
    }

    /**
     * Commits the open transaction. When the commit fails, the records its
     * callbacks reported as delivered are aborted, so they move to failed.
     */
    static boolean commit(KafkaProducer<byte[], byte[]> producer, Counters c, long inTxn,
                          long deliveredAtBegin) {
        try {
            producer.commitTransaction();
            return true;
        } catch (KafkaException e) {
            long aborted = c.delivered.sum() - deliveredAtBegin;
            c.delivered.add(-aborted);
            c.failed.add(aborted);
            c.firstError.compareAndSet(null, e);
            try {
                producer.abortTransaction();
            } catch (KafkaException abortError) {
                // Fatal (fenced, say): the next beginTransaction throws and
                // every later record is counted as failed.
                System.err.println("java-producer: abort failed: " + abortError);
            }
            return false;
        }
    }

    static long vmHwmKb() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"), StandardCharsets.UTF_8)) {
            if (line.startsWith("VmHWM:")) {
                return Long.parseLong(line.substring(6).trim().split("\\s+")[0]);
            }
        }
        return -1;
    }

    /** Delivery reports, counted from the producer's I/O thread. */
    static final class Counters implements Callback {
        final LongAdder delivered = new LongAdder();
        final LongAdder failed = new LongAdder();
        final AtomicReference<Exception> firstError = new AtomicReference<>();

        @Override
        public void onCompletion(org.apache.kafka.clients.producer.RecordMetadata metadata,
                                 Exception exception) {
            if (exception == null) {
                delivered.increment();
            } else {
                fail(exception);
            }
        }

        void fail(Exception e) {
            failed.increment();
            firstError.compareAndSet(null, e);
        }
    }

    static final class Args {
        static final String USAGE =
            "usage: java-producer --bootstrap HOST:PORT[,..] --topic T --records N --value-size BYTES\n"
                + "         [--acks all|1|0] [--idempotence true|false] [--linger-ms 5]\n"
                + "         [--compression none|gzip|snappy|lz4|zstd] [--warmup N]\n"
                + "         [--transactional-id ID --transaction-records M]";

        String bootstrap;
        String topic;
        long records = -1;
        int valueSize = -1;
        String acks = "all";
        String idempotence = "true";
        String lingerMs = "5";
        String compression = "none";
        long warmup = -1;
        String transactionalId;
        long transactionRecords = -1;

        static Args parse(String[] argv) {
            Map<String, String> m = new HashMap<>();
            for (int i = 0; i < argv.length; i++) {
                String k = argv[i];
                if (!k.startsWith("--")) {
                    throw new IllegalArgumentException("unexpected argument " + k);
                }
                String v;
                int eq = k.indexOf('=');
                if (eq >= 0) {
                    v = k.substring(eq + 1);
                    k = k.substring(0, eq);
                } else if (i + 1 < argv.length) {
                    v = argv[++i];
                } else {
                    throw new IllegalArgumentException(k + " needs a value");
                }
                m.put(k.substring(2), v);
            }
            Args a = new Args();
            a.bootstrap = m.remove("bootstrap");
            a.topic = m.remove("topic");
            a.records = parseLong(m.remove("records"), "--records", -1);
            a.valueSize = (int) parseLong(m.remove("value-size"), "--value-size", -1);
            a.acks = oneOf(m.remove("acks"), "--acks", "all", "all", "1", "0", "-1");
            a.idempotence = oneOf(m.remove("idempotence"), "--idempotence", "true", "true", "false");
            a.lingerMs = Long.toString(parseLong(m.remove("linger-ms"), "--linger-ms", 5));
            a.compression = oneOf(m.remove("compression"), "--compression", "none",
                "none", "gzip", "snappy", "lz4", "zstd");
            a.warmup = parseLong(m.remove("warmup"), "--warmup", -1);
            a.transactionalId = m.remove("transactional-id");
            a.transactionRecords = parseLong(m.remove("transaction-records"), "--transaction-records", -1);
            if (!m.isEmpty()) {
                throw new IllegalArgumentException("unknown option(s) --" + String.join(", --", m.keySet()));
            }
            if (a.bootstrap == null || a.topic == null || a.records < 0 || a.valueSize < 0) {
                throw new IllegalArgumentException("--bootstrap, --topic, --records and --value-size are required");
            }
            if (a.warmup < 0) {
                a.warmup = Math.min(a.records / 10, 20000);
            }
            if ((a.transactionalId == null) != (a.transactionRecords < 0)) {
                throw new IllegalArgumentException("--transactional-id and --transaction-records go together");
            }
            if (a.transactionRecords == 0) {
                throw new IllegalArgumentException("--transaction-records must be at least 1");
            }
            return a;
        }

        static long parseLong(String v, String name, long dflt) {
            if (v == null) {
                return dflt;
            }
            try {
                long n = Long.parseLong(v);
                if (n < 0) {
                    throw new IllegalArgumentException(name + " must not be negative");
                }
                return n;
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(name + ": not a number: " + v);
            }
        }

        static String oneOf(String v, String name, String dflt, String... allowed) {
            if (v == null) {
                return dflt;
            }
            for (String s : allowed) {
                if (s.equals(v)) {
                    return v;
                }
            }
            throw new IllegalArgumentException(name + " must be one of " + String.join("|", allowed));
        }
    }
}
