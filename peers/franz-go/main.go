// Command franz-go-producer drives franz-go's kgo producer through the
// side-by-side benchmark's client contract (see peers/README.md): a
// warm-up, then N records produced asynchronously as fast as the client
// accepts them, then one JSON result line on stdout. Logs go to stderr.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// poolLen is the size of the value pool every client builds the same way.
const poolLen = 1 << 20

func valuePool() []byte {
	pool := make([]byte, poolLen)
	state := uint64(0x9E3779B97F4A7C15)
	for i := range pool {
		state = state*6364136223846793005 + 1442695040888963407
		pool[i] = 'a' + byte((state>>33)%16)
	}
	return pool
}

func valueOffset(i uint64, size int) int {
	return int((i * 7919 * 64) % uint64(poolLen-size))
}

type args struct {
	bootstrap          string
	topic              string
	records            int64
	valueSize          int
	acks               string
	idempotence        bool
	lingerMs           int64
	compression        string
	warmup             int64
	transactionalID    string
	transactionRecords int64
}

func parseArgs() (args, error) {
	var a args
	fs := flag.NewFlagSet("franz-go-producer", flag.ContinueOnError)
	fs.StringVar(&a.bootstrap, "bootstrap", "", "HOST:PORT[,..]")
	fs.StringVar(&a.topic, "topic", "", "topic (pre-created)")
	fs.Int64Var(&a.records, "records", -1, "records in the measured phase")
	fs.IntVar(&a.valueSize, "value-size", -1, "value size in bytes")
	fs.StringVar(&a.acks, "acks", "all", "all|1|0")
	idem := fs.String("idempotence", "true", "true|false")
	fs.Int64Var(&a.lingerMs, "linger-ms", 5, "linger in milliseconds")
	fs.StringVar(&a.compression, "compression", "none", "none|gzip|snappy|lz4|zstd")
	fs.Int64Var(&a.warmup, "warmup", -1, "warm-up records (default min(N/10, 20000))")
	fs.StringVar(&a.transactionalID, "transactional-id", "", "transactional id")
	fs.Int64Var(&a.transactionRecords, "transaction-records", -1, "records per transaction")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return a, err
	}
	if fs.NArg() > 0 {
		return a, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if a.bootstrap == "" || a.topic == "" || a.records < 0 || a.valueSize < 0 {
		return a, errors.New("--bootstrap, --topic, --records and --value-size are required")
	}
	if a.valueSize >= poolLen {
		return a, fmt.Errorf("--value-size must be below %d", poolLen)
	}
	switch *idem {
	case "true":
		a.idempotence = true
	case "false":
	default:
		return a, errors.New("--idempotence must be true or false")
	}
	if a.lingerMs < 0 {
		return a, errors.New("--linger-ms must not be negative")
	}
	if a.warmup < 0 {
		a.warmup = min(a.records/10, 20000)
	}
	if (a.transactionalID == "") != (a.transactionRecords < 0) {
		return a, errors.New("--transactional-id and --transaction-records go together")
	}
	if a.transactionRecords == 0 {
		return a, errors.New("--transaction-records must be at least 1")
	}
	return a, nil
}

func clientOptions(a args) ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(strings.Split(a.bootstrap, ",")...),
		kgo.DefaultProduceTopic(a.topic),
		kgo.ProducerLinger(time.Duration(a.lingerMs) * time.Millisecond),
	}
	switch a.acks {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	default:
		return nil, errors.New("--acks must be all, 1 or 0")
	}
	if !a.idempotence {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	// kgo compresses with snappy unless told otherwise; the contract wants
	// exactly the codec asked for, so it is always set.
	var codec kgo.CompressionCodec
	switch a.compression {
	case "none":
		codec = kgo.NoCompression()
	case "gzip":
		codec = kgo.GzipCompression()
	case "snappy":
		codec = kgo.SnappyCompression()
	case "lz4":
		codec = kgo.Lz4Compression()
	case "zstd":
		codec = kgo.ZstdCompression()
	default:
		return nil, errors.New("--compression must be none, gzip, snappy, lz4 or zstd")
	}
	opts = append(opts, kgo.ProducerBatchCompression(codec))
	if a.transactionalID != "" {
		opts = append(opts, kgo.TransactionalID(a.transactionalID))
	}
	// FRANZ_GO_LOG=debug|info|warn|error logs the client to stderr; off by
	// default so that logging costs nothing in the measured run.
	if lvl := os.Getenv("FRANZ_GO_LOG"); lvl != "" {
		levels := map[string]kgo.LogLevel{
			"debug": kgo.LogLevelDebug, "info": kgo.LogLevelInfo,
			"warn": kgo.LogLevelWarn, "error": kgo.LogLevelError,
		}
		level, ok := levels[lvl]
		if !ok {
			return nil, fmt.Errorf("FRANZ_GO_LOG must be debug, info, warn or error, not %q", lvl)
		}
		opts = append(opts, kgo.WithLogger(kgo.BasicLogger(os.Stderr, level, nil)))
	}
	return opts, nil
}

// counters collect delivery reports from kgo's promise goroutine.
type counters struct {
	delivered atomic.Int64
	failed    atomic.Int64
	firstErr  sync.Once
	err       error
}

func (c *counters) fail(n int64, err error) {
	c.failed.Add(n)
	c.firstErr.Do(func() { c.err = err })
}

