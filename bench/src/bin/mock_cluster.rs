//! librdkafka's mock cluster as a server of its own, so that each client of
//! the side-by-side benchmark runs in another process and its CPU time
//! leaves out the broker's.
//!
//! ```text
//! mock_cluster [--brokers 3] [--topic T [--partitions 4]]... [--no-front]
//! ```
//!
//! It prints `BOOTSTRAP host:port,...` on stdout once the topics exist, and
//! serves until its stdin reaches end of file (the parent closes the pipe,
//! or dies) or it is killed by a signal (SIGTERM's default action is all the
//! cleanup a mock needs: it holds no files). Meanwhile each line
//! `topic NAME PARTITIONS` on stdin creates a topic and is answered on
//! stdout with `TOPIC NAME` (or `ERROR why`), so that a benchmark can give
//! every run a fresh topic.
//!
//! # The front
//!
//! The mock (librdkafka 2.12) answers ApiVersions requests of the flexible
//! versions (v3 and up) it does not support with a malformed body: the
//! ApiKeys count is written as a raw byte instead of a compact length. The
//! Java client 4.x reads that as a valid v4 response with a throttle of
//! about 20 minutes and never sends another request; franz-go rejects it
//! and retries forever. librdkafka and our producer cope with it.
//!
//! So each mock broker gets a front: a loopback listener, advertised in
//! Metadata in place of the broker's own, that answers those ApiVersions
//! requests itself the way a Kafka broker does (a v0 response with
//! UNSUPPORTED_VERSION and the ApiVersions range), then passes every byte
//! through untouched in both directions. Every client, ours included, goes
//! through the same front, so the comparison stays even. `--no-front`
//! prints the mock's own listeners instead (Java and franz-go then hang).

use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;

use rdkafka::ClientConfig;
use rdkafka::bindings as rdsys;
use rdkafka::producer::{BaseProducer, Producer};

const USAGE: &str =
    "usage: mock_cluster [--brokers N] [--topic T [--partitions P]]... [--no-front]";

/// Kafka's ApiVersions API key.
const API_VERSIONS: i16 = 18;
/// The highest ApiVersions version the mock encodes correctly (it
/// advertises 0 to 2).
const MOCK_API_VERSIONS_MAX: i16 = 2;
/// Kafka's UNSUPPORTED_VERSION error code.
const UNSUPPORTED_VERSION: i16 = 35;
/// A request larger than this is not a Kafka client talking: the front
/// closes the connection rather than allocate it.
const MAX_FIRST_REQUEST: usize = 1 << 20;
/// Large enough that a produce request of a full batch moves in a few
/// system calls.
const COPY_BUFFER: usize = 256 << 10;

struct Args {
    brokers: i32,
    /// Topics in the order given, each with its partition count.
    topics: Vec<(String, i32)>,
    front: bool,
}

fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        brokers: 3,
        topics: Vec::new(),
        front: true,
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
            "--no-front" => args.front = false,
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
    match serve(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("mock_cluster: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &Args) -> Result<(), String> {
    // The mock cluster belongs to this client handle (librdkafka creates it
    // from `test.mock.num.brokers`), which the front needs: rdkafka's
    // `MockCluster` has no call to change a broker's advertised address.
    let handle: BaseProducer = ClientConfig::new()
        .set("test.mock.num.brokers", args.brokers.to_string())
        .create()
        .map_err(|e| format!("cannot start {} mock brokers: {e}", args.brokers))?;
    let cluster = handle
        .client()
        .mock_cluster()
        .ok_or("the client has no mock cluster")?;
    for (topic, partitions) in &args.topics {
        // Replication factor 1: the mock acknowledges acks=all without
        // replicating anyway, and one replica keeps its work minimal.
        cluster
            .create_topic(topic, *partitions, 1)
            .map_err(|e| format!("cannot create topic {topic:?}: {e}"))?;
    }

    let mut bootstrap = cluster.bootstrap_servers();
    if args.front {
        // librdkafka lists the brokers in id order, 1 to N.
        let backends: Vec<SocketAddr> = bootstrap
            .split(',')
            .map(|s| s.parse().map_err(|e| format!("mock address {s:?}: {e}")))
            .collect::<Result<_, _>>()?;
        let mut fronts = Vec::with_capacity(backends.len());
        for (id, backend) in (1..).zip(backends) {
            let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("front: {e}"))?;
            let addr = listener.local_addr().map_err(|e| format!("front: {e}"))?;
            advertise(handle.client().native_ptr(), id, addr)?;
            thread::Builder::new()
                .name(format!("front-{id}"))
                .spawn(move || accept_loop(listener, backend))
                .map_err(|e| format!("front thread: {e}"))?;
            fronts.push(addr.to_string());
        }
        bootstrap = fronts.join(",");
    }

    let mut stdout = io::stdout().lock();
    writeln!(stdout, "BOOTSTRAP {bootstrap}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("stdout: {e}"))?;

    // Serve until stdin is closed, creating the topics it asks for.
    for line in io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("reading stdin: {e}"))?;
        let answer = match command(&line) {
            Ok(Command::Topic(name, partitions)) => {
                match cluster.create_topic(&name, partitions, 1) {
                    Ok(()) => format!("TOPIC {name}"),
                    Err(e) => format!("ERROR cannot create topic {name:?}: {e}"),
                }
            }
            Ok(Command::Nothing) => continue,
            Err(e) => format!("ERROR {e}"),
        };
        writeln!(stdout, "{answer}")
            .and_then(|()| stdout.flush())
            .map_err(|e| format!("stdout: {e}"))?;
    }
    Ok(())
}

