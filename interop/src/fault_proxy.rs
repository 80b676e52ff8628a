//! A fault-injecting TCP proxy for Kafka traffic, for tests against real
//! brokers.
//!
//! The mock cluster can refuse, delay or drop requests, but neither it nor
//! tansu can apply a request and then lose its answer: the "possibly
//! persisted" case that decides whether a retry duplicates a record. A proxy
//! between client and broker can, because it sees both directions as whole
//! Kafka frames (an int32 big-endian size, then that many bytes).
//!
//! ```no_run
//! use kafka_producer_interop::fault_proxy::{FaultProxy, parse_addrs};
//! use kafka_producer_proto::Config;
//!
//! let bootstrap = "127.0.0.1:9092,127.0.0.1:9093"; // every broker of the cluster
//! let proxy = FaultProxy::start_multi(&parse_addrs(bootstrap));
//! let config = Config::builder().bootstrap_servers(&proxy.bootstrap()).build()?;
//! proxy.cut_every_n_responses(1000);
//! # Ok::<(), kafka_producer_proto::ConfigError>(())
//! ```
//!
//! Addresses. Clients dial the addresses that Metadata responses advertise,
//! not the bootstrap list, so every broker must be reached through a proxy
//! port or the client bypasses the proxy after its first Metadata request.
//! Two ways:
//!
//! - Rewriting (always on): [`FaultProxy::start_multi`] listens on one port
//!   per upstream broker and replaces each upstream address in Metadata
//!   responses, in Produce responses' `node_endpoints` (KIP-951) and in
//!   FindCoordinator responses with the matching proxy port. This is what
//!   makes the librdkafka mock cluster usable, since its advertised
//!   addresses are fixed; it works as well for a tansu broker advertising
//!   its own address. Give every broker of the cluster as an upstream.
//! - Advertising: a broker that lets you choose its advertised listener
//!   (tansu: `--advertised-listener-url tcp://127.0.0.1:PROXY_PORT`) can
//!   advertise the proxy itself; then nothing needs rewriting. That needs
//!   the proxy's port before the broker starts, which rewriting does not.
//!
//! Faults apply to frames, never to partial reads, so a "cut after the
//! request" cut comes after the whole request reached the broker.
//!
//! Recording ([`FaultProxy::record_traffic`]): the proxy also notes every
//! frame it forwards, with when and to which broker, so a test can check
//! from outside the client what it sent (API versions, which broker got a
//! partition's batches, whether it waited out a throttle) and what the
//! broker answered.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_producer_proto::wire::Message;
use kafka_producer_proto::wire::header::{
    decode_request_header, decode_response_header, encode_response,
};
use kafka_producer_proto::wire::messages::{
    ApiKey, ApiVersionsResponse, FindCoordinatorResponse, InitProducerIdResponse, MetadataResponse,
    ProduceRequest, ProduceResponse,
};

/// How long a cut waits for the broker's answer to the cut request before
/// cutting anyway. Waiting for the answer makes "the broker applied it"
/// certain rather than likely; the limit covers requests that get no
/// answer (acks=0) and brokers that never answer.
const CUT_GRACE: Duration = Duration::from_secs(2);
/// Larger frames are treated as a broken stream: no Kafka frame in these
/// tests comes near, and a garbage size must not make the proxy allocate
/// gigabytes.
const MAX_FRAME: usize = 256 * 1024 * 1024;
/// How often a held response re-reads the hold, so `release` takes effect
/// promptly.
const HOLD_TICK: Duration = Duration::from_millis(5);

/// What the proxy did so far, across all its ports and connections.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProxyStats {
    /// Client connections accepted and joined to an upstream connection.
    pub connections: u64,
    /// Request frames forwarded client to broker.
    pub requests: u64,
    /// Response frames forwarded whole broker to client.
    pub responses: u64,
    /// Connections cut after a request was forwarded, before its response.
    pub cuts: u64,
    /// Responses forwarded late because a hold was on.
    pub held: u64,
    /// Responses of which only a part was forwarded before the close.
    pub mid_frame_drops: u64,
    /// Responses whose broker addresses were replaced by proxy addresses.
    pub rewritten: u64,
}

