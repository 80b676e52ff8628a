#![allow(rustdoc::broken_intra_doc_links)] // "[acks]" is a Kafka property name in --help, not a link
//! kpp's command line, parsed by clap: every option, and the Kafka
//! property each one sets.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use kafka_producer_proto::KafkaCode;

/// Produces records to Kafka, as kcat -P does, and reports what happened:
/// deliveries, failures by reason, retries, throughput, latency
/// percentiles and the producer's metrics.
///
/// Without --bootstrap it produces to the embedded simulated cluster
/// (served on loopback; nothing to install). Records are generated
/// (--count), read from a file (--file) or from stdin, one per line
/// (`key<TAB>value` with --key-mode tab).
#[derive(Debug, Parser)]
#[command(name = "kpp", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// [bootstrap.servers] Brokers to produce to (default: the embedded
    /// simulated cluster).
    #[arg(short, long, value_name = "HOST:PORT,...")]
    pub bootstrap: Option<String>,
    /// Topic to produce to.
    #[arg(short, long, default_value = "kpp")]
    pub topic: String,
    /// Generate N records instead of reading lines.
    #[arg(short, long, value_name = "N", conflicts_with = "file")]
    pub count: Option<u64>,
    /// Read records from FILE, one per line, instead of stdin.
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Size of each generated value, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 100)]
    pub value_size: usize,
    /// Keys: none; seq (0, 1, 2...); random; tab (each line is
    /// `key<TAB>value`).
    #[arg(long, value_enum, default_value_t = KeyMode::None)]
    pub key_mode: KeyMode,
    /// Partitions of the topic in the embedded cluster.
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// Brokers of the embedded cluster.
    #[arg(long, default_value_t = 3)]
    pub brokers: i32,
    /// [acks] all, -1, 1 or 0.
    #[arg(long, value_name = "ACKS")]
    pub acks: Option<String>,
    /// [linger.ms] How long a batch waits for more records.
    #[arg(long, value_name = "MS")]
    pub linger_ms: Option<u64>,
    /// [batch.size] Bytes per batch.
    #[arg(long, value_name = "BYTES")]
    pub batch_size: Option<u64>,
    /// [enable.idempotence] true or false.
    #[arg(long, value_name = "BOOL")]
    pub idempotence: Option<bool>,
    /// [retries] Retries of a failed batch.
    #[arg(long, value_name = "N")]
    pub retries: Option<u64>,
    /// [delivery.timeout.ms] Longest a record may take to be delivered.
    #[arg(long, value_name = "MS")]
    pub delivery_timeout_ms: Option<u64>,
    /// [request.timeout.ms] Longest a request waits for its answer.
    #[arg(long, value_name = "MS")]
    pub request_timeout_ms: Option<u64>,
    /// [max.in.flight.requests.per.connection] Requests in flight per
    /// broker.
    #[arg(long, value_name = "N")]
    pub max_in_flight: Option<u64>,
    /// [buffer.memory] Bytes of records the producer may hold.
    #[arg(long, value_name = "BYTES")]
    pub buffer_memory: Option<u64>,
    /// [max.block.ms] Longest a send waits for buffer memory or metadata.
    #[arg(long, value_name = "MS")]
    pub max_block_ms: Option<u64>,
    /// [client.id] The client id sent to the brokers.
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// Any producer property, by its Kafka name (repeatable; after the
    /// options above, so it wins), e.g. -X linger.ms=10 -X acks=1.
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = property)]
    pub props: Vec<(String, String)>,
    /// Make the embedded cluster fail COUNT Produce requests with ERROR
    /// (repeatable), e.g. --inject NOT_LEADER_OR_FOLLOWER:3.
    #[arg(long, value_name = "ERROR:COUNT", value_parser = injection)]
    pub inject: Vec<Injection>,
    /// [random.seed] Seed for random keys and the producer's randomness.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

const AFTER_HELP: &str = "\
Exit status: 0 when every record was delivered or failed with an injected
error; 1 when a record failed otherwise, was refused or lost; 2 on usage
errors; 3 when the producer stopped making progress.

On SIGINT or SIGTERM kpp stops reading, delivers what is pending for at
most 5 s, closes (handing back what is left) and prints the summary.";

