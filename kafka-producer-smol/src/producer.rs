//! [`Producer`]: the cloneable async handle.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use kafka_producer_driver::{CloseError, DeliveryFuture, MemoryWait, Shared};
use kafka_producer_proto::{Config, DriverStats, Metrics, Record, SendError, SendErrorKind};

use crate::task::{self, Socket};
use smol::Timer;

/// Accepted sends between two yields to the runtime: a task that sends
/// without ever waiting would otherwise keep the driver task (on a
/// current-thread runtime) from reading the brokers' answers.
const SENDS_PER_YIELD: u32 = 64;

/// An async Kafka producer on smol: a cheap, cloneable handle (`Send` and
/// `Sync`) to one producer and its driver task.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> { smol::block_on(async {
/// use kafka_producer_proto::sim::SimServer;
/// use kafka_producer_smol::{Config, Producer, Record};
///
/// let server = SimServer::bind()?; // a simulated cluster on loopback
/// let config = Config::builder().bootstrap_servers(&server.bootstrap_servers()).build()?;
/// let producer = Producer::connect(config).await?;
///
/// // `send` waits only when buffer.memory is full; the future it returns
/// // resolves once the record is in the log.
/// let delivery = producer.send(Record::new("events").key("k").value("hello")).await?;
/// let delivered = delivery.await?;
/// assert_eq!(delivered.offset, Some(0));
///
/// producer.close(std::time::Duration::from_secs(5)).await?;
/// # Ok(()) }) }
/// ```
#[derive(Clone)]
pub struct Producer {
    handle: Arc<Handle>,
}

/// Closes the producer when the last clone of the handle goes away.
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
        let pending = self.shared().with(|e| e.pending());
        f.debug_struct("Producer")
            .field("pending", &pending)
            .finish_non_exhaustive()
    }
}

impl Producer {
    /// Starts a producer: checks that some bootstrap server's name
    /// resolves, and spawns the driver task on smol's global executor.
    /// Connections open when the first record needs them.
    ///
    /// Fails when no bootstrap server resolves.
    ///
    /// ```
    /// # fn main() { smol::block_on(async {
    /// use kafka_producer_smol::{Config, Producer};
    /// let config = Config::builder().bootstrap_servers("nosuchhost.invalid:9092").build().unwrap();
    /// let error = Producer::connect(config).await.unwrap_err();
    /// assert!(error.to_string().contains("nosuchhost.invalid"));
    /// # }) }
    /// ```
    pub async fn connect(config: Config) -> io::Result<Producer> {
        let mut last = None;
        let mut resolved = false;
        for (host, port) in config.bootstrap_servers() {
            match smol::net::resolve((host.as_str(), *port)).await {
                Ok(addrs) => {
                    if !addrs.is_empty() {
                        resolved = true;
                        break;
                    }
                    last = Some(format!("{host}:{port}: no address"));
                }
                Err(e) => last = Some(format!("{host}:{port}: {e}")),
            }
        }
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
        smol::spawn(task::run(Arc::clone(&shared))).detach();
        Ok(Producer {
            handle: Arc::new(Handle { shared }),
        })
    }

    pub(crate) fn shared(&self) -> &Arc<Shared<Socket>> {
        &self.handle.shared
    }

    /// Sends a record: resolves as soon as the producer has accepted it,
    /// with a [`DeliveryFuture`] for its delivery.
    ///
    /// When `buffer.memory` is full it waits, first come first served, up
    /// to `max.block.ms` for deliveries to free memory, then fails with
    /// [`SendErrorKind::BufferTimeout`]. Every refusal hands the record
    /// back. Cancelling the wait (dropping this future) drops the record.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> { smol::block_on(async {
    /// # use kafka_producer_proto::sim::SimServer;
    /// # use kafka_producer_smol::{Config, Producer, Record};
    /// # let server = SimServer::bind()?;
    /// # let config = Config::builder().bootstrap_servers(&server.bootstrap_servers()).build()?;
    /// # let producer = Producer::connect(config).await?;
    /// // Many records in flight at once: send them all, then wait.
    /// let mut deliveries = Vec::new();
    /// for i in 0..100 {
    ///     deliveries.push(producer.send(Record::new("events").key(format!("k{i}"))).await?);
    /// }
    /// for d in deliveries {
    ///     d.await?;
    /// }
    /// # Ok(()) }) }
    /// ```
    // The error hands the record back: boxing it would cost an allocation
    // per refusal for no one's benefit.
    #[allow(clippy::result_large_err)]
    pub async fn send(&self, record: Record) -> Result<DeliveryFuture, SendError<()>> {
        let first = self.shared().with(|e| {
            e.try_send(record, None)
                .map(|t| (t, e.should_yield(SENDS_PER_YIELD)))
        });
        match first {
            Ok((ticket, yield_now)) => {
                if yield_now {
                    smol::future::yield_now().await;
                }
                Ok(self.shared().future(ticket))
            }
            Err(SendError {
                kind: SendErrorKind::BufferFull { .. },
                record,
            }) => self.send_blocked(record).await,
            Err(refused) => Err(refused),
        }
    }

