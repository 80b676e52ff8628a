//! [`SimServer`]: the simulated cluster served on loopback TCP (features
//! `sim` and `std`), so that real drivers, real sockets and real clocks can
//! be tested against it the way franz-go's kfake serves its fake cluster.
//!
//! Each broker of the [`SimCluster`] listens on a port of its own on
//! `127.0.0.1` and advertises it in Metadata. The faults of [`NetFaults`]
//! apply to every request (latency, connections cut before or after the
//! broker applies a request, lost answers, injected error codes, throttles,
//! answers written in pieces), and the cluster faults of a
//! [`Schedule`](super::Schedule) can strike at any moment
//! ([`SimServer::strike`], [`SimServer::strike_at`]): leader moves, outages,
//! restarts, hangs, log truncation.
//!
//! Threads, not an async runtime, serve it: one accepting per broker, one
//! reading per connection (it applies each whole request under the cluster's
//! lock and writes the answer), and a writer per connection only once an
//! answer must wait (latency, pieces), so that answers keep their order.
//!
//! ```
//! use kafka_producer_proto::sim::SimServer;
//!
//! let server = SimServer::bind()?;              // 3 brokers on loopback
//! server.create_topic("events", 4);
//! let bootstrap = server.bootstrap_servers();   // "127.0.0.1:PORT,..."
//! assert_eq!(bootstrap.split(',').count(), 3);
//! // Point any driver at `bootstrap`; read what it wrote back with
//! // `server.log("events", partition)`.
//! assert!(server.log("events", 0).is_empty());
//! # Ok::<(), std::io::Error>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use std::vec::Vec;

use alloc::string::String;
use bytes::Bytes;

use super::cluster::{SimCluster, StoredRecord, request_api};
use super::entropy::Entropy;
use super::faults::{FaultTally, Latency, NetFaults};
use super::sasl::{SimReply, SimSasl, SimSession};
use super::schedule::ClusterFault;
use crate::clock::EpochClock;
use crate::kafka_code::KafkaCode;
use crate::wire::{ApiKey, FrameDecoder};

/// How a [`SimServer`] starts.
#[derive(Debug, Clone)]
pub struct SimServerBuilder {
    brokers: usize,
    topics: Vec<(String, usize)>,
    auto_create: Option<usize>,
    faults: NetFaults,
    seed: u64,
    retain: Option<usize>,
    sasl: Option<SimSasl>,
}

impl Default for SimServerBuilder {
    fn default() -> Self {
        SimServerBuilder {
            brokers: 3,
            topics: Vec::new(),
            auto_create: Some(4),
            faults: NetFaults {
                latency: Latency::fixed(Duration::ZERO),
                ..NetFaults::default()
            },
            seed: 0,
            retain: Some(100_000),
            sasl: None,
        }
    }
}

impl SimServerBuilder {
    /// Brokers in the cluster (default 3).
    pub fn brokers(mut self, n: usize) -> Self {
        self.brokers = n.max(1);
        self
    }

    /// A topic created before the first connection.
    pub fn topic(mut self, name: &str, partitions: usize) -> Self {
        self.topics.push((String::from(name), partitions));
        self
    }

    /// Topics named in Metadata requests that allow it are created with
    /// this many partitions (default 4); `None` answers
    /// UNKNOWN_TOPIC_OR_PARTITION for them instead.
    pub fn auto_create_topics(mut self, partitions: Option<usize>) -> Self {
        self.auto_create = partitions;
        self
    }

    /// The network's faults (default: none, and no latency).
    pub fn faults(mut self, faults: NetFaults) -> Self {
        self.faults = faults;
        self
    }

    /// The seed fault decisions are drawn from (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Records each partition keeps, about (default 100,000; the oldest go
    /// first). `None` keeps them all, up to the cluster's own limit.
    pub fn retain(mut self, records: Option<usize>) -> Self {
        self.retain = records;
        self
    }

    /// Serves a SASL listener: every connection authenticates first
    /// (default: none). OAUTHBEARER tokens come from
    /// `with_cluster(|c| c.sasl.as_mut().map(|s| s.issue_token(now)))`.
    pub fn sasl(mut self, sasl: SimSasl) -> Self {
        self.sasl = Some(sasl);
        self
    }

