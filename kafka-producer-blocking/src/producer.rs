//! [`Producer`]: the cloneable blocking handle, and [`DeliveryHandle`].

use std::future::Future;
use std::io;
use std::net::ToSocketAddrs;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::mpsc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use kafka_producer_driver::{CloseError, DeliveryFuture, DeliveryResult, MemoryWait, Shared};
use kafka_producer_proto::{Config, DriverStats, Metrics, Record, SendError, SendErrorKind};

use crate::thread::{self as driver, Socket};

/// Unparks the thread that waits.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    static WAKER: Waker = Waker::from(Arc::new(Unpark(thread::current())));
}

/// Polls `poll` on this thread until it is ready or `deadline` passes,
/// parking in between.
pub(crate) fn block_on<R>(
    deadline: Option<Instant>,
    mut poll: impl FnMut(&mut Context<'_>) -> Poll<R>,
) -> Option<R> {
    WAKER.with(|waker| {
        let mut cx = Context::from_waker(waker);
        loop {
            if let Poll::Ready(r) = poll(&mut cx) {
                return Some(r);
            }
            match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    thread::park_timeout(left);
                }
                None => thread::park(),
            }
        }
    })
}

/// A Kafka producer on threads and blocking sockets: a cheap, cloneable
/// handle (`Send` and `Sync`) to one producer and its driver thread. No
/// async runtime anywhere.
///
/// ```
/// use kafka_producer_blocking::{Config, Producer, Record};
/// use kafka_producer_proto::sim::SimServer;
///
/// let server = SimServer::bind()?; // a simulated cluster on loopback
/// let config = Config::builder().bootstrap_servers(&server.bootstrap_servers()).build()?;
/// let producer = Producer::connect(config)?;
///
/// let handle = producer.send(Record::new("events").key("k").value("hello"))?;
/// let delivered = handle.wait()?;
/// assert_eq!(delivered.offset, Some(0));
///
/// producer.close(std::time::Duration::from_secs(5))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Producer {
    handle: Arc<Handle>,
}

struct Handle {
    shared: Arc<Shared<Socket>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.with(|e| e.close());
    }
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("pending", &self.pending())
            .finish_non_exhaustive()
    }
}

