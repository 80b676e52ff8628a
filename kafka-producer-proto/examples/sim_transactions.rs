//! Runs seeded transactional schedules (consume-transform-produce with
//! crashes, zombies, coordinator moves and timeouts) against the simulated
//! cluster and checks exactly-once after each run.
//!
//! ```text
//! cargo run --release -p kafka-producer-proto --example sim_transactions -- --schedules 100000
//! cargo run --release -p kafka-producer-proto --example sim_transactions -- --replay 1566
//! ```
//!
//! The long run prints a table of what the transactions went through and
//! the checks made, then every failing seed; the exit status is 1 when any
//! run broke a guarantee. A replay prints the run's logs with their
//! markers, the coordinator's decisions and fences, and each producer
//! instance's events.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use kafka_producer_proto::sim::{
    FaultTally, TxnChecks, TxnReport, TxnTally, Violation, run_transactional_seed,
};

fn usage() -> ! {
    eprintln!("usage: sim_transactions [--schedules N] [--seed FIRST] [--jobs J] | --replay SEED");
    std::process::exit(2)
}

fn main() {
    let mut schedules = 10_000u64;
    let mut first = 0u64;
    let mut jobs = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let mut replay = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let n = it
            .next()
            .and_then(|v| v.replace('_', "").parse::<u64>().ok())
            .unwrap_or_else(|| usage());
        match flag.as_str() {
            "--schedules" => schedules = n,
            "--seed" => first = n,
            "--jobs" => jobs = n.max(1),
            "--replay" => replay = Some(n),
            _ => usage(),
        }
    }
    if let Some(seed) = replay {
        let report = run_transactional_seed(seed);
        print!("{report}");
        for line in &report.trace {
            println!("{line}");
        }
        print_checks(&report.checks);
        std::process::exit(i32::from(!report.violations.is_empty()));
    }
    std::panic::set_hook(Box::new(|_| {}));
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::channel::<TxnReport>();
    for _ in 0..jobs {
        let (next, tx) = (next.clone(), tx.clone());
        std::thread::spawn(move || {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= schedules || tx.send(guarded(first + n)).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let (mut runs, mut processed, mut failing) = (0u64, 0u64, Vec::new());
    let (mut tally, mut faults, mut checks) = (
        TxnTally::default(),
        FaultTally::default(),
        TxnChecks::default(),
    );
    for r in rx {
        runs += 1;
        processed += r.processed;
        tally.add(&r.tally);
        faults.add(&r.faults);
        checks.add(&r.checks);
        if !r.violations.is_empty() {
            failing.push(r);
        }
        if runs % 500 == 0 {
            eprint!("\r{runs}/{schedules} schedules, {} failing ", failing.len());
        }
    }
    eprintln!();
    println!(
        "{runs} transactional schedules (seeds {first}..{}) in {:.1} s; {processed} inputs processed",
        first + schedules,
        started.elapsed().as_secs_f64()
    );
    println!(
        "\n{:<44} {:>12}",
        "what the transactions went through", "count"
    );
    for (name, n) in tally.counts() {
        println!("{name:<44} {n:>12}");
    }
    println!("\n{:<44} {:>12}", "network fault injected", "count");
    for (name, n) in faults.counts() {
        println!("{name:<44} {n:>12}");
    }
    print_checks(&checks);
    failing.sort_by_key(|r| r.seed);
    println!("\nruns that broke a guarantee: {}", failing.len());
    for r in failing.iter().take(20) {
        let seed = r.seed.unwrap_or_default();
        println!(
            "\nseed {seed}: replay with: cargo run --release -p kafka-producer-proto --example sim_transactions -- --replay {seed}"
        );
        for v in &r.violations {
            println!("  {v}");
        }
    }
    if !failing.is_empty() {
        std::process::exit(1);
    }
}

/// Runs a seed; a panic is reported with its seed.
fn guarded(seed: u64) -> TxnReport {
    std::panic::catch_unwind(|| run_transactional_seed(seed)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        TxnReport {
            seed: Some(seed),
            violations: vec![Violation {
                invariant: "no panic",
                detail: why,
            }],
            ..TxnReport::default()
        }
    })
}

fn print_checks(c: &TxnChecks) {
    println!("\n{:<44} {:>12}", "guarantee checked", "times");
    for (name, n) in c.counts() {
        println!("{name:<44} {n:>12}");
    }
}
