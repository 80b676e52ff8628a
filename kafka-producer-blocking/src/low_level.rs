//! [`BlockingDriver`]: the low-level layer. The calling thread owns the
//! [`Producer`] and writes to blocking sockets; one thread per connection
//! connects and then reads, forwarding what it gets over a channel, on
//! which the owner waits until the producer's next timeout.
//!
//! The reader threads are what keeps a blocking write from deadlocking: a
//! broker that stops reading until its responses are read can always make
//! progress, because responses are read by another thread.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::Duration;

use kafka_producer_proto::{
    Config, ConnectionId, Event, Instant, Producer, Record, RecordId, SendError, SendErrorKind,
};

use kafka_producer_proto::{DriverStats, EpochClock};

/// What a connection's thread reports.
enum Input {
    /// The connect finished: the stream to write to, or why not.
    Connected(ConnectionId, io::Result<TcpStream>),
    /// Bytes read.
    Data(ConnectionId, Vec<u8>),
    /// The peer closed, or reading failed.
    Closed(ConnectionId),
}

/// A [`Producer`] driven by blocking sockets and the calling thread.
pub struct BlockingDriver<T> {
    producer: Producer<T>,
    clock: EpochClock,
    /// Connects under way, in their threads.
    connecting: BTreeSet<ConnectionId>,
    /// Open connections: the write side (the reader thread has a clone).
    conns: BTreeMap<ConnectionId, TcpStream>,
    tx: Sender<Input>,
    rx: Receiver<Input>,
    events: Vec<Event<T>>,
    closed: bool,
    stats: DriverStats,
    setup_timeout: Duration,
}

impl<T> BlockingDriver<T> {
    /// Drives `producer`, which must measure time from the Unix epoch (as
    /// [`EpochClock`] does).
    pub fn new(producer: Producer<T>) -> Self {
        let (tx, rx) = mpsc::channel();
        let setup_timeout = producer.config().socket_connection_setup_timeout();
        BlockingDriver {
            producer,
            clock: EpochClock::new(),
            connecting: BTreeSet::new(),
            conns: BTreeMap::new(),
            tx,
            rx,
            events: Vec::new(),
            closed: false,
            stats: DriverStats::default(),
            setup_timeout,
        }
    }

    /// A new producer with this configuration, driven by a new driver.
    pub fn from_config(config: Config) -> Self {
        let clock = EpochClock::new();
        let mut driver = BlockingDriver::new(Producer::new(config, clock.now()));
        driver.clock = clock;
        driver
    }

    /// The producer.
    pub fn producer(&self) -> &Producer<T> {
        &self.producer
    }

    /// The producer, for inputs the driver has no method for. Call
    /// [`BlockingDriver::settle`] after giving it an input.
    pub fn producer_mut(&mut self) -> &mut Producer<T> {
        &mut self.producer
    }

    /// The producer's `now`.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// What the driver did so far.
    pub fn stats(&self) -> DriverStats {
        self.stats
    }

    /// The `Delivered`, `Failed` and `Closed` events seen since the last
    /// call, in order.
    pub fn take_events(&mut self) -> Vec<Event<T>> {
        std::mem::take(&mut self.events)
    }

    /// Sends a record, blocking while `buffer.memory` is full; any other
    /// refusal is returned with the record.
    // The error hands the record back, as `Producer::send`'s does: boxing
    // it would cost an allocation per refusal for no one's benefit.
    #[allow(clippy::result_large_err)]
    pub fn send(&mut self, mut record: Record<T>) -> Result<RecordId, SendError<T>> {
        loop {
            match self.producer.send(record, self.clock.now()) {
                Ok(id) => {
                    self.settle();
                    // Take in what already arrived, without waiting, so
                    // that a sender that never fills the buffer still sees
                    // its deliveries.
                    while let Ok(input) = self.rx.try_recv() {
                        self.handle(input);
                    }
                    return Ok(id);
                }
                Err(SendError {
                    kind: SendErrorKind::BufferFull { .. },
                    record: back,
                }) => {
                    record = back;
                    self.settle();
                    self.turn(None);
                }
                Err(refused) => return Err(refused),
            }
        }
    }

    /// Sends everything buffered and blocks until every accepted record has
    /// its terminal event.
    pub fn flush(&mut self) {
        self.producer.flush(self.clock.now());
        self.settle();
        while self.producer.pending_records() > 0 {
            self.turn(None);
        }
    }

    /// Closes the producer and blocks until `Event::Closed`.
    pub fn close(&mut self) {
        if !self.closed {
            self.producer.close(self.clock.now());
            self.settle();
        }
        while !self.closed {
            self.turn(None);
        }
    }

    /// Moves bytes and time until `cond` holds (checked before waiting and
    /// after each wake-up) or `deadline` passes.
    pub fn drive_until(
        &mut self,
        deadline: std::time::Instant,
        mut cond: impl FnMut(&Producer<T>) -> bool,
    ) {
        self.settle();
        while !cond(&self.producer) && std::time::Instant::now() < deadline {
            self.turn(Some(deadline));
        }
    }

    /// Moves bytes and time for `d`.
    pub fn drive_for(&mut self, d: Duration) {
        self.drive_until(std::time::Instant::now() + d, |_| false);
    }