impl Producer {
    /// Starts a producer: checks that some bootstrap server's name
    /// resolves, and starts the driver thread. Connections open when the
    /// first record needs them.
    ///
    /// ```
    /// use kafka_producer_blocking::{Config, Producer};
    /// let config = Config::builder().bootstrap_servers("nosuchhost.invalid:9092").build().unwrap();
    /// let error = Producer::connect(config).unwrap_err();
    /// assert!(error.to_string().contains("nosuchhost.invalid"));
    /// ```
    pub fn connect(config: Config) -> io::Result<Producer> {
        let mut last = None;
        let resolved = config.bootstrap_servers().iter().any(|(host, port)| {
            match (host.as_str(), *port).to_socket_addrs() {
                Ok(mut addrs) => {
                    let found = addrs.next().is_some();
                    if !found {
                        last = Some(format!("{host}:{port}: no address"));
                    }
                    found
                }
                Err(e) => {
                    last = Some(format!("{host}:{port}: {e}"));
                    false
                }
            }
        });
        if !resolved {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "no bootstrap server resolves ({})",
                    last.unwrap_or_else(|| "none given".into())
                ),
            ));
        }
        let shared = Shared::new(config);
        let (tx, rx) = mpsc::channel();
        let for_thread = Arc::clone(&shared);
        thread::Builder::new()
            .name("kafka-producer".into())
            .spawn(move || driver::run(for_thread, tx, rx))?;
        Ok(Producer {
            handle: Arc::new(Handle { shared }),
        })
    }

    pub(crate) fn shared(&self) -> &Arc<Shared<Socket>> {
        &self.handle.shared
    }

    /// Sends a record: returns as soon as the producer has accepted it,
    /// with a [`DeliveryHandle`] to wait for its delivery.
    ///
    /// When `buffer.memory` is full it blocks, first come first served, up
    /// to `max.block.ms` for deliveries to free memory, then fails with
    /// [`SendErrorKind::BufferTimeout`]. Every refusal hands the record
    /// back.
    ///
    /// ```
    /// # use kafka_producer_blocking::{Config, Producer, Record};
    /// # use kafka_producer_proto::sim::SimServer;
    /// # let server = SimServer::bind()?;
    /// # let producer = Producer::connect(Config::builder().bootstrap_servers(&server.bootstrap_servers()).build()?)?;
    /// let handles: Vec<_> = (0..100)
    ///     .map(|i| producer.send(Record::new("events").key(format!("k{i}"))))
    ///     .collect::<Result<_, _>>()?;
    /// for h in handles {
    ///     h.wait()?;
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    // The error hands the record back, as the producer's does.
    #[allow(clippy::result_large_err)]
    pub fn send(&self, record: Record) -> Result<DeliveryHandle, SendError<()>> {
        let shared = self.shared();
        match shared.with(|e| e.try_send(record, None)) {
            Ok(ticket) => Ok(DeliveryHandle(shared.future(ticket))),
            Err(SendError {
                kind: SendErrorKind::BufferFull { .. },
                record,
            }) => self.send_blocked(record),
            Err(refused) => Err(refused),
        }
    }

    /// Sends a record without blocking: when `buffer.memory` is full (or
    /// other senders wait for it) it is refused at once with
    /// [`SendErrorKind::BufferFull`] and handed back.
    ///
    /// ```
    /// # use kafka_producer_blocking::{Config, Producer, Record};
    /// # use kafka_producer_proto::sim::SimServer;
    /// # let server = SimServer::bind()?;
    /// # let producer = Producer::connect(Config::builder().bootstrap_servers(&server.bootstrap_servers()).build()?)?;
    /// match producer.try_send(Record::new("events").value("v")) {
    ///     Ok(handle) => println!("offset {:?}", handle.wait()?.offset),
    ///     Err(refused) => println!("{}: {:?} handed back", refused.kind, refused.record.topic),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[allow(clippy::result_large_err)]
    pub fn try_send(&self, record: Record) -> Result<DeliveryHandle, SendError<()>> {
        let ticket = self.shared().with(|e| e.try_send(record, None))?;
        Ok(DeliveryHandle(self.shared().future(ticket)))
    }

    #[allow(clippy::result_large_err)]
    fn send_blocked(&self, record: Record) -> Result<DeliveryHandle, SendError<()>> {
        let mut wait = MemoryWait::new(self.shared(), record);
        let deadline = Instant::now() + wait.max_block();
        match block_on(Some(deadline), |cx| wait.poll(cx)) {
            Some(sent) => sent.map(DeliveryHandle),
            None => Err(wait.timed_out()),
        }
    }

    /// Sends everything buffered now (without waiting for `linger.ms`) and
    /// blocks until every record accepted before the call has its result.
    ///
    /// ```
    /// # use kafka_producer_blocking::{Config, Producer, Record};
    /// # use kafka_producer_proto::sim::SimServer;
    /// # let server = SimServer::bind()?;
    /// # let producer = Producer::connect(Config::builder().bootstrap_servers(&server.bootstrap_servers()).build()?)?;
    /// let mut handle = producer.send(Record::new("events").value("v"))?;
    /// producer.flush();
    /// assert!(handle.try_result().unwrap().is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush(&self) {
        let shared = self.shared();
        let id = shared.with(|e| e.flush());
        block_on(None, |cx| shared.with(|e| e.poll_flush(id, cx)));
    }

    /// Closes the producer: no new records; every pending record is
    /// delivered, or fails at its delivery deadline. If `timeout` runs out
    /// first, every record still pending fails with
    /// [`ProduceError::Aborted`](crate::ProduceError::Aborted)
    /// (handed back through its [`DeliveryHandle`]).
    ///
    /// ```
    /// # use kafka_producer_blocking::{Config, Producer, Record};
    /// # use kafka_producer_proto::sim::SimServer;
    /// # let server = SimServer::bind()?;
    /// # let producer = Producer::connect(Config::builder().bootstrap_servers(&server.bootstrap_servers()).build()?)?;
    /// # use kafka_producer_blocking::SendErrorKind;
    /// producer.close(std::time::Duration::from_secs(5))?;
    /// let refused = producer.send(Record::new("events")).unwrap_err();
    /// assert_eq!(refused.kind, SendErrorKind::Closed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&self, timeout: Duration) -> Result<(), CloseError> {
        let shared = self.shared();
        shared.with(|e| e.close());
        let deadline = Instant::now() + timeout;
        if block_on(Some(deadline), |cx| shared.with(|e| e.poll_closed(cx))).is_some() {
            return Ok(());
        }
        let aborted = shared.abort_pending();
        block_on(None, |cx| shared.with(|e| e.poll_closed(cx)));
        Err(CloseError::TimedOut { aborted, timeout })
    }

    /// Records accepted and without a result yet.
    ///
    /// ```
    /// # use kafka_producer_blocking::{Config, Producer, Record};
    /// # use kafka_producer_proto::sim::SimServer;
    /// # let server = SimServer::bind()?;
    /// # let producer = Producer::connect(Config::builder().bootstrap_servers(&server.bootstrap_servers()).build()?)?;
    /// let handle = producer.send(Record::new("events"))?;
    /// assert_eq!(producer.pending(), 1);
    /// handle.wait()?;
    /// assert_eq!(producer.pending(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pending(&self) -> usize {
        self.shared().with(|e| e.pending())
    }

    /// The producer's metrics, under Kafka's names.
    ///
    /// ```
    /// # use kafka_producer_blocking::{Config, Producer, Record};
    /// # use kafka_producer_proto::sim::SimServer;
    /// # let server = SimServer::bind()?;
    /// # let producer = Producer::connect(Config::builder().bootstrap_servers(&server.bootstrap_servers()).build()?)?;
    /// producer.send(Record::new("events"))?.wait()?;
    /// let metrics = producer.metrics();
    /// assert_eq!(metrics.record_send_total, 1);
    /// for (name, value) in metrics.iter() {
    ///     println!("{name} = {value}");
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn metrics(&self) -> Metrics {
        self.shared().with(|e| e.metrics())
    }

    /// What the driver did so far (connections, bytes, waits).
    ///
    /// ```
    /// # use kafka_producer_blocking::{Config, Producer, Record};
    /// # use kafka_producer_proto::sim::SimServer;
    /// # let server = SimServer::bind()?;
    /// # let producer = Producer::connect(Config::builder().bootstrap_servers(&server.bootstrap_servers()).build()?)?;
    /// producer.send(Record::new("events"))?.wait()?;
    /// let stats = producer.driver_stats();
    /// assert!(stats.connects >= 1 && stats.bytes_written > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn driver_stats(&self) -> DriverStats {
        self.shared().with(|e| e.stats())
    }
}