/// How generated or read records get their keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyMode {
    /// Null keys.
    None,
    /// 0, 1, 2, ...
    Seq,
    /// Random 16-hex-digit keys.
    Random,
    /// Each line is `key<TAB>value` (a line without a tab is a value).
    Tab,
}

/// An error to inject into the embedded cluster's Produce answers.
#[derive(Debug, Clone)]
pub struct Injection {
    /// Kafka's name for it.
    pub name: String,
    /// The code.
    pub code: KafkaCode,
    /// How many Produce requests fail with it.
    pub count: usize,
}

impl Cli {
    /// The properties the options set, then those of `-X`, in order.
    pub fn properties(&self) -> Vec<(String, String)> {
        let mut props = Vec::new();
        let mut set = |key: &str, value: Option<String>| {
            if let Some(v) = value {
                props.push((key.to_string(), v));
            }
        };
        set("acks", self.acks.clone());
        set("linger.ms", self.linger_ms.map(|v| v.to_string()));
        set("batch.size", self.batch_size.map(|v| v.to_string()));
        set(
            "enable.idempotence",
            self.idempotence.map(|v| v.to_string()),
        );
        set("retries", self.retries.map(|v| v.to_string()));
        set(
            "delivery.timeout.ms",
            self.delivery_timeout_ms.map(|v| v.to_string()),
        );
        set(
            "request.timeout.ms",
            self.request_timeout_ms.map(|v| v.to_string()),
        );
        set(
            "max.in.flight.requests.per.connection",
            self.max_in_flight.map(|v| v.to_string()),
        );
        set("buffer.memory", self.buffer_memory.map(|v| v.to_string()));
        set("max.block.ms", self.max_block_ms.map(|v| v.to_string()));
        set("client.id", self.client_id.clone());
        props.extend(self.props.iter().cloned());
        props
    }

    /// Checks what clap cannot express.
    pub fn check(&self) -> Result<(), String> {
        if self.bootstrap.is_some() && !self.inject.is_empty() {
            return Err("--inject needs the embedded cluster (no --bootstrap)".into());
        }
        if self.key_mode == KeyMode::Tab && self.count.is_some() {
            return Err("--key-mode tab reads keys from lines; it excludes --count".into());
        }
        Ok(())
    }
}

fn property(kv: &str) -> Result<(String, String), String> {
    let (k, v) = kv
        .split_once('=')
        .ok_or_else(|| format!("{kv:?}: expected key=value"))?;
    Ok((k.trim().to_string(), v.trim().to_string()))
}

fn injection(spec: &str) -> Result<Injection, String> {
    let (name, count) = spec.rsplit_once(':').unwrap_or((spec, "1"));
    let count = count
        .parse()
        .map_err(|_| format!("{count:?} is not a number of requests"))?;
    let code = crate::injectable(name).ok_or_else(|| {
        format!(
            "cannot inject {name:?}; known: {}",
            crate::INJECTABLE.join(", ")
        )
    })?;
    Ok(Injection {
        name: name.to_string(),
        code,
        count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn options_become_properties_and_x_comes_last() {
        let cli = Cli::try_parse_from([
            "kpp",
            "--linger-ms",
            "7",
            "-X",
            "linger.ms=9",
            "--acks",
            "1",
        ])
        .unwrap();
        assert_eq!(
            cli.properties(),
            [
                ("acks".to_string(), "1".to_string()),
                ("linger.ms".to_string(), "7".to_string()),
                ("linger.ms".to_string(), "9".to_string()),
            ]
        );
    }

    #[test]
    fn help_names_the_kafka_properties() {
        let help = Cli::command().render_long_help().to_string();
        for property in [
            "[bootstrap.servers]",
            "[linger.ms]",
            "[max.block.ms]",
            "[enable.idempotence]",
        ] {
            assert!(help.contains(property), "--help does not name {property}");
        }
    }

    #[test]
    fn injections_need_a_known_error() {
        assert!(Cli::try_parse_from(["kpp", "--inject", "NOT_AN_ERROR:2"]).is_err());
        let cli = Cli::try_parse_from(["kpp", "--inject", "NOT_LEADER_OR_FOLLOWER:3"]).unwrap();
        assert_eq!(cli.inject[0].count, 3);
        let both =
            Cli::try_parse_from(["kpp", "-b", "k:9092", "--inject", "NOT_LEADER_OR_FOLLOWER"])
                .unwrap();
        assert!(both.check().is_err());
    }
}