// promise is one function value for every record, so producing does not
// allocate a closure per record.
func (c *counters) promise(_ *kgo.Record, err error) {
	if err == nil {
		c.delivered.Add(1)
	} else {
		c.fail(1, err)
	}
}

// sendPhase produces count records, then waits for every one of them
// (Flush, and the commit of the last transaction). It returns the number
// of transactions committed.
func sendPhase(ctx context.Context, cl *kgo.Client, a args, pool []byte, count int64, c *counters) int64 {
	txn := a.transactionalID != ""
	var commits, inTxn, deliveredAtBegin int64
	promise := c.promise
	for i := int64(0); i < count; i++ {
		if txn && inTxn == 0 {
			if err := cl.BeginTransaction(); err != nil {
				// Fatal: every record left is counted as failed.
				c.fail(count-i, err)
				return commits
			}
			deliveredAtBegin = c.delivered.Load()
		}
		off := valueOffset(uint64(i), a.valueSize)
		// kgo never writes to a record's value, so records share the pool:
		// no copy, as a Go application handing over a slice would do.
		cl.Produce(ctx, &kgo.Record{Value: pool[off : off+a.valueSize]}, promise)
		if txn {
			inTxn++
			if inTxn == a.transactionRecords {
				commits += commit(ctx, cl, c, deliveredAtBegin)
				inTxn = 0
			}
		}
	}
	if txn && inTxn > 0 {
		commits += commit(ctx, cl, c, deliveredAtBegin)
	} else if !txn {
		if err := cl.Flush(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "franz-go-producer: flush:", err)
		}
	}
	return commits
}

// commit flushes and commits the open transaction. When the commit fails,
// the records reported delivered in it are aborted, so they move to failed.
func commit(ctx context.Context, cl *kgo.Client, c *counters, deliveredAtBegin int64) int64 {
	if err := cl.Flush(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "franz-go-producer: flush:", err)
	}
	commitErr := cl.EndTransaction(ctx, kgo.TryCommit)
	if commitErr == nil {
		return 1
	}
	aborted := c.delivered.Load() - deliveredAtBegin
	c.delivered.Add(-aborted)
	c.fail(aborted, commitErr)
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		fmt.Fprintln(os.Stderr, "franz-go-producer: abort failed:", err)
	}
	return 0
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func vmHWMKiB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				if n, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
					return n
				}
			}
		}
	}
	return -1
}

func libraryVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/twmb/franz-go" {
				return "franz-go " + d.Version
			}
		}
	}
	return "franz-go (unknown version)"
}

// result is the one JSON line; the field order is the contract's.
type result struct {
	Client         string  `json:"client"`
	Library        string  `json:"library"`
	Records        int64   `json:"records"`
	Delivered      int64   `json:"delivered"`
	Failed         int64   `json:"failed"`
	ElapsedS       float64 `json:"elapsed_s"`
	RecordsPerS    float64 `json:"records_per_s"`
	CPUS           float64 `json:"cpu_s"`
	CPUUsPerRecord float64 `json:"cpu_us_per_record"`
	PeakRSSKiB     int64   `json:"peak_rss_kb"`
	Transactions   int64   `json:"transactions"`
}

func main() {
	a, err := parseArgs()
	if err != nil {
		fmt.Fprintln(os.Stderr, "franz-go-producer:", err)
		os.Exit(2)
	}
	opts, err := clientOptions(a)
	if err != nil {
		fmt.Fprintln(os.Stderr, "franz-go-producer:", err)
		os.Exit(2)
	}
	pool := valuePool()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "franz-go-producer:", err)
		os.Exit(2)
	}
	ctx := context.Background()

	// kgo has no initTransactions: the transactional producer id is
	// initialized with the first transaction, which is in the warm-up.
	fmt.Fprintf(os.Stderr, "franz-go-producer: warm-up of %d records\n", a.warmup)
	var warm counters
	sendPhase(ctx, cl, a, pool, a.warmup, &warm)
	if warm.failed.Load() > 0 {
		fmt.Fprintln(os.Stderr, "franz-go-producer: warm-up failed:", warm.err)
		cl.Close()
		os.Exit(1)
	}

	fmt.Fprintf(os.Stderr, "franz-go-producer: measuring %d records of %d B\n", a.records, a.valueSize)
	var c counters
	cpu0 := cpuSeconds()
	t0 := time.Now()
	transactions := sendPhase(ctx, cl, a, pool, a.records, &c)
	elapsed := time.Since(t0).Seconds()
	cpu := cpuSeconds() - cpu0
	cl.Close()
	// VmHWM is a high-water mark: read after Close it is still the peak.
	rss := vmHWMKiB()

	delivered, failed := c.delivered.Load(), c.failed.Load()
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "franz-go-producer: %d records failed; first error: %v\n", failed, c.err)
	}
	r := result{
		Client:       "franz-go",
		Library:      libraryVersion(),
		Records:      a.records,
		Delivered:    delivered,
		Failed:       failed,
		ElapsedS:     elapsed,
		CPUS:         cpu,
		PeakRSSKiB:   rss,
		Transactions: transactions,
	}
	if elapsed > 0 {
		r.RecordsPerS = float64(a.records) / elapsed
	}
	r.CPUUsPerRecord = cpu * 1e6 / float64(max(a.records, 1))
	line, _ := json.Marshal(r)
	fmt.Println(string(line))
	if failed > 0 || delivered != a.records {
		os.Exit(1)
	}
}
