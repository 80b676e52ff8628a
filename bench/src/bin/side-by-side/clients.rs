//! The four clients: where their programs are, how they are built, and one
//! run of one of them with a time limit.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use kafka_producer_bench::contract::ClientResult;

/// A producer speaking the contract of `peers/README.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Client {
    /// kafka-producer-tokio (`bench/src/bin/ours.rs`).
    Ours,
    /// librdkafka through rdkafka (`bench/src/bin/rdkafka.rs`).
    Rdkafka,
    /// The Java `KafkaProducer` (`peers/java-producer`).
    Java,
    /// franz-go's kgo (`peers/franz-go`).
    FranzGo,
}

impl Client {
    /// All four, in the order of round 1.
    pub const ALL: [Client; 4] = [Client::Ours, Client::Rdkafka, Client::Java, Client::FranzGo];

    /// Its name on the command line and in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Client::Ours => "ours",
            Client::Rdkafka => "rdkafka",
            Client::Java => "java",
            Client::FranzGo => "franz-go",
        }
    }

    /// The client called `name`.
    pub fn named(name: &str) -> Option<Client> {
        Client::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The settings outside the contract that shape its numbers, all at the
    /// client's defaults (peers/README.md has the full table).
    pub fn defaults(self) -> &'static str {
        match self {
            Client::Ours => {
                "batch.size 16384, buffer.memory 32 MiB, max.in.flight 5, sticky partitioner; \
                 TokioDriver (the tokio crate's lower layer, its fastest API) on a current-thread \
                 runtime: one thread; values are Bytes slices of the pool (no copy)"
            }
            Client::Rdkafka => {
                "batch.size 1,000,000 B, batch.num.messages 10,000, queue.buffering.max.messages \
                 100,000, max.in.flight 5 (idempotence), sticky.partitioning.linger.ms 10; \
                 BaseProducer, poll(0) every 1,024 records; produce copies each value"
            }
            Client::Java => {
                "batch.size 16384, buffer.memory 32 MiB, max.in.flight 5, adaptive sticky \
                 partitioner; JVM defaults (G1, all cores); a byte[] copy per value"
            }
            Client::FranzGo => {
                "ProducerBatchMaxBytes 1,000,012, MaxBufferedRecords 50,000, 5 in flight \
                 (idempotence), UniformBytesPartitioner 64 KiB; GOMAXPROCS = cores; values \
                 are slices of the pool (no copy)"
            }
        }
    }
}

/// How one run ended.
#[derive(Debug)]
pub enum Outcome {
    /// Every record delivered; its result line.
    Done(ClientResult),
    /// It ran but did not deliver every record, or gave no result line.
    Failed {
        why: String,
        result: Option<ClientResult>,
        stderr: String,
    },
    /// Killed at the time limit.
    TimedOut { stderr: String },
    /// It refused the workload (exit status 2: a setting it does not have,
    /// such as a codec or transactions).
    Unsupported { why: String },
}

/// Starts the clients' programs.
pub struct Launcher {
    /// Where `ours`, `rdkafka` and `mock_cluster` are.
    pub bin_dir: PathBuf,
    /// The repository (for `scripts/peers`).
    pub repo: PathBuf,
    /// Where each run's stdout and stderr go.
    pub scratch: PathBuf,
}

/// Lines of a failed client's stderr shown.
const STDERR_TAIL: usize = 15;

impl Launcher {
    fn command(&self, client: Client) -> Command {
        match client {
            Client::Ours => Command::new(self.bin_dir.join("ours")),
            Client::Rdkafka => Command::new(self.bin_dir.join("rdkafka")),
            Client::Java | Client::FranzGo => {
                // `run` execs the client, so the child's pid is the JVM's
                // or the Go program's and the time limit reaches it.
                let mut c = Command::new(self.repo.join("scripts/peers"));
                c.args(["run", client.name()]);
                c
            }
        }
    }

    /// Runs `client` with the contract's `args`, killing it after `limit`.
    pub fn run(&self, client: Client, args: &[String], limit: Duration) -> Result<Outcome, String> {
        let out_path = self.scratch.join(format!("{}.out", client.name()));
        let err_path = self.scratch.join(format!("{}.err", client.name()));
        let file = |p: &Path| File::create(p).map_err(|e| format!("{}: {e}", p.display()));
        let mut child = self
            .command(client)
            .args(args)
            .stdin(Stdio::null())
            .stdout(file(&out_path)?)
            .stderr(file(&err_path)?)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", client.name()))?;
        let deadline = Instant::now() + limit;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(format!("waiting for {}: {e}", client.name())),
            }
        };
        let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
        let stderr = tail(&std::fs::read_to_string(&err_path).unwrap_or_default());
        let Some(status) = status else {
            return Ok(Outcome::TimedOut { stderr });
        };
        Ok(judge(status, &stdout, stderr))
    }
}

