//! The client contract of `peers/README.md`: one command line, one JSON
//! result line on stdout, exit status 1 when a record was not delivered
//! and 2 for a bad argument. The Java and franz-go programs speak it in
//! their languages; this is the Rust side, for `ours` and `rdkafka`, and
//! for the orchestrator that reads the result line back.

use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgAction, Parser, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::values::POOL_LEN;

/// The contract's options, common to every client.
#[derive(Parser, Debug, Clone)]
pub struct ContractArgs {
    /// HOST:PORT[,..]
    #[arg(long)]
    pub bootstrap: String,
    /// The topic, created beforehand.
    #[arg(long)]
    pub topic: String,
    /// Records in the measured phase.
    #[arg(long)]
    pub records: u64,
    /// Bytes per value (below 1 MiB).
    #[arg(long)]
    pub value_size: usize,
    /// all (also -1), 1 or 0.
    #[arg(long, default_value = "all", value_parser = ["all", "-1", "1", "0"])]
    pub acks: String,
    /// enable.idempotence.
    #[arg(long, default_value_t = true, action = ArgAction::Set)]
    pub idempotence: bool,
    /// linger.ms.
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,
    /// compression.type.
    #[arg(long, value_enum, default_value_t = Codec::None)]
    pub compression: Codec,
    /// Warm-up records (default min(N/10, 20000)).
    #[arg(long)]
    pub warmup: Option<u64>,
    /// transactional.id: the phases run in transactions.
    #[arg(long, requires = "transaction_records")]
    pub transactional_id: Option<String>,
    /// Records per transaction (the last one holds the rest).
    #[arg(long, requires = "transactional_id", value_parser = clap::value_parser!(u64).range(1..))]
    pub transaction_records: Option<u64>,
}

impl ContractArgs {
    /// What clap cannot check; `Err` is a bad argument (exit status 2).
    pub fn validate(&self) -> Result<(), String> {
        if self.value_size >= POOL_LEN {
            return Err(format!("--value-size must be below {POOL_LEN}"));
        }
        Ok(())
    }

    /// Records in the warm-up.
    pub fn warmup(&self) -> u64 {
        self.warmup.unwrap_or((self.records / 10).min(20_000))
    }

    /// `acks` as Kafka's property value.
    pub fn acks_property(&self) -> &str {
        if self.acks == "-1" { "all" } else { &self.acks }
    }
}

/// `compression.type`, with Kafka's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Codec {
    /// No compression.
    None,
    /// gzip.
    Gzip,
    /// snappy.
    Snappy,
    /// lz4.
    Lz4,
    /// zstd.
    Zstd,
}

impl Codec {
    /// Kafka's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip => "gzip",
            Codec::Snappy => "snappy",
            Codec::Lz4 => "lz4",
            Codec::Zstd => "zstd",
        }
    }
}

/// The one result line, fields in the contract's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientResult {
    /// `ours`, `rdkafka`, `java`, `franz-go`.
    pub client: String,
    /// The library and its version.
    pub library: String,
    /// N, the measured phase's records.
    pub records: u64,
    /// Records whose delivery was reported.
    pub delivered: u64,
    /// Records that failed (or whose transaction did not commit).
    pub failed: u64,
    /// Wall time of the measured phase.
    pub elapsed_s: f64,
    /// N / `elapsed_s`.
    pub records_per_s: f64,
    /// CPU time of the process (all threads, user + system) in the
    /// measured phase.
    pub cpu_s: f64,
    /// `cpu_s` / N, in microseconds.
    pub cpu_us_per_record: f64,
    /// `VmHWM` at the end, KiB.
    pub peak_rss_kb: i64,
    /// Transactions committed in the measured phase.
    pub transactions: u64,
}

/// Delivery outcomes as the callbacks (or futures) report them.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Delivered records.
    pub delivered: u64,
    /// Failed records.
    pub failed: u64,
    /// The first failure, for stderr.
    pub first_error: Option<String>,
}

impl Tally {
    /// `n` records failed with `error`.
    pub fn fail(&mut self, n: u64, error: impl FnOnce() -> String) {
        self.failed += n;
        if self.first_error.is_none() {
            self.first_error = Some(error());
        }
    }

    /// A commit failed: the records reported delivered since
    /// `delivered_at_begin` were aborted with it.
    pub fn abort_since(&mut self, delivered_at_begin: u64, error: impl FnOnce() -> String) {
        let aborted = self.delivered.saturating_sub(delivered_at_begin);
        self.delivered -= aborted;
        self.fail(aborted, error);
    }
}

/// What a client measured of its measured phase.
pub struct Measured {
    /// Wall time.
    pub elapsed: Duration,
    /// Process CPU time.
    pub cpu: Duration,
    /// Outcomes.
    pub tally: Tally,
    /// Commits.
    pub transactions: u64,
}