    /// Binds one listener per broker on `127.0.0.1` (ports the system
    /// chooses) and starts serving.
    pub fn bind(self) -> io::Result<SimServer> {
        let mut cluster = SimCluster::new(self.brokers);
        cluster.auto_create_partitions = self.auto_create;
        cluster.sasl = self.sasl;
        let mut listeners = Vec::new();
        for node in 0..self.brokers {
            let listener = TcpListener::bind(("127.0.0.1", 0))?;
            let addr = listener.local_addr()?;
            cluster.set_address(node as i32, "127.0.0.1", addr.port());
            listeners.push((node as i32, listener, addr));
        }
        for (name, partitions) in &self.topics {
            cluster.create_topic(name, *partitions);
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                cluster,
                faults: self.faults,
                entropy: Entropy::seeded(self.seed),
                tally: FaultTally::default(),
                down: BTreeSet::new(),
                mute: BTreeSet::new(),
                conns: BTreeMap::new(),
                sessions: BTreeMap::new(),
                clock: EpochClock::new(),
                retain: self.retain,
                produce_requests: 0,
                requests: 0,
                started: Instant::now(),
            }),
            stop: AtomicBool::new(false),
            next_conn: AtomicU64::new(0),
        });
        let mut addrs = Vec::new();
        let mut threads = Vec::new();
        for (node, listener, addr) in listeners {
            addrs.push(addr);
            let shared = Arc::clone(&shared);
            threads.push(
                thread::Builder::new()
                    .name(alloc::format!("sim-broker-{node}"))
                    .spawn(move || accept_loop(node, listener, shared))?,
            );
        }
        Ok(SimServer {
            shared,
            addrs,
            threads,
        })
    }
}

/// The simulated cluster, served on loopback TCP until dropped.
#[derive(Debug)]
pub struct SimServer {
    shared: Arc<Shared>,
    addrs: Vec<SocketAddr>,
    threads: Vec<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
    next_conn: AtomicU64,
}

#[derive(Debug)]
struct State {
    cluster: SimCluster,
    faults: NetFaults,
    entropy: Entropy,
    tally: FaultTally,
    /// Brokers that refuse connections (accept, then close at once).
    down: BTreeSet<i32>,
    /// Brokers that read requests and answer none.
    mute: BTreeSet<i32>,
    /// Open connections: their broker and a handle to cut them.
    conns: BTreeMap<u64, (i32, TcpStream)>,
    /// Each connection's SASL state.
    sessions: BTreeMap<u64, SimSession>,
    /// The time scale of SASL sessions (the drivers' own).
    clock: EpochClock,
    retain: Option<usize>,
    produce_requests: u64,
    requests: u64,
    /// The cluster's clock (coordinator timeouts, transaction markers)
    /// runs on real time from here.
    started: Instant,
}

impl State {
    /// Brings the cluster's clock to now: markers due are written,
    /// transactions past their timeout aborted.
    fn tick(&mut self) {
        let nanos = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.cluster
            .advance(crate::time::Instant::from_nanos(nanos));
    }
}

impl State {
    fn cut_node(&mut self, node: Option<i32>) -> usize {
        let mut cut = 0;
        self.conns.retain(|_, (n, stream)| {
            if node.is_none_or(|want| want == *n) {
                let _ = stream.shutdown(Shutdown::Both);
                cut += 1;
                false
            } else {
                true
            }
        });
        cut
    }
}

impl SimServer {
    /// Three brokers on loopback, topics created on first use with four
    /// partitions, no faults: see [`SimServerBuilder`] for the rest.
    pub fn bind() -> io::Result<SimServer> {
        SimServerBuilder::default().bind()
    }

    /// A server with other settings.
    pub fn builder() -> SimServerBuilder {
        SimServerBuilder::default()
    }

    /// `bootstrap.servers` for this cluster: every broker's address.
    pub fn bootstrap_servers(&self) -> String {
        let all: Vec<String> = self.addrs.iter().map(|a| alloc::format!("{a}")).collect();
        all.join(",")
    }

