//! [`TokioDriver`]: the low-level layer, a [`Producer`] with any per-record
//! value `T`, owned and driven by the task that awaits its methods.
//!
//! Everything happens in the task that awaits the driver's methods: there
//! are no reader tasks and no channels, so the producer is owned outright
//! and needs no lock. The driver waits in a single `poll_fn` over every
//! pending connect, every socket's read readiness (and write readiness when
//! it has bytes queued) and the producer's timer, then feeds what happened
//! to the producer and drains its output, as the run-loop contract asks.
//!
//! It is for tests and tools that need the producer itself at hand (its
//! events with their ids, `producer_mut`, `kill_connections`); applications
//! use [`crate::Producer`].

use std::collections::{BTreeMap, VecDeque};
use std::future::{Future, poll_fn};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use kafka_producer_proto::{
    Config, ConnectionId, Event, Instant, Producer, Record, RecordId, SendError, SendErrorKind,
};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use kafka_producer_proto::{DriverStats, EpochClock};

type ConnectFuture = Pin<Box<dyn Future<Output = io::Result<TcpStream>>>>;

/// Reads per socket per turn: enough to empty a busy socket's buffer, few
/// enough that one chatty broker cannot starve the others.
const READS_PER_TURN: usize = 8;
/// Buffers handed to one `writev`; Linux takes up to 1024, and a few dozen
/// already cover many request frames.
const SLICES_PER_WRITE: usize = 64;
/// Successful `send`s between two looks at the sockets. Without them a
/// sender that never hits `BufferFull` would never let the runtime poll the
/// reactor, and responses would wait until the buffer filled.
const SENDS_PER_TURN: u32 = 64;

struct Conn {
    stream: TcpStream,
    /// Request frames not yet written, in order; the front one may be
    /// partly written (its written prefix already advanced past).
    out: VecDeque<Bytes>,
}

/// What one wait observed; reused between turns so waiting allocates
/// nothing in steady state.
#[derive(Default)]
struct Woken {
    connected: Vec<(ConnectionId, io::Result<TcpStream>)>,
    readable: Vec<ConnectionId>,
    writable: Vec<ConnectionId>,
    timer: bool,
}

/// A [`Producer`] driven by tokio in the current task.
///
/// Create it inside a tokio runtime with the `net` and `time` drivers
/// enabled (a current-thread runtime is enough). Every async method may be
/// cancelled between two of its awaits without corrupting the driver: the
/// producer's state only changes in synchronous code. Cancelling `send`
/// while it waits for buffer memory drops the record.
pub struct TokioDriver<T> {
    producer: Producer<T>,
    clock: EpochClock,
    connecting: Vec<(ConnectionId, ConnectFuture)>,
    conns: BTreeMap<ConnectionId, Conn>,
    events: Vec<(std::time::Instant, Event<T>)>,
    closed: bool,
    stats: DriverStats,
    buf: Box<[u8]>,
    /// Made on first use, so that `new` works outside a runtime.
    sleep: Option<Pin<Box<Sleep>>>,
    sleep_armed: bool,
    woken: Woken,
    sends_since_turn: u32,
    /// `drain` queued bytes that no write was tried for yet: the only time
    /// `settle_at` needs to walk the connections (it runs after every send).
    unwritten: bool,
}

impl<T> TokioDriver<T> {
    /// Drives `producer`, which must measure time from the Unix epoch (as
    /// [`EpochClock`] does) for its CreateTimes to be right.
    pub fn new(producer: Producer<T>) -> Self {
        TokioDriver {
            producer,
            clock: EpochClock::new(),
            connecting: Vec::new(),
            conns: BTreeMap::new(),
            events: Vec::new(),
            closed: false,
            stats: DriverStats::default(),
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            sleep: None,
            sleep_armed: false,
            woken: Woken::default(),
            sends_since_turn: 0,
            unwritten: false,
        }
    }

    /// A new producer with this configuration, driven by a new driver.
    pub fn from_config(config: Config) -> Self {
        let clock = EpochClock::new();
        let mut driver = TokioDriver::new(Producer::new(config, clock.now()));
        driver.clock = clock;
        driver
    }