/// A line on stdin.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    /// `topic NAME PARTITIONS`: create it (replication factor 1); answered
    /// with `TOPIC NAME` once it exists, or `ERROR ...`.
    Topic(String, i32),
    /// An empty line.
    Nothing,
}

fn command(line: &str) -> Result<Command, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words[..] {
        [] => Ok(Command::Nothing),
        ["topic", name, partitions] => Ok(Command::Topic(
            name.to_string(),
            positive(partitions, "partitions")?,
        )),
        _ => Err(format!(
            "unknown command {line:?} (expected: topic NAME PARTITIONS)"
        )),
    }
}

/// Makes the mock advertise `addr` for broker `id` in Metadata and
/// FindCoordinator responses; its listener stays where it is.
fn advertise(rk: *mut rdsys::rd_kafka_t, id: i32, addr: SocketAddr) -> Result<(), String> {
    let host = std::ffi::CString::new(addr.ip().to_string()).map_err(|e| e.to_string())?;
    // SAFETY: `rk` is the live handle that owns the mock cluster (the caller
    // holds it), librdkafka returns that cluster or null, and
    // set_host_port copies `host` under the cluster's lock.
    unsafe {
        let mcluster = rdsys::rd_kafka_handle_mock_cluster(rk);
        if mcluster.is_null() {
            return Err("the client has no mock cluster".into());
        }
        rdsys::rd_kafka_mock_broker_set_host_port(mcluster, id, host.as_ptr(), addr.port().into());
    }
    Ok(())
}

fn accept_loop(listener: TcpListener, backend: SocketAddr) {
    for conn in listener.incoming() {
        match conn {
            Ok(client) => {
                thread::spawn(move || {
                    if let Err(e) = relay(client, backend) {
                        // Either side hanging up is routine.
                        use io::ErrorKind::{BrokenPipe, ConnectionReset, UnexpectedEof};
                        if !matches!(e.kind(), BrokenPipe | ConnectionReset | UnexpectedEof) {
                            eprintln!("mock_cluster: connection to {backend}: {e}");
                        }
                    }
                });
            }
            Err(e) => eprintln!("mock_cluster: accept: {e}"),
        }
    }
}

/// One client connection: answers the ApiVersions requests the mock would
/// garble, forwards the first other request, then copies bytes both ways.
fn relay(client: TcpStream, backend: SocketAddr) -> io::Result<()> {
    client.set_nodelay(true)?;
    let mut broker = TcpStream::connect(backend)?;
    broker.set_nodelay(true)?;
    let mut from_client = client.try_clone()?;
    let mut to_client = client;

    // Nothing has gone to the broker yet, so no response can interleave
    // with the one written here.
    loop {
        let request = read_request(&mut from_client)?;
        if let Some(correlation_id) = unsupported_api_versions(&request) {
            to_client.write_all(&unsupported_version_response(correlation_id))?;
        } else {
            broker.write_all(&request)?;
            break;
        }
    }

    let mut from_broker = broker.try_clone()?;
    let down = thread::spawn(move || {
        let copied = pump(&mut from_broker, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Write);
        copied
    });
    let up = pump(&mut from_client, &mut broker);
    let _ = broker.shutdown(Shutdown::Write);
    let down = down
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("relay thread panicked")));
    up.and(down)
}