    /// Shuts every socket down and reports each as closed.
    pub fn kill_connections(&mut self) {
        let now = self.clock.now();
        let open = std::mem::take(&mut self.conns);
        let ids: Vec<ConnectionId> = open
            .keys()
            .copied()
            .chain(std::mem::take(&mut self.connecting))
            .collect();
        for stream in open.values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        for id in ids {
            self.stats.peer_closes += 1;
            self.producer.handle_disconnected(id, now);
            self.settle();
        }
    }

    /// Drains the producer's output and writes it: the run-loop contract
    /// after every input.
    pub fn settle(&mut self) {
        loop {
            let mut broken = None;
            while let Some(t) = self.producer.poll_transmit(self.clock.now()) {
                let Some(stream) = self.conns.get_mut(&t.conn) else {
                    continue;
                };
                match stream.write_all(&t.data) {
                    Ok(()) => self.stats.bytes_written += t.data.len() as u64,
                    Err(_) => {
                        broken = Some(t.conn);
                        break;
                    }
                }
            }
            self.drain_events();
            let Some(id) = broken else {
                return;
            };
            if let Some(stream) = self.conns.remove(&id) {
                // The reader thread then ends and reports the close, which
                // `handle` ignores: the producer hears of it here.
                let _ = stream.shutdown(Shutdown::Both);
                self.stats.peer_closes += 1;
                self.producer.handle_disconnected(id, self.clock.now());
            }
        }
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.producer.poll_event() {
            match event {
                Event::Connect { conn, host, port } => {
                    self.stats.connects += 1;
                    self.connecting.insert(conn);
                    let tx = self.tx.clone();
                    let timeout = self.setup_timeout;
                    thread::spawn(move || connection_thread(conn, host, port, timeout, tx));
                }
                Event::Disconnect { conn } => {
                    self.stats.disconnects += 1;
                    self.connecting.remove(&conn);
                    if let Some(stream) = self.conns.remove(&conn) {
                        let _ = stream.shutdown(Shutdown::Both);
                    }
                }
                Event::Closed => {
                    self.closed = true;
                    self.events.push(Event::Closed);
                }
                other => self.events.push(other),
            }
        }
    }

    /// Waits for one input (or the producer's timer, or `limit`) and
    /// handles it, then everything else already waiting.
    fn turn(&mut self, limit: Option<std::time::Instant>) {
        self.stats.turns += 1;
        let due = self.producer.poll_timeout().map(|t| self.clock.to_std(t));
        let wake_at = match (due, limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let first = match wake_at {
            Some(at) => {
                let wait = at.saturating_duration_since(std::time::Instant::now());
                if wait.is_zero() && due.is_some_and(|d| d <= std::time::Instant::now()) {
                    self.stats.immediate_timeouts += 1;
                }
                match self.rx.recv_timeout(wait) {
                    Ok(input) => Some(input),
                    Err(RecvTimeoutError::Timeout) => None,
                    // Unreachable: the driver holds a sender itself.
                    Err(RecvTimeoutError::Disconnected) => None,
                }
            }
            None => self.rx.recv().ok(),
        };
        if let Some(input) = first {
            self.handle(input);
            while let Ok(input) = self.rx.try_recv() {
                self.handle(input);
            }
        }
        if due.is_some_and(|d| d <= std::time::Instant::now()) {
            self.producer.handle_timeout(self.clock.now());
            self.settle();
        }
    }

    fn handle(&mut self, input: Input) {
        let now = self.clock.now();
        match input {
            Input::Connected(id, result) => {
                let wanted = self.connecting.remove(&id);
                match (wanted, result) {
                    (true, Ok(stream)) => {
                        self.conns.insert(id, stream);
                        self.producer.handle_connected(id, now);
                    }
                    (true, Err(_)) => {
                        self.stats.connect_failures += 1;
                        self.producer.handle_disconnected(id, now);
                    }
                    // The producer gave up on it while it was connecting.
                    (false, Ok(stream)) => {
                        let _ = stream.shutdown(Shutdown::Both);
                    }
                    (false, Err(_)) => {}
                }
            }
            Input::Data(id, bytes) => {
                if !self.conns.contains_key(&id) {
                    return;
                }
                self.stats.bytes_read += bytes.len() as u64;
                self.producer.handle_response(id, &bytes, now);
            }
            Input::Closed(id) => {
                // Also reported for sockets we shut down ourselves, which
                // are no longer in `conns`.
                if self.conns.remove(&id).is_some() {
                    self.stats.peer_closes += 1;
                    self.producer.handle_disconnected(id, now);
                }
            }
        }
        self.settle();
    }
}

/// Connects, hands a clone of the stream to the driver, then reads until
/// the connection ends.
fn connection_thread(
    id: ConnectionId,
    host: String,
    port: u16,
    timeout: Duration,
    tx: Sender<Input>,
) {
    let stream = connect(&host, port, timeout).and_then(|s| {
        // Requests are whole frames written at once; Nagle would only hold
        // the last one back.
        s.set_nodelay(true)?;
        let writer = s.try_clone()?;
        Ok((s, writer))
    });
    let mut reader = match stream {
        Ok((reader, writer)) => {
            if tx.send(Input::Connected(id, Ok(writer))).is_err() {
                return;
            }
            reader
        }
        Err(e) => {
            let _ = tx.send(Input::Connected(id, Err(e)));
            return;
        }
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if tx.send(Input::Data(id, buf[..n].to_vec())).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = tx.send(Input::Closed(id));
}

/// Tries each address of `host` in turn, each for at most `timeout`.
fn connect(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "host has no address");
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}