    /// The producer.
    pub fn producer(&self) -> &Producer<T> {
        &self.producer
    }

    /// The producer, for inputs the driver has no method for. Call
    /// [`TokioDriver::settle`] after giving it an input, as the run-loop
    /// contract asks.
    pub fn producer_mut(&mut self) -> &mut Producer<T> {
        &mut self.producer
    }

    /// The producer's `now`.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The clock the driver gives the producer.
    pub fn clock(&self) -> EpochClock {
        self.clock
    }

    /// What the driver did so far.
    pub fn stats(&self) -> DriverStats {
        self.stats
    }

    /// Whether `Event::Closed` has been seen.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Connections open or being opened.
    pub fn open_connections(&self) -> usize {
        self.conns.len() + self.connecting.len()
    }

    /// The `Delivered`, `Failed` and `Closed` events seen since the last
    /// call, in order.
    pub fn take_events(&mut self) -> Vec<Event<T>> {
        self.events.drain(..).map(|(_, e)| e).collect()
    }

    /// As [`TokioDriver::take_events`], each with the moment the driver
    /// took it from the producer (for latencies that do not depend on when
    /// the application gets round to asking).
    pub fn take_events_timed(&mut self) -> Vec<(std::time::Instant, Event<T>)> {
        std::mem::take(&mut self.events)
    }

    /// Sends a record. When `buffer.memory` is full the driver moves bytes
    /// until deliveries free enough and tries again; any other refusal is
    /// returned with the record.
    pub async fn send(&mut self, mut record: Record<T>) -> Result<RecordId, SendError<T>> {
        loop {
            // One clock read per record: at a million records a second,
            // reading it three times was a tenth of the CPU time.
            let stamp = std::time::Instant::now();
            match self.producer.send(record, self.clock.at(stamp)) {
                Ok(id) => {
                    self.settle_at(stamp);
                    self.sends_since_turn += 1;
                    if self.sends_since_turn >= SENDS_PER_TURN {
                        self.turn(Some(std::time::Instant::now())).await;
                    }
                    return Ok(id);
                }
                Err(SendError {
                    kind: SendErrorKind::BufferFull { .. },
                    record: back,
                }) => {
                    record = back;
                    self.settle();
                    self.turn(None).await;
                }
                Err(refused) => return Err(refused),
            }
        }
    }

    /// Asks the producer to send everything now, without waiting for it;
    /// see [`TokioDriver::flush`].
    pub fn start_flush(&mut self) {
        self.producer.flush(self.clock.now());
        self.settle();
    }

    /// Sends everything buffered and waits until every accepted record has
    /// its terminal event.
    pub async fn flush(&mut self) {
        self.start_flush();
        // acks=0 records count as delivered once handed over: wait for
        // their bytes to be written too.
        while self.producer.pending_records() > 0 || self.conns.values().any(|c| !c.out.is_empty())
        {
            self.turn(None).await;
        }
    }

    /// Asks the producer to close, without waiting; see
    /// [`TokioDriver::close`].
    pub fn start_close(&mut self) {
        if !self.closed {
            self.producer.close(self.clock.now());
            self.settle();
        }
    }

    /// Closes the producer: every pending record reaches its terminal
    /// event, then `Event::Closed` (kept for `take_events`).
    pub async fn close(&mut self) {
        self.start_close();
        while !self.closed {
            self.turn(None).await;
        }
    }

    /// Moves bytes and time for `d`.
    pub async fn drive_for(&mut self, d: Duration) {
        let deadline = std::time::Instant::now() + d;
        self.drive_until(deadline, |_| false).await;
    }

    /// Moves bytes and time until `cond` holds (checked before waiting and
    /// after each wake-up) or `deadline` passes.
    pub async fn drive_until(
        &mut self,
        deadline: std::time::Instant,
        mut cond: impl FnMut(&Producer<T>) -> bool,
    ) {
        self.settle();
        while !cond(&self.producer) && std::time::Instant::now() < deadline {
            self.turn(Some(deadline)).await;
        }
    }