/// Which way a recorded frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to broker, recorded as it arrived from the client.
    Request,
    /// Broker to client, recorded as it was forwarded to the client.
    Response,
}

/// One frame the proxy passed on, recorded while
/// [`FaultProxy::record_traffic`] is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traffic {
    /// When the request arrived from the client, or the response left for
    /// it.
    pub at: Instant,
    /// The broker of the connection.
    pub upstream: SocketAddr,
    /// The proxy's number for the client connection (from 1).
    pub conn: u64,
    pub direction: Direction,
    /// The API key and version of the request (for a response: of the
    /// request it answers).
    pub api: i16,
    pub version: i16,
    pub correlation_id: i32,
    /// Produce requests: the partition indexes they carry batches for.
    pub partitions: Vec<i32>,
    /// Responses of Produce, Metadata, InitProducerId and ApiVersions:
    /// the `throttle_time_ms` the broker asked for.
    pub throttle_ms: Option<i32>,
    /// Produce responses: per partition answered, (partition, error code,
    /// base offset, log append time).
    pub produced: Vec<Produced>,
}

/// One partition's answer in a Produce response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Produced {
    pub partition: i32,
    pub error_code: i16,
    pub base_offset: i64,
    /// -1 unless the broker says when it appended the batch: always on a
    /// topic with LogAppendTime, and on any topic for a batch it already
    /// had (a retry it recognised), where Kafka answers with the original
    /// batch's max timestamp.
    pub log_append_time: i64,
}

/// A running proxy; dropping it closes its ports and every connection.
pub struct FaultProxy {
    shared: Arc<Shared>,
    listeners: Vec<(SocketAddr, SocketAddr)>,
    acceptors: Vec<JoinHandle<()>>,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    requests: AtomicU64,
    responses: AtomicU64,
    cuts: AtomicU64,
    held: AtomicU64,
    mid_frame_drops: AtomicU64,
    rewritten: AtomicU64,
    conn_ids: AtomicU64,
}

struct Shared {
    cut_next_request: AtomicBool,
    cut_every: AtomicUsize,
    hold_nanos: AtomicU64,
    drop_mid_frame: AtomicBool,
    stopping: AtomicBool,
    recording: AtomicBool,
    traffic: Mutex<Vec<Traffic>>,
    counters: Counters,
    /// Upstream broker address -> the proxy port that stands for it.
    rewrites: Vec<(SocketAddr, SocketAddr)>,
    /// Live connections, so dropping the proxy can close them.
    conns: Mutex<Vec<Arc<Conn>>>,
}

/// One client connection and its upstream connection.
struct Conn {
    id: u64,
    upstream_addr: SocketAddr,
    client: TcpStream,
    upstream: TcpStream,
    closed: AtomicBool,
    /// Set when the n-th response went out on this connection: its next
    /// request is the one to cut.
    cut_armed: AtomicBool,
    /// The correlation id of the request being cut: its response is
    /// swallowed and the connection closed instead.
    cut_at: Mutex<Option<i32>>,
    /// The broker's answer to the cut request has arrived, so the broker
    /// has applied it.
    cut_answered: AtomicBool,
    /// Requests whose responses carry broker addresses: correlation id ->
    /// (api key, version), to decode the response for rewriting.
    addressed: Mutex<HashMap<i32, (i16, i16)>>,
    /// While recording, every request: correlation id -> (api key,
    /// version), to record its response.
    requests: Mutex<HashMap<i32, (i16, i16)>>,
}

/// A poisoned lock only means another proxy thread panicked; the data is
/// still consistent (plain values), and a test should see its own failure,
/// not a second panic from here.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Conn {
    /// Closes both sides; true for the call that actually closed them.
    fn close(&self) -> bool {
        if self.closed.swap(true, Ordering::SeqCst) {
            return false;
        }
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.upstream.shutdown(Shutdown::Both);
        true
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

/// Parses a `bootstrap.servers`-style list (`host:port,host:port`).
pub fn parse_addrs(list: &str) -> Vec<SocketAddr> {
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .to_socket_addrs()
                .unwrap_or_else(|e| panic!("address {s}: {e}"))
                .next()
                .unwrap_or_else(|| panic!("address {s} resolves to nothing"))
        })
        .collect()
}