fn judge(status: ExitStatus, stdout: &str, stderr: String) -> Outcome {
    let result = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .map(|l| serde_json::from_str::<ClientResult>(l.trim()));
    match (status.code(), result) {
        (Some(2), _) => {
            let line = stderr
                .lines()
                .rev()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with("usage"))
                .unwrap_or("exit status 2");
            // "ours: why" -> "why": the table names the client already.
            let why = match line.split_once(": ") {
                Some((who, why)) if !who.contains(' ') => why,
                _ => line,
            };
            Outcome::Unsupported {
                why: why.to_string(),
            }
        }
        (Some(0), Some(Ok(r))) if r.failed == 0 && r.delivered == r.records => Outcome::Done(r),
        (_, Some(Ok(r))) => Outcome::Failed {
            why: format!(
                "{status}: {} of {} delivered, {} failed",
                r.delivered, r.records, r.failed
            ),
            result: Some(r),
            stderr,
        },
        (_, Some(Err(e))) => Outcome::Failed {
            why: format!("{status}: unreadable result line: {e}"),
            result: None,
            stderr,
        },
        (_, None) => Outcome::Failed {
            why: format!("{status}, no result line"),
            result: None,
            stderr,
        },
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(STDERR_TAIL)..].join("\n")
}

/// Builds what the clients need (unless `build` is false): our two
/// binaries and the mock server (cargo, the profile this program was built
/// with), the Java client (Maven) and franz-go (Go) through
/// `scripts/peers`. Returns the launcher.
pub fn build(
    clients: &[Client],
    repo: &Path,
    scratch: PathBuf,
    build: bool,
) -> Result<Launcher, String> {
    let exe = std::env::current_exe().map_err(|e| format!("where am I: {e}"))?;
    let bin_dir = exe
        .parent()
        .ok_or("this program is in no directory")?
        .to_path_buf();
    let profile = match bin_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_string(),
        Some(p) => p.to_string(),
        None => "release".to_string(),
    };
    let launcher = Launcher {
        bin_dir: bin_dir.clone(),
        repo: repo.to_path_buf(),
        scratch,
    };
    if !build {
        return Ok(launcher);
    }
    if profile == "dev" {
        eprintln!("side-by-side: WARNING: a debug build; run it with --release for real numbers");
    }
    let target_dir = bin_dir.parent().ok_or("no target directory")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("side-by-side: building ours, rdkafka and mock_cluster (cargo, profile {profile})");
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--package",
            "kafka-producer-bench",
            "--bins",
            "--profile",
            &profile,
        ])
        .arg("--manifest-path")
        .arg(repo.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "cargo build of the bench binaries failed: {status}"
        ));
    }
    for client in clients {
        if matches!(client, Client::Java | Client::FranzGo) {
            eprintln!(
                "side-by-side: building {} (scripts/peers build)",
                client.name()
            );
            let status = Command::new(repo.join("scripts/peers"))
                .args(["build", client.name()])
                .stdout(Stdio::null())
                .status()
                .map_err(|e| format!("cannot run scripts/peers: {e}"))?;
            if !status.success() {
                return Err(format!(
                    "scripts/peers build {} failed: {status}",
                    client.name()
                ));
            }
        }
    }
    Ok(launcher)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn exit(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    const LINE: &str = r#"{"client":"java","library":"kafka-clients 4.1.1","records":10,"delivered":10,"failed":0,"elapsed_s":0.5,"records_per_s":20.0,"cpu_s":0.1,"cpu_us_per_record":10000.0,"peak_rss_kb":100,"transactions":0}"#;

    #[test]
    fn a_complete_run_is_done() {
        let out = format!("some noise\n{LINE}\n");
        assert!(
            matches!(judge(exit(0), &out, String::new()), Outcome::Done(r) if r.client == "java")
        );
    }

    #[test]
    fn short_deliveries_and_missing_lines_fail() {
        let short = LINE.replace(r#""delivered":10"#, r#""delivered":9"#);
        assert!(matches!(
            judge(exit(1), &short, String::new()),
            Outcome::Failed {
                result: Some(_),
                ..
            }
        ));
        // Even with status 0, a result that does not add up is a failure.
        assert!(matches!(
            judge(exit(0), &short, String::new()),
            Outcome::Failed { .. }
        ));
        assert!(matches!(
            judge(exit(0), "", String::new()),
            Outcome::Failed { result: None, .. }
        ));
        assert!(matches!(
            judge(exit(1), "{garbage", String::new()),
            Outcome::Failed { result: None, .. }
        ));
    }

    #[test]
    fn status_2_is_a_workload_the_client_refuses() {
        let o = judge(
            exit(2),
            "",
            "ours: compression.type=lz4: is not supported yet\n".into(),
        );
        assert!(
            matches!(&o, Outcome::Unsupported { why } if why == "compression.type=lz4: is not supported yet"),
            "{o:?}"
        );
    }

    #[test]
    fn names_round_trip() {
        for c in Client::ALL {
            assert_eq!(Client::named(c.name()), Some(c));
        }
        assert_eq!(Client::named("kafka-python"), None);
    }
}