    /// Each broker's address, by node id.
    pub fn addresses(&self) -> &[SocketAddr] {
        &self.addrs
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A thread that panicked holding the lock left a cluster that is
        // still consistent enough to read and tear down.
        let mut state = self
            .shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.tick();
        state
    }

    /// Runs `f` on the cluster, under its lock: anything [`SimCluster`]
    /// offers (injected errors, leaders, producer state, logs).
    pub fn with_cluster<R>(&self, f: impl FnOnce(&mut SimCluster) -> R) -> R {
        f(&mut self.state().cluster)
    }

    /// Creates a topic whose leaders go round the brokers.
    pub fn create_topic(&self, name: &str, partitions: usize) {
        self.state().cluster.create_topic(name, partitions);
    }

    /// A copy of a partition's log.
    pub fn log(&self, topic: &str, partition: usize) -> Vec<StoredRecord> {
        self.state().cluster.log(topic, partition).to_vec()
    }

    /// Records in every partition of `topic` still kept.
    pub fn records(&self, topic: &str) -> usize {
        let s = self.state();
        (0..s.cluster.partitions(topic))
            .map(|p| s.cluster.log(topic, p).len())
            .sum()
    }

    /// The next requests of `api` fail with these codes, one each.
    pub fn inject(&self, api: ApiKey, errors: &[KafkaCode]) {
        self.state().cluster.inject(api, errors);
    }

    /// Replaces the network's fault rates.
    pub fn set_faults(&self, faults: NetFaults) {
        self.state().faults = faults;
    }

    /// Faults injected so far.
    pub fn tally(&self) -> FaultTally {
        self.state().tally.clone()
    }

    /// Requests received so far (all APIs), and Produce requests.
    pub fn requests(&self) -> (u64, u64) {
        let s = self.state();
        (s.requests, s.produce_requests)
    }

    /// Connections open now.
    pub fn connections(&self) -> usize {
        self.state().conns.len()
    }

    /// Cuts every open connection (the client reads EOF); returns how
    /// many.
    pub fn cut_connections(&self) -> usize {
        self.state().cut_node(None)
    }

    /// Takes a broker down: its connections are cut and new ones closed
    /// as soon as they are accepted. It keeps its state.
    pub fn broker_down(&self, node: i32) {
        let mut s = self.state();
        s.down.insert(node);
        s.cut_node(Some(node));
    }

    /// Brings a broker back (after [`broker_down`](SimServer::broker_down)
    /// or [`broker_restart`](SimServer::broker_restart)).
    pub fn broker_up(&self, node: i32) {
        self.state().down.remove(&node);
    }

    /// A restart that loses producer state: down now, until
    /// [`broker_up`](SimServer::broker_up).
    pub fn broker_restart(&self, node: i32) {
        let mut s = self.state();
        s.down.insert(node);
        s.cut_node(Some(node));
        s.cluster.forget_producers_on(node);
    }

    /// The broker keeps reading requests and answers none, until
    /// [`unmute`](SimServer::unmute).
    pub fn mute(&self, node: i32) {
        self.state().mute.insert(node);
    }

    /// The broker answers again (requests read while mute stay unanswered).
    pub fn unmute(&self, node: i32) {
        self.state().mute.remove(&node);
    }

    /// Moves a partition's leadership, bumping its leader epoch.
    pub fn move_leader(&self, topic: &str, partition: usize, node: i32) {
        self.state().cluster.set_leader(topic, partition, node);
    }

    /// A cluster fault of a [`Schedule`](super::Schedule), now, on
    /// `topic`. Faults that last (outages, restarts, hangs) end by
    /// themselves after their time, on a thread of their own.
    pub fn strike(&self, topic: &str, fault: ClusterFault) {
        strike(&self.shared, topic, fault);
    }