impl FaultProxy {
    /// A proxy for one broker, on 127.0.0.1 and a free port.
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        FaultProxy::start_multi(&[upstream])
    }

    /// A proxy with one port per upstream broker. Commands and counters
    /// are shared by all ports; addresses of these upstreams in responses
    /// are rewritten to their proxy ports.
    pub fn start_multi(upstreams: &[SocketAddr]) -> FaultProxy {
        assert!(!upstreams.is_empty(), "a proxy needs an upstream");
        let mut bound = Vec::new();
        for upstream in upstreams {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind proxy port");
            let addr = listener.local_addr().expect("proxy port address");
            bound.push((listener, addr, *upstream));
        }
        let shared = Arc::new(Shared {
            cut_next_request: AtomicBool::new(false),
            cut_every: AtomicUsize::new(0),
            hold_nanos: AtomicU64::new(0),
            drop_mid_frame: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            recording: AtomicBool::new(false),
            traffic: Mutex::new(Vec::new()),
            counters: Counters::default(),
            rewrites: bound.iter().map(|(_, a, u)| (*u, *a)).collect(),
            conns: Mutex::new(Vec::new()),
        });
        let mut listeners = Vec::new();
        let mut acceptors = Vec::new();
        for (listener, addr, upstream) in bound {
            listeners.push((addr, upstream));
            let shared = shared.clone();
            acceptors.push(
                thread::Builder::new()
                    .name(format!("proxy-accept-{}", addr.port()))
                    .spawn(move || accept_loop(listener, upstream, shared))
                    .expect("spawn proxy acceptor"),
            );
        }
        FaultProxy {
            shared,
            listeners,
            acceptors,
        }
    }

    /// The proxy's (first) address.
    pub fn addr(&self) -> SocketAddr {
        self.listeners[0].0
    }

    /// The proxy's addresses, one per upstream, in the order given.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|(a, _)| *a).collect()
    }

    /// The proxy address standing for `upstream`.
    pub fn proxy_for(&self, upstream: SocketAddr) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|(_, u)| *u == upstream)
            .map(|(a, _)| *a)
    }

    /// The proxy's addresses as a `bootstrap.servers` value.
    pub fn bootstrap(&self) -> String {
        self.addrs()
            .iter()
            .map(SocketAddr::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The next request from any client is forwarded whole; then its
    /// connection is closed on both sides instead of its response being
    /// forwarded. The broker has applied the request (the proxy waits for
    /// its answer, up to 2 s, and swallows it); the client never learns
    /// the outcome. Requests the client sent after it on that connection
    /// are not forwarded.
    pub fn cut_after_next_request(&self) {
        self.shared.cut_next_request.store(true, Ordering::SeqCst);
    }

    /// After every `n`-th response forwarded (counted over all
    /// connections), the next request on that response's connection is
    /// cut as in [`FaultProxy::cut_after_next_request`]. 0 turns it off.
    pub fn cut_every_n_responses(&self, n: usize) {
        self.shared.cut_every.store(n, Ordering::SeqCst);
    }

    /// Forwards each response no sooner than `hold` after it arrived from
    /// the broker. Responses are held side by side, not one after the
    /// other: five pipelined responses all arrive about `hold` late.
    pub fn hold_responses(&self, hold: Duration) {
        let nanos = u64::try_from(hold.as_nanos()).unwrap_or(u64::MAX);
        self.shared.hold_nanos.store(nanos, Ordering::SeqCst);
    }

    /// Ends the hold; responses being held go out now.
    pub fn release(&self) {
        self.shared.hold_nanos.store(0, Ordering::SeqCst);
    }

    /// The next response on any connection is forwarded only in part (its
    /// size and half its body), then the connection is closed.
    pub fn drop_mid_frame_next_response(&self) {
        self.shared.drop_mid_frame.store(true, Ordering::SeqCst);
    }

    /// Closes every connection now, as a broker restart or network
    /// partition would, without applying anything further.
    pub fn close_all(&self) {
        for conn in lock(&self.shared.conns).iter() {
            conn.close();
        }
    }

    /// From now on, records every request and response it forwards
    /// ([`FaultProxy::traffic`]): which broker, when, which API and
    /// version, the partitions of Produce requests and the throttle times
    /// of responses. Costs a decode of every Produce request and response.
    pub fn record_traffic(&self) {
        self.shared.recording.store(true, Ordering::SeqCst);
    }

    /// Everything recorded since [`FaultProxy::record_traffic`], in the
    /// order it happened.
    pub fn traffic(&self) -> Vec<Traffic> {
        let mut t = lock(&self.shared.traffic).clone();
        t.sort_by_key(|f| f.at);
        t
    }

    /// What the proxy did so far.
    pub fn stats(&self) -> ProxyStats {
        let c = &self.shared.counters;
        ProxyStats {
            connections: c.connections.load(Ordering::SeqCst),
            requests: c.requests.load(Ordering::SeqCst),
            responses: c.responses.load(Ordering::SeqCst),
            cuts: c.cuts.load(Ordering::SeqCst),
            held: c.held.load(Ordering::SeqCst),
            mid_frame_drops: c.mid_frame_drops.load(Ordering::SeqCst),
            rewritten: c.rewritten.load(Ordering::SeqCst),
        }
    }

    /// Waits until `done(stats)` holds or `timeout` passes; whether it held.
    /// Counters move on the proxy's threads, a moment after the client saw
    /// the effect.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&ProxyStats) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.stats()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // accept() has no timeout; a connection of our own wakes it to see
        // the flag.
        for (addr, _) in &self.listeners {
            let _ = TcpStream::connect_timeout(addr, Duration::from_secs(1));
        }
        for handle in self.acceptors.drain(..) {
            let _ = handle.join();
        }
        self.close_all();
    }
}