    /// Drops every socket and pending connect, reporting each as closed:
    /// what a network failure looks like to the producer.
    pub fn kill_connections(&mut self) {
        let now = self.clock.now();
        let ids: Vec<ConnectionId> = self
            .conns
            .keys()
            .copied()
            .chain(self.connecting.iter().map(|(id, _)| *id))
            .collect();
        self.conns.clear();
        self.connecting.clear();
        for id in ids {
            self.stats.peer_closes += 1;
            self.producer.handle_disconnected(id, now);
            self.settle();
        }
    }

    /// Drains the producer's output (the run-loop contract after every
    /// input) and writes what the sockets take without waiting.
    pub fn settle(&mut self) {
        self.settle_at(std::time::Instant::now());
    }

    fn settle_at(&mut self, stamp: std::time::Instant) {
        loop {
            self.drain(stamp);
            if !std::mem::take(&mut self.unwritten) {
                return;
            }
            // What the socket does not take now goes out when it turns
            // writable (`turn`).
            let broken: Vec<ConnectionId> = self
                .conns
                .iter_mut()
                .filter(|(_, c)| !c.out.is_empty())
                .filter_map(|(id, c)| write_some(c, &mut self.stats).is_err().then_some(*id))
                .collect();
            if broken.is_empty() {
                return;
            }
            for id in broken {
                if self.conns.remove(&id).is_some() {
                    self.stats.peer_closes += 1;
                    self.producer.handle_disconnected(id, self.clock.at(stamp));
                    self.drain(stamp);
                }
            }
        }
    }

    /// Drains the producer's output; `stamp` is now, for the producer and
    /// for the events it hands over.
    fn drain(&mut self, stamp: std::time::Instant) {
        let now = self.clock.at(stamp);
        while let Some(t) = self.producer.poll_transmit(now) {
            // The producer only writes to connections it was told are open;
            // one the driver has just lost is reported already.
            if let Some(c) = self.conns.get_mut(&t.conn) {
                c.out.push_back(t.data);
                self.unwritten = true;
            }
        }
        while let Some(event) = self.producer.poll_event() {
            match event {
                Event::Connect { conn, host, port } => {
                    self.stats.connects += 1;
                    let connect = async move {
                        let stream = TcpStream::connect((host.as_str(), port)).await?;
                        // Requests are whole frames written at once; Nagle
                        // would only hold the last one back.
                        stream.set_nodelay(true)?;
                        Ok(stream)
                    };
                    self.connecting.push((conn, Box::pin(connect)));
                }
                Event::Disconnect { conn } => {
                    self.stats.disconnects += 1;
                    self.conns.remove(&conn);
                    self.connecting.retain(|(id, _)| *id != conn);
                }
                Event::Closed => {
                    self.closed = true;
                    self.events.push((stamp, Event::Closed));
                }
                other => self.events.push((stamp, other)),
            }
        }
    }

    /// The socket of `id` closed under us: tell the producer, and drain
    /// what that input produced.
    fn lost(&mut self, id: ConnectionId) {
        if self.conns.remove(&id).is_some() {
            self.stats.peer_closes += 1;
            self.producer.handle_disconnected(id, self.clock.now());
            self.settle();
        }
    }

