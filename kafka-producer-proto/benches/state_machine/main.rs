//! The producer state machine alone, against an in-memory responder: no
//! sockets, no runtime, no simulated log. For each workload it prints
//! records/s on one core, instructions per record counted by callgrind,
//! the same count for `BatchBuilder` encoding the same records alone (the
//! floor) and heap allocations per record.
//!
//! ```text
//! cargo bench -p kafka-producer-proto --bench state_machine            # the table
//! cargo bench -p kafka-producer-proto --bench state_machine -- v100     # workloads matching
//! cargo bench -p kafka-producer-proto --bench state_machine -- --check  # CI: Ir vs baseline
//! cargo bench -p kafka-producer-proto --bench state_machine -- --write-baseline
//! cargo bench -p kafka-producer-proto --bench state_machine -- --profile v100-p1-nokeys-idem
//! ```
//!
//! `--profile` keeps the callgrind profile of the workloads it runs and
//! says where, for `callgrind_annotate --inclusive=yes FILE`.
//!
//! A workload sends records as an application at one record per virtual
//! microsecond would (`linger.ms` and every other setting at its default),
//! and drives the producer as a driver does after each input: transmits
//! written to the responder, its answers handed back, events drained, the
//! timer served. Only the producer's calls are measured, building each
//! record included (what the API makes an application allocate per record
//! is the producer's cost too); keys and values are shared `Bytes`.

mod counting;
mod responder;
mod workload;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use workload::{Measured, Workload, floor, run};

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

/// Instructions per record may rise this much above the baseline.
const TOLERANCE: f64 = 0.10;

/// The workloads CI checks: kept few so that the check stays well under a
/// minute under callgrind, and chosen to cover each axis.
const CHECKED: &[&str] = &[
    "v100-p1-nokeys-idem",
    "v100-p16-keys-idem",
    "v100-p1000-nokeys-noidem",
    "v10240-p1-nokeys-idem",
    "floor-v100-nokeys",
];

fn baseline_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/state_machine/baseline.tsv")
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; nothing else of libtest applies.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if let Some(i) = args.iter().position(|a| a == "--worker") {
        let name = &args[i + 1];
        worker(name);
        return ExitCode::SUCCESS;
    }
    let check = args.iter().any(|a| a == "--check");
    let keep = args.iter().any(|a| a == "--profile");
    let write = args.iter().any(|a| a == "--write-baseline");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let mut names: Vec<String> = Workload::all().iter().map(Workload::name).collect();
    names.extend(
        workload::floors()
            .iter()
            .map(|(v, k)| workload::floor_name(*v, *k)),
    );
    if check {
        names.retain(|n| CHECKED.contains(&n.as_str()));
    }
    names.retain(|n| filters.is_empty() || filters.iter().any(|f| n.contains(f.as_str())));
    if !valgrind_present() {
        eprintln!(
            "FAIL: valgrind is not installed; instructions are counted with callgrind \
             (apt-get install valgrind, or scripts/deps)"
        );
        return ExitCode::FAILURE;
    }
    let baseline = read_baseline();
    if check {
        return check_against(&names, &baseline);
    }
    if keep {
        for name in &names {
            let (ir, file) = callgrind_kept(name);
            println!(
                "{name}: {ir:.0} Ir/record; callgrind_annotate --inclusive=yes {}",
                file.display()
            );
        }
        return ExitCode::SUCCESS;
    }
    let mut counted = BTreeMap::new();
    println!(
        "{:<24} {:>12} {:>10} {:>10} {:>9} {:>7} {:>9} {:>9}",
        "workload", "records/s", "MB/s", "Ir/record", "floor Ir", "ratio", "allocs/r", "baseline"
    );
    let mut floors = BTreeMap::new();
    for name in &names {
        let ir = callgrind(name);
        counted.insert(name.clone(), ir);
        let (rate, bytes_rate, allocs) = timed(name);
        let floor_ir = match floor_of(name) {
            Some(f) => *floors.entry(f.clone()).or_insert_with(|| callgrind(&f)),
            None => ir,
        };
        let base = baseline.get(name).map_or_else(
            || "-".to_string(),
            |b| format!("{:+.1}%", (ir / b - 1.0) * 100.0),
        );
        println!(
            "{:<24} {:>12.0} {:>10.0} {:>10.0} {:>9.0} {:>7.2} {:>9.3} {:>9}",
            name,
            rate,
            bytes_rate / 1e6,
            ir,
            floor_ir,
            ir / floor_ir,
            allocs,
            base
        );
    }
    if write {
        let mut all = baseline;
        all.extend(counted);
        write_baseline(&all);
        println!("wrote {}", baseline_path().display());
    }
    ExitCode::SUCCESS
}

