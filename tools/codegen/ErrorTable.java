// Prints Kafka's protocol error table as tab-separated values, from the Java
// client itself: spec/error-codes.tsv is this program's output, so the table
// says exactly what the client of the vendored version says.
//
// Columns: code, name (Kafka's), exception (the Java client's exception class,
// simple name; empty for NONE) and retriable ("yes" when that exception is a
// RetriableException or an InvalidMetadataException, the two families the
// Java producer retries).
//
// Run with kafka-clients (and its runtime dependencies) on the classpath:
//   java -cp "$CLASSPATH" tools/codegen/ErrorTable.java > spec/error-codes.tsv
// tools/codegen/refresh-spec.sh does this for a given Kafka version.

import java.util.Arrays;
import java.util.Comparator;

import org.apache.kafka.common.errors.InvalidMetadataException;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.protocol.Errors;

public class ErrorTable {
    public static void main(String[] args) {
        StringBuilder out = new StringBuilder("code\tname\texception\tretriable\n");
        Errors[] errors = Errors.values();
        // Declaration order is code order today; sorting keeps the table
        // stable should Kafka ever declare a code out of order.
        Arrays.sort(errors, Comparator.comparingInt(Errors::code));
        for (Errors error : errors) {
            Throwable exception = error.exception();
            String exceptionName = exception == null ? "" : exception.getClass().getSimpleName();
            boolean retriable = exception instanceof RetriableException
                    || exception instanceof InvalidMetadataException;
            if (error.name().contains("\t") || exceptionName.contains("\t")) {
                throw new IllegalStateException("a tab in " + error.name() + " would break the table");
            }
            out.append(error.code()).append('\t')
                    .append(error.name()).append('\t')
                    .append(exceptionName).append('\t')
                    .append(retriable ? "yes" : "no").append('\n');
        }
        System.out.print(out);
        System.out.flush();
    }
}