fn accept_loop(listener: TcpListener, upstream_addr: SocketAddr, shared: Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        // A broker that cannot be reached looks to the client like a
        // connection closed at once, which is what it would see directly.
        let Ok(upstream) = TcpStream::connect_timeout(&upstream_addr, Duration::from_secs(5))
        else {
            continue;
        };
        if let Err(e) = spawn_conn(client, upstream, upstream_addr, &shared) {
            eprintln!("fault proxy: cannot start a connection: {e}");
        }
    }
}

fn spawn_conn(
    client: TcpStream,
    upstream: TcpStream,
    upstream_addr: SocketAddr,
    shared: &Arc<Shared>,
) -> io::Result<()> {
    // Frames are forwarded as soon as they are whole; Nagle would add
    // latency that timing tests would mistake for a hold.
    client.set_nodelay(true)?;
    upstream.set_nodelay(true)?;
    let conn = Arc::new(Conn {
        id: shared.counters.conn_ids.fetch_add(1, Ordering::SeqCst) + 1,
        upstream_addr,
        client: client.try_clone()?,
        upstream: upstream.try_clone()?,
        closed: AtomicBool::new(false),
        cut_armed: AtomicBool::new(false),
        cut_at: Mutex::new(None),
        cut_answered: AtomicBool::new(false),
        addressed: Mutex::new(HashMap::new()),
        requests: Mutex::new(HashMap::new()),
    });
    {
        let mut conns = lock(&shared.conns);
        conns.retain(|c| !c.is_closed());
        conns.push(conn.clone());
    }
    shared.counters.connections.fetch_add(1, Ordering::SeqCst);
    // Reading and writing responses are separate threads so that a held
    // response does not delay reading the next one: each is held from its
    // own arrival.
    let (tx, rx) = mpsc::channel();
    let (c, s) = (conn.clone(), shared.clone());
    let (client_r, upstream_w) = (client.try_clone()?, upstream.try_clone()?);
    thread::Builder::new()
        .name("proxy-requests".into())
        .spawn(move || forward_requests(client_r, upstream_w, &c, &s))?;
    let c = conn.clone();
    thread::Builder::new()
        .name("proxy-read-responses".into())
        .spawn(move || read_responses(upstream, tx, &c))?;
    let s = shared.clone();
    thread::Builder::new()
        .name("proxy-write-responses".into())
        .spawn(move || write_responses(client, rx, &conn, &s))?;
    Ok(())
}

