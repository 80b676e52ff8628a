//! librdkafka's mock cluster as a server of its own, so that each client of
//! the side-by-side benchmark runs in another process and its CPU time
//! leaves out the broker's.
//!
//! ```text
//! mock_cluster [--brokers 3] [--topic T [--partitions 4]]...
//! ```
//!
//! It prints `BOOTSTRAP host:port,...` on stdout once the topics exist, and
//! serves until its stdin reaches end of file (the parent closes the pipe,
//! or dies) or it is killed by a signal (SIGTERM's default action is all the
//! cleanup a mock needs: it holds no files).

use std::io::{Read, Write};
use std::process::ExitCode;

use rdkafka::mocking::MockCluster;

const USAGE: &str = "usage: mock_cluster [--brokers N] [--topic T [--partitions P]]...";

struct Args {
    brokers: i32,
    /// Topics in the order given, each with its partition count.
    topics: Vec<(String, i32)>,
}

fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        brokers: 3,
        topics: Vec::new(),
    };
    while let Some(flag) = argv.next() {
        let mut value = |name: &str| argv.next().ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--brokers" => args.brokers = positive(&value("--brokers")?, "--brokers")?,
            "--topic" => {
                let name = value("--topic")?;
                if name.is_empty() {
                    return Err("--topic needs a non-empty name".into());
                }
                args.topics.push((name, 4));
            }
            "--partitions" => {
                let n = positive(&value("--partitions")?, "--partitions")?;
                match args.topics.last_mut() {
                    Some(topic) => topic.1 = n,
                    None => return Err("--partitions applies to the --topic before it".into()),
                }
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

fn positive(s: &str, name: &str) -> Result<i32, String> {
    match s.parse::<i32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{name} must be a positive integer, not {s:?}")),
    }
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("mock_cluster: {msg}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };

    let cluster = match MockCluster::new(args.brokers) {
        Ok(cluster) => cluster,
        Err(e) => {
            eprintln!("mock_cluster: cannot start {} brokers: {e}", args.brokers);
            return ExitCode::FAILURE;
        }
    };
    for (topic, partitions) in &args.topics {
        // Replication factor 1: the mock acknowledges acks=all without
        // replicating anyway, and one replica keeps its work minimal.
        if let Err(e) = cluster.create_topic(topic, *partitions, 1) {
            eprintln!("mock_cluster: cannot create topic {topic:?}: {e}");
            return ExitCode::FAILURE;
        }
    }

    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "BOOTSTRAP {}", cluster.bootstrap_servers())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }

    // Serve until stdin is closed. Whatever is written to it is ignored.
    let mut sink = [0u8; 512];
    let mut stdin = std::io::stdin().lock();
    loop {
        match stdin.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("mock_cluster: reading stdin: {e}");
                break;
            }
        }
    }
    drop(cluster);
    ExitCode::SUCCESS
}