    /// Strikes each fault at its offset from now, on a thread of its own:
    /// a [`Schedule`](super::Schedule)'s `faults`, in real time.
    pub fn strike_at(&self, topic: &str, faults: Vec<(Duration, ClusterFault)>) {
        let shared = Arc::clone(&self.shared);
        let topic = String::from(topic);
        thread::spawn(move || {
            let start = Instant::now();
            for (at, fault) in faults {
                thread::sleep((start + at).saturating_duration_since(Instant::now()));
                if shared.stop.load(Ordering::Relaxed) {
                    return;
                }
                strike(&shared, &topic, fault);
            }
        });
    }

    /// Stops serving: listeners close, connections are cut.
    pub fn shutdown(&mut self) {
        if self.shared.stop.swap(true, Ordering::SeqCst) {
            return;
        }
        self.state().cut_node(None);
        // Wake each acceptor with a connection of our own so that it sees
        // the flag.
        for addr in &self.addrs {
            let _ = TcpStream::connect_timeout(addr, Duration::from_secs(1));
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn strike(shared: &Arc<Shared>, topic: &str, fault: ClusterFault) {
    let later = |d: Duration, end: fn(&mut State, i32), node: i32| {
        let shared = Arc::clone(shared);
        thread::spawn(move || {
            thread::sleep(d);
            if !shared.stop.load(Ordering::Relaxed) {
                end(
                    &mut shared.state.lock().unwrap_or_else(|p| p.into_inner()),
                    node,
                );
            }
        });
    };
    let mut s = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    match fault {
        ClusterFault::MoveLeader { partition, to } => {
            s.tally.leader_moves += 1;
            s.cluster.set_leader(topic, partition, to);
        }
        ClusterFault::Restart { node, down_for } => {
            s.tally.restarts += 1;
            s.down.insert(node);
            s.cut_node(Some(node));
            s.cluster.forget_producers_on(node);
            later(
                down_for,
                |s, n| {
                    s.down.remove(&n);
                },
                node,
            );
        }
        ClusterFault::Outage { node, down_for } => {
            s.tally.outages += 1;
            s.down.insert(node);
            s.cut_node(Some(node));
            later(
                down_for,
                |s, n| {
                    s.down.remove(&n);
                },
                node,
            );
        }
        ClusterFault::Hang { node, mute_for } => {
            s.tally.hangs += 1;
            s.mute.insert(node);
            later(
                mute_for,
                |s, n| {
                    s.mute.remove(&n);
                },
                node,
            );
        }
        ClusterFault::Truncate { partition } => {
            s.tally.truncations += 1;
            let end = s.cluster.log_start(topic, partition)
                + s.cluster.log(topic, partition).len() as i64;
            s.cluster.truncate_log(topic, partition, end);
        }
    }
}

fn accept_loop(node: i32, listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
        let Ok(handle) = stream.try_clone() else {
            continue;
        };
        {
            let mut s = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            if s.down.contains(&node) {
                let _ = stream.shutdown(Shutdown::Both);
                continue;
            }
            s.conns.insert(id, (node, handle));
        }
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name(alloc::format!("sim-conn-{id}"))
            .spawn(move || serve(node, id, stream, shared));
        if spawned.is_err() {
            // Out of threads: the connection was moved into the failed
            // closure and is closed with it; forget it.
            continue;
        }
    }
}

/// What the reader decided for one answer.
struct Answer {
    bytes: Bytes,
    delay: Duration,
    chunk: usize,
    gap: Duration,
}

/// Reads requests, applies them with their faults, writes the answers.
fn serve(node: i32, id: u64, mut stream: TcpStream, shared: Arc<Shared>) {
    let mut frames = FrameDecoder::default();
    let mut buf = alloc::vec![0u8; 64 * 1024];
    // Once one answer had to wait, all later ones go through the writer
    // thread too, so that none overtakes another.
    let mut writer: Option<Sender<(Instant, Answer)>> = None;
    let mut last_due = Instant::now();
    'read: loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        frames.push(&buf[..n]);
        loop {
            let frame = match frames.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(_) => break 'read,
            };
            let Some(answer) = apply(node, id, frame, &shared) else {
                continue;
            };
            let Ok(answer) = answer else { break 'read };
            if writer.is_none() && answer.delay.is_zero() && answer.chunk == 0 {
                if stream.write_all(&answer.bytes).is_err() {
                    break 'read;
                }
                continue;
            }
            let tx = writer.get_or_insert_with(|| {
                let (tx, rx) = mpsc::channel::<(Instant, Answer)>();
                let out = stream.try_clone();
                thread::spawn(move || {
                    let Ok(mut out) = out else { return };
                    for (due, a) in rx {
                        thread::sleep(due.saturating_duration_since(Instant::now()));
                        if write_answer(&mut out, &a).is_err() {
                            let _ = out.shutdown(Shutdown::Both);
                            return;
                        }
                    }
                });
                tx
            });
            let due = (Instant::now() + answer.delay).max(last_due);
            last_due = due;
            if tx.send((due, answer)).is_err() {
                break 'read;
            }
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
    let mut s = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    s.conns.remove(&id);
    s.sessions.remove(&id);
}

fn write_answer(out: &mut TcpStream, a: &Answer) -> io::Result<()> {
    if a.chunk == 0 || a.chunk >= a.bytes.len() {
        return out.write_all(&a.bytes);
    }
    for (i, piece) in a.bytes.chunks(a.chunk).enumerate() {
        if i > 0 && !a.gap.is_zero() {
            thread::sleep(a.gap);
        }
        out.write_all(piece)?;
    }
    Ok(())
}

/// Applies one request: `None` when no answer is due, `Some(Err)` when the
/// connection must be cut.
fn apply(node: i32, id: u64, frame: Bytes, shared: &Shared) -> Option<Result<Answer, ()>> {
    let mut guard = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    let s = &mut *guard;
    if !s.conns.contains_key(&id) {
        // Cut while the request was read.
        return Some(Err(()));
    }
    let api = request_api(&frame);
    s.requests += 1;
    if s.mute.contains(&node) {
        return None;
    }
    if s.entropy.chance(s.faults.drop_before_apply) {
        s.tally.dropped_before_apply += 1;
        return Some(Err(()));
    }
    if let Some(api) = api
        && s.entropy.chance(s.faults.error)
        && let Some(code) = s.faults.pick_error(api, &mut s.entropy)
    {
        s.tally.errors += 1;
        s.cluster.inject_next(api, code);
    }
    let produce = api == Some(ApiKey::Produce);
    let plain_throttle = s.cluster.throttle_ms;
    if produce && !s.faults.max_throttle.is_zero() && s.entropy.chance(s.faults.throttle) {
        let max = u64::try_from(s.faults.max_throttle.as_millis()).unwrap_or(0);
        s.cluster.throttle_ms = i32::try_from(s.entropy.between(1, max)).unwrap_or(0);
        s.tally.throttled += 1;
    }
    s.tick();
    let now = s.clock.now();
    let session = s.sessions.entry(id).or_default();
    let answer = s.cluster.handle_session(node, session, frame, now);
    s.cluster.throttle_ms = plain_throttle;
    if produce {
        s.produce_requests += 1;
        if let Some(keep) = s.retain
            && s.produce_requests.is_multiple_of(64)
        {
            s.cluster.trim_logs(keep);
        }
    }
    if s.entropy.chance(s.faults.drop_after_apply) {
        s.tally.dropped_after_apply += 1;
        return Some(Err(()));
    }
    let bytes = match answer {
        SimReply::Answer(bytes) => bytes,
        // acks=0 Produce needs no answer; anything else not understood
        // closes the connection, as a broker does.
        SimReply::Nothing if produce => return None,
        SimReply::Nothing | SimReply::Close => return Some(Err(())),
    };
    if s.entropy.chance(s.faults.lose_answer) {
        s.tally.answers_lost += 1;
        return None;
    }
    let latency = s.faults.latency;
    let mut delay = latency.sample(&mut s.entropy) + latency.sample(&mut s.entropy);
    if delay > (latency.base + latency.jitter) * 2 {
        s.tally.spikes += 1;
        delay = delay.min(latency.max() * 2);
    }
    let chunk = s.faults.chunk;
    if chunk > 0 && chunk < bytes.len() {
        s.tally.chunked += 1;
    }
    Some(Ok(Answer {
        bytes,
        delay,
        chunk,
        gap: s.faults.slow_read,
    }))
}
