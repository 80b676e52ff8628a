//! side-by-side: four Kafka producers on the same cluster in one run, in
//! alternating rounds, with medians.
//!
//! ```text
//! cargo run --release -p kafka-producer-bench -- [--cluster mock|kafka|both]
//!     [--workload 100B,10KiB,lz4,zstd,txn|all] [--compression lz4|zstd] [--transactional]
//!     [--rounds 5] [--records N] [--clients ours,rdkafka,java,franz-go]
//!     [--timeout SECS] [--mock-brokers 3] [--markdown] [--no-build]
//! ```
//!
//! Every client is a program of its own speaking the contract of
//! `peers/README.md` (ours and rdkafka are this crate's `ours` and
//! `rdkafka` binaries; Java and franz-go are built by `scripts/peers`), so
//! that each measures its own process: CPU time of all its threads over
//! the measured phase, and its peak RSS. The command builds what it needs
//! (cargo, Maven, Go, and Kafka's jars through `scripts/kafka install`),
//! then, per cluster and workload, runs round r with the clients in an
//! order rotated by r, each run on a fresh 4-partition topic with a time
//! limit, and prints medians, ratios and the targets of issue 10.
//!
//! - **mock:** `mock_cluster` (librdkafka's mock cluster in a process of
//!   its own, behind fronts that fix its ApiVersions answers), a fresh one
//!   per workload.
//! - **kafka:** one real Kafka 4.1.1 broker from `scripts/kafka start
//!   --bench` for the whole run; every run's topic is deleted after it.

mod clients;
mod cluster;
mod report;
mod workload;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

use crate::clients::{Client, Launcher, Outcome};
use crate::cluster::{Cluster, Kind};
use crate::report::{MARKDOWN_HEAD, Series, Summary, Verdict};
use crate::workload::{Workload, thousands};

const PARTITIONS: u32 = 4;

#[derive(Parser, Debug)]
#[command(
    name = "side-by-side",
    about = "Four Kafka producers side by side on the same cluster: ours, librdkafka, Java, franz-go"
)]
struct Cli {
    /// The cluster(s): librdkafka's mock cluster, a real Kafka broker, or
    /// both (one after the other).
    #[arg(long, value_enum, default_value_t = ClusterChoice::Both)]
    cluster: ClusterChoice,
    /// Workloads, comma-separated: 100B (1M x 100 B), 10KiB (100k x 10 KiB),
    /// lz4, zstd (250k x 1 KiB, compressed), txn (1M x 100 B in transactions
    /// of 1,000), or all. Default: 100B,10KiB, unless --compression or
    /// --transactional choose.
    #[arg(long, value_delimiter = ',')]
    workload: Vec<String>,
    /// Runs the compression workload of this codec (1 KiB values).
    #[arg(long, value_parser = ["lz4", "zstd"])]
    compression: Vec<String>,
    /// Runs the transactional workload (transactions of 1,000 records).
    #[arg(long)]
    transactional: bool,
    /// Measured runs of each client per workload; the tables show medians.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Records per run, instead of each workload's own count.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    records: Option<u64>,
    /// Clients, comma-separated: ours, rdkafka, java, franz-go. Default:
    /// all four (the compression workloads: ours, rdkafka, java).
    #[arg(long, value_delimiter = ',')]
    clients: Vec<String>,
    /// Seconds a client run may take before it is killed (franz-go never
    /// gives up by itself).
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Brokers of the mock cluster.
    #[arg(long, default_value_t = 3)]
    mock_brokers: u32,
    /// Also print the tables as Markdown, with the date, for README.
    #[arg(long)]
    markdown: bool,
    /// Use the programs as they are: no cargo, Maven or Go build first
    /// (for a test that has built them already).
    #[arg(long)]
    no_build: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ClusterChoice {
    Mock,
    Kafka,
    Both,
}

/// What to run, resolved from the command line.
struct Plan {
    clusters: Vec<Kind>,
    workloads: Vec<&'static Workload>,
    /// Asked for by name; `None`: each workload's defaults.
    clients: Option<Vec<Client>>,
}

impl Plan {
    fn new(cli: &Cli) -> Result<Plan, String> {
        let clusters = match cli.cluster {
            ClusterChoice::Mock => vec![Kind::Mock],
            ClusterChoice::Kafka => vec![Kind::Kafka],
            ClusterChoice::Both => vec![Kind::Mock, Kind::Kafka],
        };
        let mut names: Vec<String> = cli.workload.clone();
        names.extend(cli.compression.iter().cloned());
        if cli.transactional {
            names.push("txn".into());
        }
        if names.is_empty() {
            names = workload::DEFAULT.iter().map(|s| s.to_string()).collect();
        }
        let mut workloads: Vec<&'static Workload> = Vec::new();
        for name in &names {
            if name == "all" {
                workloads.extend(workload::ALL);
                continue;
            }
            let w = workload::named(name).ok_or_else(|| {
                let known: Vec<&str> = workload::ALL.iter().map(|w| w.name).collect();
                format!(
                    "unknown workload {name:?} (known: {}, all)",
                    known.join(", ")
                )
            })?;
            workloads.push(w);
        }
        // In the order of ALL, each once.
        let workloads = workload::ALL
            .iter()
            .filter(|w| workloads.contains(w))
            .collect();
        let clients = if cli.clients.is_empty() {
            None
        } else {
            let mut cs = Vec::new();
            for name in &cli.clients {
                let c = Client::named(name).ok_or_else(|| {
                    format!("unknown client {name:?} (known: ours, rdkafka, java, franz-go)")
                })?;
                if !cs.contains(&c) {
                    cs.push(c);
                }
            }
            cs.sort();
            Some(cs)
        };
        Ok(Plan {
            clusters,
            workloads,
            clients,
        })
    }