    /// Waits until a connect finishes, a socket is ready or the producer's
    /// timer (or `limit`) is due, and feeds the producer what happened.
    /// With `limit` already past it only looks, without waiting.
    async fn turn(&mut self, limit: Option<std::time::Instant>) {
        self.sends_since_turn = 0;
        self.stats.turns += 1;
        let now = std::time::Instant::now();
        let due = self.producer.poll_timeout().map(|t| self.clock.to_std(t));
        let wake_at = match (due, limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let block = match wake_at {
            Some(at) if at <= now => {
                if due.is_some_and(|d| d <= now) {
                    self.stats.immediate_timeouts += 1;
                }
                // Not waiting on anything means never returning to the
                // runtime, whose reactor then never learns of new socket
                // readiness: yield once so it can.
                tokio::task::yield_now().await;
                self.sleep_armed = false;
                false
            }
            Some(at) => {
                let at = tokio::time::Instant::from_std(at);
                match self.sleep.as_mut() {
                    Some(s) => s.as_mut().reset(at),
                    None => self.sleep = Some(Box::pin(tokio::time::sleep_until(at))),
                }
                self.sleep_armed = true;
                true
            }
            None => {
                self.sleep_armed = false;
                true
            }
        };

        poll_fn(|cx| self.poll_woken(cx, block)).await;

        let mut woken = std::mem::take(&mut self.woken);
        for (id, result) in woken.connected.drain(..) {
            let now = self.clock.now();
            match result {
                Ok(stream) => {
                    self.conns.insert(
                        id,
                        Conn {
                            stream,
                            out: VecDeque::new(),
                        },
                    );
                    self.producer.handle_connected(id, now);
                }
                Err(_) => {
                    self.stats.connect_failures += 1;
                    self.producer.handle_disconnected(id, now);
                }
            }
            self.settle();
        }
        for id in woken.writable.drain(..) {
            if let Some(c) = self.conns.get_mut(&id)
                && write_some(c, &mut self.stats).is_err()
            {
                self.lost(id);
            }
        }
        for id in woken.readable.drain(..) {
            self.read(id);
        }
        woken.timer = false;
        self.woken = woken;
        if due.is_some_and(|d| d <= std::time::Instant::now()) {
            self.producer.handle_timeout(self.clock.now());
            self.settle();
        }
    }

    fn poll_woken(&mut self, cx: &mut Context<'_>, block: bool) -> Poll<()> {
        let woken = &mut self.woken;
        let mut i = 0;
        while i < self.connecting.len() {
            if let Poll::Ready(result) = self.connecting[i].1.as_mut().poll(cx) {
                let (id, _) = self.connecting.swap_remove(i);
                woken.connected.push((id, result));
            } else {
                i += 1;
            }
        }
        for (id, c) in &self.conns {
            // An error is readiness too: the read that follows reports it.
            if c.stream.poll_read_ready(cx).is_ready() {
                woken.readable.push(*id);
            }
            if !c.out.is_empty() && c.stream.poll_write_ready(cx).is_ready() {
                woken.writable.push(*id);
            }
        }
        if self.sleep_armed
            && let Some(sleep) = self.sleep.as_mut()
            && sleep.as_mut().poll(cx).is_ready()
        {
            self.sleep_armed = false;
            woken.timer = true;
        }
        let any = !woken.connected.is_empty()
            || !woken.readable.is_empty()
            || !woken.writable.is_empty()
            || woken.timer;
        if any || !block {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Reads what `id` has, up to [`READS_PER_TURN`] times; the rest waits
    /// for the next turn (its readiness stays set).
    fn read(&mut self, id: ConnectionId) {
        for _ in 0..READS_PER_TURN {
            let Some(c) = self.conns.get(&id) else {
                return;
            };
            match c.stream.try_read(&mut self.buf) {
                Ok(0) => return self.lost(id),
                Ok(n) => {
                    self.stats.bytes_read += n as u64;
                    self.producer
                        .handle_response(id, &self.buf[..n], self.clock.now());
                    self.settle();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.lost(id),
            }
        }
    }
}

/// Writes as much of `c`'s queue as the socket takes now. `Err` means the
/// connection is broken.
fn write_some(c: &mut Conn, stats: &mut DriverStats) -> io::Result<()> {
    while !c.out.is_empty() {
        let written = {
            let mut slices = [IoSlice::new(&[]); SLICES_PER_WRITE];
            let n = c
                .out
                .iter()
                .zip(slices.iter_mut())
                .map(|(bytes, slice)| *slice = IoSlice::new(bytes))
                .count();
            c.stream.try_write_vectored(&slices[..n])
        };
        match written {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(mut n) => {
                stats.bytes_written += n as u64;
                while n > 0 {
                    let Some(front) = c.out.front_mut() else {
                        break;
                    };
                    if n >= front.len() {
                        n -= front.len();
                        c.out.pop_front();
                    } else {
                        front.advance(n);
                        n = 0;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
