//! The clusters the clients produce to: librdkafka's mock cluster in a
//! process of its own (`mock_cluster`), or a real Kafka broker started by
//! `scripts/kafka`. Each hands out fresh topics.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Which cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// librdkafka's mock cluster: the client is the bottleneck.
    Mock,
    /// A real Kafka broker.
    Kafka,
}

impl Kind {
    /// Its name on the command line and in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Mock => "mock",
            Kind::Kafka => "kafka",
        }
    }
}

/// A running cluster, stopped on drop.
pub enum Cluster {
    /// The mock-cluster server, with its stdin (closing it stops the
    /// server) and stdout (where it answers topic requests).
    Mock {
        child: Child,
        stdin: Option<ChildStdin>,
        stdout: BufReader<ChildStdout>,
        bootstrap: String,
    },
    /// A Kafka cluster started by `scripts/kafka start`.
    Kafka {
        script: PathBuf,
        dir: String,
        bootstrap: String,
    },
}

impl Cluster {
    /// Starts the mock-cluster server with `brokers` brokers.
    pub fn mock(bin_dir: &Path, brokers: u32) -> Result<Cluster, String> {
        let mut child = Command::new(bin_dir.join("mock_cluster"))
            .args(["--brokers", &brokers.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start mock_cluster: {e}"))?;
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().ok_or("mock_cluster: no stdout")?);
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .map_err(|e| format!("mock_cluster: {e}"))?;
        let bootstrap = line
            .trim()
            .strip_prefix("BOOTSTRAP ")
            .ok_or_else(|| format!("mock_cluster said {line:?}, not BOOTSTRAP ..."))?
            .to_string();
        Ok(Cluster::Mock {
            child,
            stdin,
            stdout,
            bootstrap,
        })
    }

    /// Starts one real Kafka broker (full JIT, `--bench`), tied to this
    /// process so that it stops even if this one dies.
    pub fn kafka(repo: &Path) -> Result<Cluster, String> {
        let script = repo.join("scripts/kafka");
        eprintln!("side-by-side: installing Kafka if needed (scripts/kafka install)");
        let status = Command::new(&script)
            .arg("install")
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run scripts/kafka: {e}"))?;
        if !status.success() {
            return Err(format!("scripts/kafka install failed: {status}"));
        }
        eprintln!("side-by-side: starting a Kafka broker (scripts/kafka start --bench)");
        let pid = std::process::id().to_string();
        let out = Command::new(&script)
            .args(["start", "--brokers", "1", "--bench", "--watch", &pid])
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run scripts/kafka: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_string())
        };
        match (out.status.success(), field("DIR "), field("BOOTSTRAP ")) {
            (true, Some(dir), Some(bootstrap)) => Ok(Cluster::Kafka {
                script,
                dir,
                bootstrap,
            }),
            _ => Err(format!(
                "scripts/kafka start failed ({}): {text}",
                out.status
            )),
        }
    }

    /// Where clients connect.
    pub fn bootstrap(&self) -> &str {
        match self {
            Cluster::Mock { bootstrap, .. } | Cluster::Kafka { bootstrap, .. } => bootstrap,
        }
    }

    /// Creates `name` with `partitions` partitions (replication factor 1)
    /// and returns once producers can find its leaders.
    pub fn create_topic(&mut self, name: &str, partitions: u32) -> Result<(), String> {
        match self {
            Cluster::Mock { stdin, stdout, .. } => {
                let stdin = stdin.as_mut().ok_or("the mock cluster is stopping")?;
                writeln!(stdin, "topic {name} {partitions}")
                    .and_then(|()| stdin.flush())
                    .map_err(|e| format!("mock_cluster: {e}"))?;
                let mut line = String::new();
                stdout
                    .read_line(&mut line)
                    .map_err(|e| format!("mock_cluster: {e}"))?;
                if line.trim() == format!("TOPIC {name}") {
                    Ok(())
                } else {
                    Err(format!("mock_cluster: {}", line.trim()))
                }
            }
            Cluster::Kafka { script, dir, .. } => script_ok(Command::new(script).args([
                "topic",
                dir,
                name,
                &partitions.to_string(),
                "1",
            ])),
        }
    }

    /// Deletes a topic a run is done with, so that logs do not pile up (the
    /// mock keeps at most 5 MiB per partition: nothing to do there).
    pub fn delete_topic(&mut self, name: &str) -> Result<(), String> {
        match self {
            Cluster::Mock { .. } => Ok(()),
            Cluster::Kafka { script, dir, .. } => {
                script_ok(Command::new(script).args(["delete-topic", dir, name]))
            }
        }
    }
}

fn script_ok(command: &mut Command) -> Result<(), String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run scripts/kafka: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "scripts/kafka {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        match self {
            Cluster::Mock { child, stdin, .. } => {
                // End of file on stdin is the server's signal to stop.
                drop(stdin.take());
                let deadline = Instant::now() + Duration::from_secs(5);
                while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                if matches!(child.try_wait(), Ok(None)) {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
            Cluster::Kafka { script, dir, .. } => {
                if let Err(e) = script_ok(Command::new(script).args(["stop", dir])) {
                    eprintln!("side-by-side: stopping Kafka: {e}");
                }
            }
        }
    }
}