    fn clients_for(&self, w: &Workload) -> Vec<Client> {
        self.clients
            .clone()
            .unwrap_or_else(|| w.default_clients.to_vec())
    }

    fn every_client(&self) -> Vec<Client> {
        let mut all: Vec<Client> = self
            .workloads
            .iter()
            .flat_map(|w| self.clients_for(w))
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let plan = match Plan::new(&cli) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("side-by-side: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&cli, &plan) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("side-by-side: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The repository this program was built from (scripts/, peers/).
fn repo() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    here.canonicalize().unwrap_or(here)
}

/// Runs the plan; `Ok(false)` when some client run failed.
fn run(cli: &Cli, plan: &Plan) -> Result<bool, String> {
    let started = Instant::now();
    let repo = repo();
    let scratch = std::env::temp_dir().join(format!("side-by-side-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let result = (|| {
        let launcher = clients::build(&plan.every_client(), &repo, scratch.clone(), !cli.no_build)?;
        header(cli, plan);
        let mut summaries = Vec::new();
        let mut all_ran = true;
        for &kind in &plan.clusters {
            // One Kafka broker for the whole run; a fresh mock per workload
            // (it cannot delete topics, and keeps up to 5 MiB per partition).
            let mut kafka = match kind {
                Kind::Kafka => Some(Cluster::kafka(&repo)?),
                Kind::Mock => None,
            };
            for &w in &plan.workloads {
                let mut mock = match kind {
                    Kind::Mock => Some(Cluster::mock(&launcher.bin_dir, cli.mock_brokers)?),
                    Kind::Kafka => None,
                };
                let cluster = match (mock.as_mut(), kafka.as_mut()) {
                    (Some(c), _) | (None, Some(c)) => c,
                    (None, None) => unreachable!("one of them was started above"),
                };
                let (summary, ran) = run_workload(cli, plan, &launcher, kind, cluster, w)?;
                all_ran &= ran;
                println!("\n{}", summary.table());
                for v in summary.verdicts() {
                    println!("{}", v.text());
                }
                summaries.push(summary);
            }
        }
        footer(cli, &summaries, started.elapsed());
        Ok(all_ran)
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn header(cli: &Cli, plan: &Plan) {
    let cores = std::thread::available_parallelism().map_or(0, |c| c.get());
    println!("side by side, {} (UTC)", report::today());
    println!(
        "machine: {cores} cores ({}), load average {}",
        cpu_model(),
        load()
    );
    println!(
        "clusters: {}; {} rounds per workload, clients in an order rotated each round, a fresh {PARTITIONS}-partition topic per run",
        plan.clusters
            .iter()
            .map(|k| cluster_text(*k, cli))
            .collect::<Vec<_>>()
            .join("; "),
        cli.rounds
    );
    println!(
        "every client: acks=all, enable.idempotence=true, linger.ms=5, the contract's values (peers/README.md), no key; otherwise its defaults:"
    );
    for c in plan.every_client() {
        println!("  {:<9} {}", c.name(), c.defaults());
    }
    println!(
        "measured per run, by the client itself: records/s over the measured phase (after a warm-up of min(N/10, 20000) records);"
    );
    println!(
        "CPU µs/record = CPU time (user + system, all threads) of the client's process in that phase / N; RSS = its peak (VmHWM)"
    );
}

fn cluster_text(kind: Kind, cli: &Cli) -> String {
    match kind {
        Kind::Mock => format!(
            "mock = librdkafka {} mock cluster, {} brokers, in its own process (a fresh one per workload)",
            rdkafka::util::get_rdkafka_version().1,
            cli.mock_brokers
        ),
        Kind::Kafka => "kafka = one Apache Kafka 4.1.1 broker (scripts/kafka start --bench)".into(),
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Every round of one workload on one cluster. The flag is false when a
/// run failed or timed out.
fn run_workload(
    cli: &Cli,
    plan: &Plan,
    launcher: &Launcher,
    kind: Kind,
    cluster: &mut Cluster,
    w: &'static Workload,
) -> Result<(Summary, bool), String> {
    let records = cli.records.unwrap_or(w.records);
    let clients = plan.clients_for(w);
    println!(
        "\n== {} cluster ({}), workload {}: {}",
        kind.name(),
        cluster.bootstrap(),
        w.name,
        w.describe(records)
    );
    let mut series: Vec<Series> = clients.iter().map(|c| Series::new(*c)).collect();
    let mut all_ran = true;
    let pid = std::process::id();
    for round in 0..cli.rounds as usize {
        for i in 0..clients.len() {
            let idx = (i + round) % clients.len();
            let client = clients[idx];
            let s = &mut series[idx];
            if s.unsupported.is_some() {
                continue;
            }
            let run_name = format!(
                "sbs-{pid}-{}-{}-{}-{}",
                kind.name(),
                w.name,
                client.name(),
                round + 1
            );
            cluster.create_topic(&run_name, PARTITIONS)?;
            let mut args: Vec<String> = vec![
                "--bootstrap".into(),
                cluster.bootstrap().into(),
                "--topic".into(),
                run_name.clone(),
                "--records".into(),
                records.to_string(),
                "--value-size".into(),
                w.value_size.to_string(),
                "--acks".into(),
                "all".into(),
                "--idempotence".into(),
                "true".into(),
                "--linger-ms".into(),
                "5".into(),
                "--compression".into(),
                w.compression.name().into(),
            ];
            if let Some(m) = w.transaction_records {
                args.extend(["--transactional-id".into(), run_name.clone()]);
                args.extend(["--transaction-records".into(), m.to_string()]);
            }
            let outcome = launcher.run(client, &args, Duration::from_secs(cli.timeout))?;
            if let Err(e) = cluster.delete_topic(&run_name) {
                eprintln!("side-by-side: {e}");
            }
            let label = format!("  round {} {:<9}", round + 1, client.name());
            match outcome {
                Outcome::Done(r) => {
                    println!(
                        "{label} {:>11} records/s {:>8.3} µs CPU/record {:>8.1} MiB RSS {:>7.2} s",
                        thousands(r.records_per_s.round() as u64),
                        r.cpu_us_per_record,
                        r.peak_rss_kb as f64 / 1024.0,
                        r.elapsed_s
                    );
                    s.library.get_or_insert_with(|| r.library.clone());
                    s.done.push(r);
                }
                Outcome::Failed {
                    why,
                    result,
                    stderr,
                } => {
                    all_ran = false;
                    s.failed += 1;
                    if let Some(r) = result {
                        s.library.get_or_insert(r.library);
                    }
                    println!("{label} FAILED: {why}\n{}", indent(&stderr));
                }
                Outcome::TimedOut { stderr } => {
                    all_ran = false;
                    s.failed += 1;
                    println!(
                        "{label} TIMED OUT after {} s, killed\n{}",
                        cli.timeout,
                        indent(&stderr)
                    );
                }
                Outcome::Unsupported { why } => {
                    println!("{label} does not run this workload: {why}");
                    s.unsupported = Some(why);
                }
            }
        }
    }
    Ok((
        Summary {
            cluster: kind,
            workload: w,
            records,
            series,
        },
        all_ran,
    ))
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("      | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn footer(cli: &Cli, summaries: &[Summary], wall: Duration) {
    let verdicts: Vec<Verdict> = summaries.iter().flat_map(Summary::verdicts).collect();
    println!(
        "\n== targets (ours >= 2x the records/s of the fastest other client on the mock cluster; <= 0.5x the CPU/record of the most frugal one on both)"
    );
    for v in &verdicts {
        println!("{}", v.text());
    }
    let count = |p: Option<bool>| verdicts.iter().filter(|v| v.pass == p).count();
    println!(
        "{} PASS, {} MISS, {} not judged; wall time {:.0} s; load average at the end {}",
        count(Some(true)),
        count(Some(false)),
        count(None),
        wall.as_secs_f64(),
        load()
    );
    if cli.markdown {
        println!("\n<!-- side-by-side --markdown -->");
        println!(
            "Measured {} on {} cores ({}), {} rounds, medians; CPU is the client process's own.\n",
            report::today(),
            std::thread::available_parallelism().map_or(0, |c| c.get()),
            cpu_model(),
            cli.rounds
        );
        print!("{MARKDOWN_HEAD}");
        for s in summaries {
            print!("{}", s.markdown_rows());
        }
        println!();
        for s in summaries {
            println!(
                "- {} {}: {}",
                s.cluster.name(),
                s.workload.name,
                s.workload.describe(s.records)
            );
        }
        for v in &verdicts {
            println!("- {}", v.text());
        }
    }
}