/// The floor workload a producer workload compares to.
fn floor_of(name: &str) -> Option<String> {
    let w = Workload::parse(name)?;
    Some(workload::floor_name(w.value_len, w.keys))
}

/// Runs one workload in this process: records/s, value bytes/s and
/// allocations per record.
fn timed(name: &str) -> (f64, f64, f64) {
    let m = measure(name);
    let rate = m.records as f64 / m.seconds;
    (
        rate,
        rate * m.value_len as f64,
        m.allocations as f64 / m.records as f64,
    )
}

fn measure(name: &str) -> Measured {
    match Workload::parse(name) {
        Some(w) => run(w),
        None => {
            let (value_len, keys) = workload::parse_floor(name).expect("a known workload");
            floor(value_len, keys)
        }
    }
}

/// The worker a callgrind run starts: one workload, measured calls only.
fn worker(name: &str) {
    let m = measure(name);
    println!("records {}", m.records);
}

fn valgrind_present() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Instructions per record of one workload, counted by callgrind in a
/// child process running this binary as a worker.
fn callgrind(name: &str) -> f64 {
    let (ir, file) = callgrind_kept(name);
    let _ = std::fs::remove_file(file);
    ir
}

/// [`callgrind`], keeping the profile: instructions per record and where
/// the profile is.
fn callgrind_kept(name: &str) -> (f64, PathBuf) {
    let exe = std::env::current_exe().expect("the bench binary's path");
    let out = std::env::temp_dir().join(format!("kpp-callgrind-{}-{name}.out", std::process::id()));
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg("--collect-atstart=no")
        .arg(format!("--toggle-collect={}", counting::TOGGLE))
        .arg(&exe)
        .arg("--worker")
        .arg(name)
        .output()
        .expect("valgrind runs");
    assert!(
        output.status.success(),
        "callgrind run of {name} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let records: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("records "))
        .and_then(|n| n.trim().parse().ok())
        .expect("the worker says how many records it measured");
    let profile = std::fs::read_to_string(&out).expect("callgrind wrote its profile");
    let total: f64 = profile
        .lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|n| n.split_whitespace().next()?.parse().ok())
        .expect("callgrind's profile has a total");
    (total / records, out)
}

fn check_against(names: &[String], baseline: &BTreeMap<String, f64>) -> ExitCode {
    let mut failed = false;
    for name in names {
        let ir = callgrind(name);
        let Some(&base) = baseline.get(name) else {
            println!("FAIL {name}: {ir:.0} Ir/record, no baseline (run --write-baseline)");
            failed = true;
            continue;
        };
        let change = ir / base - 1.0;
        let verdict = if change > TOLERANCE { "FAIL" } else { "ok" };
        failed |= change > TOLERANCE;
        println!(
            "{verdict:<4} {name:<24} {ir:>8.0} Ir/record, baseline {base:.0} ({:+.1}%)",
            change * 100.0
        );
    }
    if failed {
        println!(
            "instructions per record rose more than {:.0}% above {}",
            TOLERANCE * 100.0,
            baseline_path().display()
        );
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn read_baseline() -> BTreeMap<String, f64> {
    let text = std::fs::read_to_string(baseline_path()).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (name, ir) = l.split_once('\t')?;
            Some((name.to_string(), ir.trim().parse().ok()?))
        })
        .collect()
}

fn write_baseline(all: &BTreeMap<String, f64>) {
    let mut text = String::from(
        "# Instructions per record (callgrind) of the state_machine bench; CI fails\n\
         # when a checked workload rises more than 10% above its line. Rewrite with\n\
         # cargo bench -p kafka-producer-proto --bench state_machine -- --write-baseline\n",
    );
    for (name, ir) in all {
        text.push_str(&format!("{name}\t{ir:.0}\n"));
    }
    std::fs::write(baseline_path(), text).expect("writing the baseline");
}