/// Reads one frame's body; `None` at a clean end of stream between frames.
fn read_frame(r: &mut impl Read) -> io::Result<Option<Bytes>> {
    let mut size = [0u8; 4];
    match r.read_exact(&mut size) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let size = usize::try_from(i32::from_be_bytes(size))
        .ok()
        .filter(|n| *n <= MAX_FRAME)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad frame size"))?;
    let mut body = vec![0u8; size];
    r.read_exact(&mut body)?;
    Ok(Some(Bytes::from(body)))
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 4);
    // MAX_FRAME keeps every body we forward within i32.
    out.extend_from_slice(&(body.len() as i32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A request header starts api key (i16), api version (i16), correlation
/// id (i32) in every header version; nothing else is needed here.
fn request_ids(frame: &[u8]) -> Option<(i16, i16, i32)> {
    match frame {
        [k0, k1, v0, v1, c0, c1, c2, c3, ..] => Some((
            i16::from_be_bytes([*k0, *k1]),
            i16::from_be_bytes([*v0, *v1]),
            i32::from_be_bytes([*c0, *c1, *c2, *c3]),
        )),
        _ => None,
    }
}

fn response_correlation_id(frame: &[u8]) -> Option<i32> {
    match frame {
        [a, b, c, d, ..] => Some(i32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

fn forward_requests(mut client: TcpStream, mut upstream: TcpStream, conn: &Conn, shared: &Shared) {
    loop {
        let frame = match read_frame(&mut client) {
            Ok(Some(frame)) => frame,
            // The client hung up (or broke the framing): so does the proxy,
            // towards the broker too, as a direct connection would.
            Ok(None) | Err(_) => break,
        };
        if conn.is_closed() {
            break;
        }
        let ids = request_ids(&frame);
        // Produce responses carry addresses only from v10 (KIP-951); older
        // ones are not worth decoding.
        if let Some((api, version, correlation_id)) = ids
            && match ApiKey::from_i16(api) {
                Some(ApiKey::Metadata | ApiKey::FindCoordinator) => true,
                Some(ApiKey::Produce) => version >= 10,
                _ => false,
            }
        {
            lock(&conn.addressed).insert(correlation_id, (api, version));
        }
        // An armed connection takes precedence so that the global one-shot
        // is not used up by a request that was going to be cut anyway.
        let cut = conn.cut_armed.swap(false, Ordering::SeqCst)
            || shared.cut_next_request.swap(false, Ordering::SeqCst);
        if cut {
            // Registered before the request leaves, so the response cannot
            // slip past the response thread.
            *lock(&conn.cut_at) = Some(ids.map_or(i32::MIN, |(_, _, c)| c));
        }
        if shared.recording.load(Ordering::SeqCst)
            && let Some((api, version, correlation_id)) = ids
        {
            lock(&conn.requests).insert(correlation_id, (api, version));
            let partitions = if api == ApiKey::Produce.as_i16() {
                produce_partitions(&frame)
            } else {
                Vec::new()
            };
            lock(&shared.traffic).push(Traffic {
                at: Instant::now(),
                upstream: conn.upstream_addr,
                conn: conn.id,
                direction: Direction::Request,
                api,
                version,
                correlation_id,
                partitions,
                throttle_ms: None,
                produced: Vec::new(),
            });
        }
        // Counted before the write, so that the count is current by the
        // time the answer can reach the client.
        shared.counters.requests.fetch_add(1, Ordering::SeqCst);
        if upstream.write_all(&framed(&frame)).is_err() {
            break;
        }
        if cut {
            // Nothing more goes to the broker: exactly the requests up to
            // this one may have been applied.
            let deadline = Instant::now() + CUT_GRACE;
            while !conn.is_closed()
                && !conn.cut_answered.load(Ordering::SeqCst)
                && Instant::now() < deadline
            {
                thread::sleep(Duration::from_millis(1));
            }
            // An answered cut is carried out by the response writer, in
            // order after the responses before it; an unanswered one here.
            if !conn.cut_answered.load(Ordering::SeqCst) && conn.close() {
                shared.counters.cuts.fetch_add(1, Ordering::SeqCst);
            }
            return;
        }
    }
    conn.close();
}

fn read_responses(mut upstream: TcpStream, tx: mpsc::Sender<(Instant, Bytes)>, conn: &Conn) {
    // A broker that closes, even mid-frame, is passed on as a close: the
    // client would have seen no more than a truncated frame either. The
    // writer forwards what is queued (subject to the hold), then closes.
    while let Ok(Some(frame)) = read_frame(&mut upstream) {
        let arrived = Instant::now();
        if let Some(cut_at) = *lock(&conn.cut_at)
            && response_correlation_id(&frame) == Some(cut_at)
        {
            conn.cut_answered.store(true, Ordering::SeqCst);
        }
        if tx.send((arrived, frame)).is_err() {
            break;
        }
    }
}

fn write_responses(
    mut client: TcpStream,
    rx: mpsc::Receiver<(Instant, Bytes)>,
    conn: &Conn,
    shared: &Shared,
) {
    while let Ok((arrived, frame)) = rx.recv() {
        let correlation_id = response_correlation_id(&frame);
        if let Some(cut_at) = *lock(&conn.cut_at)
            && correlation_id == Some(cut_at)
        {
            if conn.close() {
                shared.counters.cuts.fetch_add(1, Ordering::SeqCst);
            }
            return;
        }
        let mut was_held = false;
        loop {
            let hold = Duration::from_nanos(shared.hold_nanos.load(Ordering::SeqCst));
            let now = Instant::now();
            if conn.is_closed() || hold.is_zero() {
                break;
            }
            // Counted even when it arrived long enough ago (behind other
            // held responses): it still went out late because of the hold.
            was_held = true;
            if now >= arrived + hold {
                break;
            }
            thread::sleep((arrived + hold - now).min(HOLD_TICK));
        }
        if conn.is_closed() {
            return;
        }
        let addressed = correlation_id.and_then(|c| lock(&conn.addressed).remove(&c));
        let bytes = match addressed
            .and_then(|(api, version)| rewrite_addresses(&frame, api, version, &shared.rewrites))
        {
            Some(rewritten) => {
                shared.counters.rewritten.fetch_add(1, Ordering::SeqCst);
                rewritten
            }
            None => framed(&frame),
        };
        if shared.drop_mid_frame.swap(false, Ordering::SeqCst) {
            // The size prefix and half the body: the client knows how much
            // is missing and must not wait for it forever.
            let part = 4 + (bytes.len() - 4) / 2;
            let _ = client.write_all(&bytes[..part]);
            let _ = client.flush();
            if conn.close() {
                shared
                    .counters
                    .mid_frame_drops
                    .fetch_add(1, Ordering::SeqCst);
            }
            return;
        }
        // Recorded before the write, as the client may answer at once.
        if shared.recording.load(Ordering::SeqCst)
            && let Some(c) = correlation_id
            && let Some((api, version)) = lock(&conn.requests).remove(&c)
        {
            lock(&shared.traffic).push(Traffic {
                at: Instant::now(),
                upstream: conn.upstream_addr,
                conn: conn.id,
                direction: Direction::Response,
                api,
                version,
                correlation_id: c,
                partitions: Vec::new(),
                throttle_ms: throttle_of(&frame, api, version),
                produced: produced_of(&frame, api, version),
            });
        }
        // Counted and armed before the write: once the client has the
        // response it may send its next request at once, and that request
        // must find the cut armed and the counters current.
        if was_held {
            shared.counters.held.fetch_add(1, Ordering::SeqCst);
        }
        let n = shared.counters.responses.fetch_add(1, Ordering::SeqCst) + 1;
        let every = shared.cut_every.load(Ordering::SeqCst) as u64;
        if every > 0 && n.is_multiple_of(every) {
            conn.cut_armed.store(true, Ordering::SeqCst);
        }
        if client.write_all(&bytes).is_err() {
            break;
        }
    }
    conn.close();
}

/// The partition indexes a Produce request frame carries batches for
/// (empty when it does not decode).
fn produce_partitions(frame: &Bytes) -> Vec<i32> {
    let Ok((header, mut body)) = decode_request_header(frame.clone()) else {
        return Vec::new();
    };
    ProduceRequest::decode(&mut body, header.request_api_version)
        .map(|r| {
            r.topic_data
                .iter()
                .flat_map(|t| t.partition_data.iter().map(|p| p.index))
                .collect()
        })
        .unwrap_or_default()
}

/// What a Produce response frame says of each partition.
fn produced_of(frame: &Bytes, api: i16, version: i16) -> Vec<Produced> {
    if api != ApiKey::Produce.as_i16() {
        return Vec::new();
    }
    let Ok((_, mut body)) = decode_response_header(frame.clone(), ApiKey::Produce, version) else {
        return Vec::new();
    };
    ProduceResponse::decode(&mut body, version)
        .map(|r| {
            r.responses
                .iter()
                .flat_map(|t| t.partition_responses.iter())
                .map(|p| Produced {
                    partition: p.index,
                    error_code: p.error_code,
                    base_offset: p.base_offset,
                    log_append_time: p.log_append_time_ms,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The `throttle_time_ms` of a response frame, for the APIs a producer
/// speaks that carry one.
fn throttle_of(frame: &Bytes, api: i16, version: i16) -> Option<i32> {
    let api = ApiKey::from_i16(api)?;
    let (_, mut body) = decode_response_header(frame.clone(), api, version).ok()?;
    match api {
        ApiKey::Produce => ProduceResponse::decode(&mut body, version)
            .ok()
            .map(|r| r.throttle_time_ms),
        ApiKey::Metadata => MetadataResponse::decode(&mut body, version)
            .ok()
            .map(|r| r.throttle_time_ms),
        ApiKey::InitProducerId => InitProducerIdResponse::decode(&mut body, version)
            .ok()
            .map(|r| r.throttle_time_ms),
        ApiKey::ApiVersions => ApiVersionsResponse::decode(&mut body, version)
            .ok()
            .map(|r| r.throttle_time_ms),
        _ => None,
    }
}

/// The proxy address for a broker address in a response, if it is one of
/// the upstreams.
fn proxy_address(
    host: &str,
    port: i32,
    rewrites: &[(SocketAddr, SocketAddr)],
) -> Option<SocketAddr> {
    let ip = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.parse().ok()?
    };
    let addr = SocketAddr::new(ip, u16::try_from(port).ok()?);
    rewrites
        .iter()
        .find(|(upstream, _)| *upstream == addr)
        .map(|(_, proxy)| *proxy)
}

/// Replaces upstream addresses by proxy addresses in a response frame
/// (body without size); the new frame with its size, or `None` to forward
/// the original (nothing to replace, or a body the codec cannot read, which
/// the client must then see as the broker sent it).
fn rewrite_addresses(
    frame: &Bytes,
    api: i16,
    version: i16,
    rewrites: &[(SocketAddr, SocketAddr)],
) -> Option<Vec<u8>> {
    let api = ApiKey::from_i16(api)?;
    let (header, mut body) = decode_response_header(frame.clone(), api, version).ok()?;
    let mut changed = false;
    let mut replace = |host: &mut String, port: &mut i32| {
        if let Some(proxy) = proxy_address(host, *port, rewrites) {
            *host = proxy.ip().to_string();
            *port = i32::from(proxy.port());
            changed = true;
        }
    };
    let mut out = BytesMut::new();
    match api {
        ApiKey::Metadata => {
            let mut m = MetadataResponse::decode(&mut body, version).ok()?;
            for b in &mut m.brokers {
                replace(&mut b.host, &mut b.port);
            }
            encode_if(changed, &mut out, header.correlation_id, version, &m)?;
        }
        ApiKey::Produce => {
            let mut m = ProduceResponse::decode(&mut body, version).ok()?;
            for e in &mut m.node_endpoints {
                replace(&mut e.host, &mut e.port);
            }
            encode_if(changed, &mut out, header.correlation_id, version, &m)?;
        }
        ApiKey::FindCoordinator => {
            let mut m = FindCoordinatorResponse::decode(&mut body, version).ok()?;
            replace(&mut m.host, &mut m.port);
            for c in &mut m.coordinators {
                replace(&mut c.host, &mut c.port);
            }
            encode_if(changed, &mut out, header.correlation_id, version, &m)?;
        }
        _ => return None,
    }
    Some(out.to_vec())
}

fn encode_if<M: Message>(
    changed: bool,
    out: &mut BytesMut,
    correlation_id: i32,
    version: i16,
    body: &M,
) -> Option<()> {
    if !changed {
        return None;
    }
    encode_response(out, correlation_id, version, body).ok()
}