/// Reads one size-prefixed request and returns it with its size prefix.
fn read_request(from: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut size = [0u8; 4];
    from.read_exact(&mut size)?;
    let len = i32::from_be_bytes(size);
    let len = usize::try_from(len)
        .ok()
        .filter(|&n| (8..=MAX_FIRST_REQUEST).contains(&n))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("request size {len}")))?;
    let mut request = vec![0u8; 4 + len];
    request[..4].copy_from_slice(&size);
    from.read_exact(&mut request[4..])?;
    Ok(request)
}

/// The correlation id of an ApiVersions request newer than the mock
/// encodes correctly.
fn unsupported_api_versions(request: &[u8]) -> Option<i32> {
    let field = |at: usize| {
        request
            .get(at..at + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
    };
    let api_key = field(4)?;
    let api_version = field(6)?;
    let correlation_id = i32::from_be_bytes(request.get(8..12)?.try_into().ok()?);
    (api_key == API_VERSIONS && api_version > MOCK_API_VERSIONS_MAX).then_some(correlation_id)
}

/// What a Kafka broker sends for an ApiVersions version it does not know:
/// a v0 response (v0 header, no throttle field) with UNSUPPORTED_VERSION
/// and the range of ApiVersions it does know, so the client retries within
/// it.
fn unsupported_version_response(correlation_id: i32) -> Vec<u8> {
    let mut body = Vec::with_capacity(16);
    body.extend_from_slice(&correlation_id.to_be_bytes());
    body.extend_from_slice(&UNSUPPORTED_VERSION.to_be_bytes());
    body.extend_from_slice(&1i32.to_be_bytes()); // one ApiKeys entry
    body.extend_from_slice(&API_VERSIONS.to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&MOCK_API_VERSIONS_MAX.to_be_bytes());
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as i32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// Copies until `from` ends (or either side fails).
fn pump(from: &mut TcpStream, to: &mut TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; COPY_BUFFER];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => to.write_all(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(api_key: i16, api_version: i16, correlation_id: i32) -> Vec<u8> {
        let mut r = vec![0, 0, 0, 8];
        r.extend_from_slice(&api_key.to_be_bytes());
        r.extend_from_slice(&api_version.to_be_bytes());
        r.extend_from_slice(&correlation_id.to_be_bytes());
        r
    }

    #[test]
    fn stdin_commands() {
        assert_eq!(command("topic t-1 4"), Ok(Command::Topic("t-1".into(), 4)));
        assert_eq!(command("  "), Ok(Command::Nothing));
        assert!(command("topic t 0").is_err());
        assert!(command("topic t").is_err());
        assert!(command("delete t").is_err());
    }

    #[test]
    fn only_flexible_api_versions_requests_are_answered_by_the_front() {
        assert_eq!(unsupported_api_versions(&request(18, 4, 77)), Some(77));
        assert_eq!(unsupported_api_versions(&request(18, 3, -5)), Some(-5));
        assert_eq!(unsupported_api_versions(&request(18, 2, 1)), None);
        assert_eq!(unsupported_api_versions(&request(3, 12, 1)), None);
        assert_eq!(unsupported_api_versions(&request(18, 4, 1)[..10]), None);
    }

    #[test]
    fn the_answer_is_a_v0_unsupported_version_response() {
        let r = unsupported_version_response(0x0102_0304);
        let size = i32::from_be_bytes(r[0..4].try_into().unwrap()) as usize;
        assert_eq!(size, r.len() - 4);
        assert_eq!(&r[4..8], &[1, 2, 3, 4]);
        assert_eq!(i16::from_be_bytes([r[8], r[9]]), 35);
        assert_eq!(i32::from_be_bytes(r[10..14].try_into().unwrap()), 1);
        assert_eq!(&r[14..], &[0, 18, 0, 0, 0, 2]);
    }
}