    /// Sends a record without waiting: when `buffer.memory` is full (or
    /// other senders wait for it) it is refused at once with
    /// [`SendErrorKind::BufferFull`] and handed back.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> { smol::block_on(async {
    /// # use kafka_producer_proto::sim::SimServer;
    /// # use kafka_producer_smol::{Config, Producer, Record};
    /// # let server = SimServer::bind()?;
    /// # let config = Config::builder().bootstrap_servers(&server.bootstrap_servers()).build()?;
    /// # let producer = Producer::connect(config).await?;
    /// // From synchronous code (a callback, a `Drop`): never waits.
    /// match producer.try_send(Record::new("events").value("v")) {
    ///     Ok(delivery) => println!("offset {:?}", delivery.await?.offset),
    ///     Err(refused) => println!("{}: {:?} handed back", refused.kind, refused.record.topic),
    /// }
    /// # Ok(()) }) }
    /// ```
    #[allow(clippy::result_large_err)]
    pub fn try_send(&self, record: Record) -> Result<DeliveryFuture, SendError<()>> {
        let ticket = self.shared().with(|e| e.try_send(record, None))?;
        Ok(self.shared().future(ticket))
    }

    #[allow(clippy::result_large_err)]
    async fn send_blocked(&self, record: Record) -> Result<DeliveryFuture, SendError<()>> {
        let mut wait = MemoryWait::new(self.shared(), record);
        let mut deadline = Timer::after(wait.max_block());
        poll_fn(|cx| match wait.poll(cx) {
            Poll::Ready(sent) => Poll::Ready(sent),
            Poll::Pending => Pin::new(&mut deadline)
                .poll(cx)
                .map(|_| Err(wait.timed_out())),
        })
        .await
    }

    /// Sends everything buffered now (without waiting for `linger.ms`) and
    /// waits until every record accepted before the call has its result.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> { smol::block_on(async {
    /// # use kafka_producer_proto::sim::SimServer;
    /// # use kafka_producer_smol::{Config, Producer, Record};
    /// # let server = SimServer::bind()?;
    /// # let config = Config::builder().bootstrap_servers(&server.bootstrap_servers()).build()?;
    /// # let producer = Producer::connect(config).await?;
    /// let mut delivery = producer.send(Record::new("events").value("v")).await?;
    /// producer.flush().await;
    /// assert!(delivery.try_result().unwrap().is_ok());
    /// # Ok(()) }) }
    /// ```
    pub async fn flush(&self) {
        self.shared().flush().await;
    }

    /// Closes the producer: no new records; every pending record is
    /// delivered, or fails at its delivery deadline. If `timeout` runs out
    /// first, every record still pending fails with
    /// [`ProduceError::Aborted`](crate::ProduceError::Aborted)
    /// (handed back through its [`DeliveryFuture`]) and the result says
    /// how many. Other clones of the handle are closed too.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> { smol::block_on(async {
    /// # use kafka_producer_proto::sim::SimServer;
    /// # use kafka_producer_smol::{Config, Producer, Record, SendErrorKind};
    /// # let server = SimServer::bind()?;
    /// # let config = Config::builder().bootstrap_servers(&server.bootstrap_servers()).build()?;
    /// # let producer = Producer::connect(config).await?;
    /// producer.close(std::time::Duration::from_secs(5)).await?;
    /// let refused = producer.send(Record::new("events")).await.unwrap_err();
    /// assert_eq!(refused.kind, SendErrorKind::Closed);
    /// # Ok(()) }) }
    /// ```
    pub async fn close(&self, timeout: Duration) -> Result<(), CloseError> {
        let shared = self.shared();
        shared.with(|e| e.close());
        let closed = async {
            shared.closed().await;
            true
        };
        let timer = async {
            Timer::after(timeout).await;
            false
        };
        if smol::future::or(closed, timer).await {
            return Ok(());
        }
        let aborted = shared.abort_pending();
        shared.closed().await;
        Err(CloseError::TimedOut { aborted, timeout })
    }

    /// Records accepted and without a result yet.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> { smol::block_on(async {
    /// # use kafka_producer_proto::sim::SimServer;
    /// # use kafka_producer_smol::{Config, Producer, Record};
    /// # let server = SimServer::bind()?;
    /// # let config = Config::builder().bootstrap_servers(&server.bootstrap_servers()).build()?;
    /// # let producer = Producer::connect(config).await?;
    /// let delivery = producer.send(Record::new("events")).await?;
    /// assert_eq!(producer.pending(), 1);
    /// delivery.await?;
    /// assert_eq!(producer.pending(), 0);
    /// # Ok(()) }) }
    /// ```
    pub fn pending(&self) -> usize {
        self.shared().with(|e| e.pending())
    }

    /// The producer's metrics, under Kafka's names.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> { smol::block_on(async {
    /// # use kafka_producer_proto::sim::SimServer;
    /// # use kafka_producer_smol::{Config, Producer, Record};
    /// # let server = SimServer::bind()?;
    /// # let config = Config::builder().bootstrap_servers(&server.bootstrap_servers()).build()?;
    /// # let producer = Producer::connect(config).await?;
    /// producer.send(Record::new("events")).await?.await?;
    /// let metrics = producer.metrics();
    /// assert_eq!(metrics.record_send_total, 1);
    /// for (name, value) in metrics.iter() {
    ///     println!("{name} = {value}");
    /// }
    /// # Ok(()) }) }
    /// ```
    pub fn metrics(&self) -> Metrics {
        self.shared().with(|e| e.metrics())
    }

    /// What the driver did so far (connections, bytes, waits).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> { smol::block_on(async {
    /// # use kafka_producer_proto::sim::SimServer;
    /// # use kafka_producer_smol::{Config, Producer, Record};
    /// # let server = SimServer::bind()?;
    /// # let config = Config::builder().bootstrap_servers(&server.bootstrap_servers()).build()?;
    /// # let producer = Producer::connect(config).await?;
    /// producer.send(Record::new("events")).await?.await?;
    /// let stats = producer.driver_stats();
    /// assert!(stats.connects >= 1 && stats.bytes_written > 0);
    /// # Ok(()) }) }
    /// ```
    pub fn driver_stats(&self) -> DriverStats {
        self.shared().with(|e| e.stats())
    }
}
