//! Runs seeded fault schedules of the real producer against the simulated
//! cluster and checks every guarantee after each run.
//!
//! ```text
//! cargo run --release -p kafka-producer-proto --example sim -- --schedules 1000000   # the long run
//! cargo run --release -p kafka-producer-proto --example sim -- --replay 1234         # one seed, in full
//! cargo run --release -p kafka-producer-proto --example sim -- --bytes crash-file    # a fuzzer input
//! ```
//!
//! It prints a progress bar, then a table of the faults injected and the
//! checks made, and every failing seed with the command that replays it.
//! The exit status is 1 when any run broke a guarantee.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use kafka_producer_proto::sim::{
    CheckTally, Entropy, FaultTally, Report, Schedule, Violation, run_bytes, run_seed,
};

struct Args {
    schedules: u64,
    first_seed: u64,
    jobs: u64,
    replay: Option<u64>,
    bytes: Option<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: sim [--schedules N] [--seed FIRST] [--jobs J] | --replay SEED | --bytes FILE"
    );
    std::process::exit(2)
}

fn parse() -> Args {
    let mut a = Args {
        schedules: 10_000,
        first_seed: 0,
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        replay: None,
        bytes: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        let number = |v: String| {
            v.replace('_', "")
                .parse::<u64>()
                .unwrap_or_else(|_| usage())
        };
        match flag.as_str() {
            "--schedules" => a.schedules = number(value()),
            "--seed" => a.first_seed = number(value()),
            "--jobs" => a.jobs = number(value()).max(1),
            "--replay" => a.replay = Some(number(value())),
            "--bytes" => a.bytes = Some(value()),
            _ => usage(),
        }
    }
    a
}

fn main() {
    let args = parse();
    // Panics are counted and reported with their seed, not printed as
    // they happen from every worker thread.
    if args.replay.is_none() && args.bytes.is_none() {
        std::panic::set_hook(Box::new(|_| {}));
    }
    if let Some(seed) = args.replay {
        // The schedule first: a run that panics has no report to print.
        let schedule = Schedule::generate(&mut Entropy::seeded(seed));
        println!("seed {seed}\n{schedule}");
        let report = run_seed(seed);
        for line in &report.trace {
            println!("{line}");
        }
        print!("{report}");
        print_checks(&report.checks);
        std::process::exit(i32::from(!report.violations.is_empty()));
    }
    if let Some(path) = &args.bytes {
        let data = std::fs::read(path).unwrap_or_else(|e| {
            eprintln!("sim: cannot read {path}: {e}");
            std::process::exit(2)
        });
        let report = run_bytes(&data);
        print!("{report}");
        print_checks(&report.checks);
        std::process::exit(i32::from(!report.violations.is_empty()));
    }
    long_run(&args);
}

/// Totals over many runs.
#[derive(Default)]
struct Totals {
    runs: u64,
    accepted: u64,
    delivered: u64,
    failed: u64,
    refused: u64,
    virtual_secs: f64,
    faults: FaultTally,
    checks: CheckTally,
    failing: Vec<Report>,
}

impl Totals {
    fn add(&mut self, r: Report) {
        self.runs += 1;
        self.accepted += r.accepted;
        self.delivered += r.delivered;
        self.failed += r.failed;
        self.refused += r.refused;
        self.virtual_secs += r.virtual_time.as_secs_f64();
        self.faults.add(&r.faults);
        self.checks.add(&r.checks);
        if !r.violations.is_empty() {
            self.failing.push(r);
        }
    }
}

fn long_run(args: &Args) {
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::channel::<Report>();
    for _ in 0..args.jobs {
        let (next, tx, total, first) = (next.clone(), tx.clone(), args.schedules, args.first_seed);
        std::thread::spawn(move || {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total || tx.send(guarded(first + n)).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut totals = Totals::default();
    let mut last_draw = Instant::now();
    for report in rx {
        totals.add(report);
        if last_draw.elapsed().as_millis() >= 200 || totals.runs == args.schedules {
            last_draw = Instant::now();
            progress(&totals, args.schedules, started);
        }
    }
    eprintln!();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} schedules (seeds {}..{}) in {:.1} s, {:.0} schedules/s, {} jobs",
        totals.runs,
        args.first_seed,
        args.first_seed + args.schedules,
        secs,
        totals.runs as f64 / secs,
        args.jobs
    );
    println!(
        "records: {} accepted, {} delivered, {} failed and handed back, {} refused by send; {:.0} s of virtual time",
        totals.accepted, totals.delivered, totals.failed, totals.refused, totals.virtual_secs
    );
    println!("\n{:<36} {:>14}", "fault injected", "count");
    for (name, n) in totals.faults.counts() {
        println!("{name:<36} {n:>14}");
    }
    print_checks(&totals.checks);
    totals.failing.sort_by_key(|r| r.seed);
    println!("\nruns that broke a guarantee: {}", totals.failing.len());
    let mut kinds = std::collections::BTreeMap::<&str, u64>::new();
    for r in &totals.failing {
        let mut seen: Vec<&str> = r.violations.iter().map(|v| v.invariant).collect();
        seen.dedup();
        for k in seen {
            *kinds.entry(k).or_default() += 1;
        }
    }
    for (k, n) in &kinds {
        println!("  {n:>8} runs broke [{k}]");
    }
    for r in totals.failing.iter().take(10) {
        let seed = r.seed.unwrap_or_default();
        println!(
            "\nseed {seed}: replay with: cargo run --release -p kafka-producer-proto --example sim -- --replay {seed}"
        );
        for v in &r.violations {
            println!("  {v}");
        }
    }
    if totals.failing.len() > 10 {
        println!("\nthe other failing seeds, first violation each:");
        for r in &totals.failing[10..] {
            let v = &r.violations[0];
            let detail: String = v.detail.chars().take(100).collect();
            println!(
                "  seed {} [{}] {detail}",
                r.seed.unwrap_or_default(),
                v.invariant
            );
        }
    }
    if !totals.failing.is_empty() {
        std::process::exit(1);
    }
}

/// Runs a seed; a panic is a broken guarantee like any other, reported
/// with its seed rather than ending the whole run.
fn guarded(seed: u64) -> Report {
    std::panic::catch_unwind(|| run_seed(seed)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Report {
            seed: Some(seed),
            violations: vec![Violation {
                invariant: "no panic",
                detail: why,
            }],
            ..Report::default()
        }
    })
}

fn print_checks(c: &CheckTally) {
    println!("\n{:<36} {:>14}", "guarantee checked", "times");
    for (name, n) in c.counts() {
        println!("{name:<36} {n:>14}");
    }
}

fn progress(t: &Totals, total: u64, started: Instant) {
    let width = 40;
    let done = (t.runs * width / total.max(1)) as usize;
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    eprint!(
        "\r[{}{}] {}/{} schedules, {:.0}/s, {} failing ",
        "#".repeat(done),
        " ".repeat(width as usize - done),
        t.runs,
        total,
        t.runs as f64 / secs,
        t.failing.len()
    );
    let _ = std::io::stderr().flush();
}