/// The way to one record's result.
///
/// Dropping it does not cancel the send: the record is still delivered or
/// fails (a failure is then only counted in the metrics and logged).
#[derive(Debug)]
#[must_use = "a dropped DeliveryHandle still sends its record, but its failure goes unseen"]
pub struct DeliveryHandle(DeliveryFuture);

impl DeliveryHandle {
    /// Blocks until the record is in the log, or will not be (the error
    /// hands it back).
    ///
    /// ```
    /// # use kafka_producer_blocking::{Config, Producer, Record};
    /// # use kafka_producer_proto::sim::SimServer;
    /// # let server = SimServer::bind()?;
    /// # let producer = Producer::connect(Config::builder().bootstrap_servers(&server.bootstrap_servers()).build()?)?;
    /// let delivered = producer.send(Record::new("events").value("v"))?.wait()?;
    /// assert_eq!(delivered.offset, Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait(mut self) -> DeliveryResult {
        let fut = &mut self.0;
        block_on(None, |cx| Pin::new(&mut *fut).poll(cx)).unwrap_or_else(|| unreachable!())
    }

    /// As [`DeliveryHandle::wait`], for at most `timeout`; `Err` gives the
    /// handle back.
    ///
    /// ```
    /// # use kafka_producer_blocking::{Config, Producer, Record};
    /// # use kafka_producer_proto::sim::SimServer;
    /// # let server = SimServer::bind()?;
    /// # let producer = Producer::connect(Config::builder().bootstrap_servers(&server.bootstrap_servers()).build()?)?;
    /// let handle = producer.send(Record::new("events"))?;
    /// match handle.wait_timeout(std::time::Duration::from_secs(10)) {
    ///     Ok(result) => println!("partition {}", result?.partition),
    ///     Err(handle) => println!("still pending: {handle:?}"),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_timeout(mut self, timeout: Duration) -> Result<DeliveryResult, DeliveryHandle> {
        let fut = &mut self.0;
        match block_on(Some(Instant::now() + timeout), |cx| {
            Pin::new(&mut *fut).poll(cx)
        }) {
            Some(result) => Ok(result),
            None => Err(self),
        }
    }

    /// The result if it is already there, without blocking.
    ///
    /// ```
    /// # use kafka_producer_blocking::{Config, Producer, Record};
    /// # use kafka_producer_proto::sim::SimServer;
    /// # let server = SimServer::bind()?;
    /// # let producer = Producer::connect(Config::builder().bootstrap_servers(&server.bootstrap_servers()).build()?)?;
    /// let mut handle = producer.send(Record::new("events"))?;
    /// producer.flush();
    /// assert!(handle.try_result().is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_result(&mut self) -> Option<DeliveryResult> {
        self.0.try_result()
    }
}