/// Prints the result line (and the first error, on stderr) and gives the
/// contract's exit status. Reads the peak RSS now, so call it after the
/// client is closed.
pub fn report(client: &str, library: &str, records: u64, m: &Measured) -> ExitCode {
    let elapsed = m.elapsed.as_secs_f64();
    let cpu = m.cpu.as_secs_f64();
    let result = ClientResult {
        client: client.into(),
        library: library.into(),
        records,
        delivered: m.tally.delivered,
        failed: m.tally.failed,
        elapsed_s: elapsed,
        records_per_s: if elapsed > 0.0 {
            records as f64 / elapsed
        } else {
            0.0
        },
        cpu_s: cpu,
        cpu_us_per_record: cpu * 1e6 / records.max(1) as f64,
        peak_rss_kb: crate::measure::peak_rss_kib(),
        transactions: m.transactions,
    };
    if m.tally.failed > 0 {
        eprintln!(
            "{client}: {} records failed; first error: {}",
            m.tally.failed,
            m.tally.first_error.as_deref().unwrap_or("unknown")
        );
    }
    match serde_json::to_string(&result) {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("{client}: cannot write the result: {e}");
            return ExitCode::FAILURE;
        }
    }
    if m.tally.failed > 0 || m.tally.delivered != records {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// A bad argument or a setting the client refuses: a line on stderr and
/// exit status 2.
pub fn bad_argument(client: &str, message: &str) -> ExitCode {
    eprintln!("{client}: {message}");
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ContractArgs, clap::Error> {
        ContractArgs::try_parse_from(std::iter::once("client").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_are_the_contracts() {
        let a = parse(&[
            "--bootstrap",
            "h:1",
            "--topic",
            "t",
            "--records",
            "1000",
            "--value-size",
            "100",
        ])
        .unwrap();
        assert_eq!(a.acks_property(), "all");
        assert!(a.idempotence);
        assert_eq!(a.linger_ms, 5);
        assert_eq!(a.compression, Codec::None);
        assert_eq!(a.warmup(), 100);
        assert!(a.transactional_id.is_none());
        let big = parse(&[
            "--bootstrap",
            "h:1",
            "--topic",
            "t",
            "--records",
            "1000000",
            "--value-size",
            "1",
        ])
        .unwrap();
        assert_eq!(big.warmup(), 20_000);
    }

    #[test]
    fn bad_arguments_are_refused() {
        let base = [
            "--bootstrap",
            "h:1",
            "--topic",
            "t",
            "--records",
            "10",
            "--value-size",
            "1",
        ];
        let with = |extra: &[&str]| parse(&[&base[..], extra].concat());
        assert!(with(&["--acks", "2"]).is_err());
        assert!(with(&["--idempotence", "yes"]).is_err());
        assert!(with(&["--compression", "brotli"]).is_err());
        assert!(with(&["--transactional-id", "x"]).is_err());
        assert!(with(&["--transaction-records", "5"]).is_err());
        assert!(with(&["--transactional-id", "x", "--transaction-records", "0"]).is_err());
        assert!(with(&["--transactional-id", "x", "--transaction-records", "5"]).is_ok());
        assert!(with(&["--idempotence", "false", "--compression", "zstd"]).is_ok());
        let huge = parse(&[
            "--bootstrap",
            "h:1",
            "--topic",
            "t",
            "--records",
            "1",
            "--value-size",
            "1048576",
        ])
        .unwrap();
        assert!(huge.validate().is_err());
    }

    #[test]
    fn the_result_line_round_trips_in_the_contracts_field_order() {
        let r = ClientResult {
            client: "ours".into(),
            library: "x 1".into(),
            records: 10,
            delivered: 10,
            failed: 0,
            elapsed_s: 0.5,
            records_per_s: 20.0,
            cpu_s: 0.25,
            cpu_us_per_record: 25000.0,
            peak_rss_kb: 1234,
            transactions: 0,
        };
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.starts_with(r#"{"client":"ours","library":"x 1","records":10,"delivered":10,"failed":0,"elapsed_s":0.5"#), "{line}");
        assert_eq!(serde_json::from_str::<ClientResult>(&line).unwrap(), r);
        let java = r#"{"client":"java","library":"kafka-clients 4.1.1","records":5,"delivered":5,"failed":0,"elapsed_s":0.100000,"records_per_s":50.0,"cpu_s":0.200000,"cpu_us_per_record":40000.0000,"peak_rss_kb":99,"transactions":0}"#;
        assert_eq!(
            serde_json::from_str::<ClientResult>(java)
                .unwrap()
                .peak_rss_kb,
            99
        );
    }

    #[test]
    fn an_aborted_transaction_moves_its_deliveries_to_failed() {
        let mut t = Tally {
            delivered: 1500,
            ..Tally::default()
        };
        t.abort_since(1000, || "fenced".into());
        assert_eq!((t.delivered, t.failed), (1000, 500));
        assert_eq!(t.first_error.as_deref(), Some("fenced"));
    }
}
