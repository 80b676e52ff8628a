//! The producer's configuration: Kafka's property names and defaults,
//! checked once, before the producer starts.
//!
//! A Java or librdkafka producer configuration ports as is: the properties
//! keep their Kafka spelling (`linger.ms`, `enable.idempotence`, ...) and
//! their Java defaults, and the combinations Java refuses are refused here
//! too, with the reason.
//!
//! A [`Config`] is always valid. The only way to make one is
//! [`ConfigBuilder::build`] (which [`Config::from_properties`] also goes
//! through), and its fields are private, read through getters named after
//! the properties, so nothing can change a checked configuration afterwards.
//! Each getter documents its property and default.
//!
//! # The typed builder
//!
//! ```
//! use core::time::Duration;
//! use kafka_producer_proto::{Acks, Config};
//!
//! let config = Config::builder()
//!     .bootstrap_servers("kafka-1:9092, kafka-2:9092")
//!     .client_id("billing")
//!     .acks(Acks::Leader)
//!     .linger(Duration::from_millis(20))
//!     .batch_size(64 * 1024)
//!     .build()?;
//! assert_eq!(config.bootstrap_servers()[1], ("kafka-2".to_string(), 9092));
//! assert_eq!(config.acks().as_i16(), 1);
//! assert_eq!(config.request_timeout(), Duration::from_secs(30)); // Kafka's default
//! # Ok::<(), kafka_producer_proto::ConfigError>(())
//! ```
//!
//! # Properties text
//!
//! [`Config::from_properties`] reads `key=value` lines, as in a Java
//! `producer.properties` file; [`ConfigBuilder::set`] takes one property at
//! a time, for configurations that come from elsewhere (environment,
//! command line). A property this producer does not know is an error that
//! names it, so a typo never silently leaves a default in place.
//!
//! ```
//! use core::time::Duration;
//! use kafka_producer_proto::{Config, ConfigError};
//!
//! let config = Config::from_properties(
//!     "
//!     ## copied from producer.properties
//!     bootstrap.servers = [::1]:9092
//!     enable.idempotence = true
//!     linger.ms = 10
//!     ",
//! )?;
//! assert_eq!(config.bootstrap_servers(), [("::1".to_string(), 9092)]);
//! assert!(config.enable_idempotence());
//! assert_eq!(config.linger(), Duration::from_millis(10));
//!
//! let typo = Config::from_properties("bootstrap.servers=k1:9092\nlinger.sm=10").unwrap_err();
//! assert_eq!(typo.to_string(), "unknown property linger.sm");
//!
//! let conflict = Config::from_properties("bootstrap.servers=k1:9092\nacks=1\nenable.idempotence=true")
//!     .unwrap_err();
//! assert_eq!(conflict.to_string(), "enable.idempotence requires acks=all, got acks=1");
//! # Ok::<(), ConfigError>(())
//! ```
//!
//! # Where this differs from Java
//!
//! - Only the properties listed on [`Config`]'s getters exist; the Java
//!   properties this producer has no use for (serializers, metrics, ...)
//!   are unknown properties, hence errors. The security properties are
//!   [`Config::security_protocol`], [`Config::sasl`] and [`Config::tls`].
//! - `batch.size`, `max.request.size`, `buffer.memory`, `request.timeout.ms`,
//!   `socket.connection.setup.timeout.ms` and `transaction.timeout.ms` must
//!   be at least 1: the 0 Java tolerates would leave the producer unable to
//!   do anything useful.
//! - `enable.idempotence` defaults to false until the idempotent producer
//!   exists; `client.id` defaults to a fixed name instead of Java's
//!   `producer-N` counter, which would make runs differ.
//! - `receive.message.max.bytes` and `allow.auto.create.topics` are
//!   librdkafka's names; Java's producer has no such settings.
//! - `random.seed` is not a Kafka property: it seeds every random choice the
//!   producer makes, so that runs are reproducible.

mod builder;
mod compression;
mod jaas;
mod parse;
mod security;
#[cfg(test)]
mod tests;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;
use core::time::Duration;

use crate::wire::compression::{Codec, CodecFactory};
use crate::wire::record_batch::Compression;

pub use builder::ConfigBuilder;
pub use security::{
    PROPERTIES as SECURITY_PROPERTIES, Sasl, SaslCredentials, SecurityProtocol, Tls, UnsecuredJwt,
};

/// The property names, spelled as Kafka spells them.
mod key {
    pub(super) const BOOTSTRAP_SERVERS: &str = "bootstrap.servers";
    pub(super) const CLIENT_ID: &str = "client.id";
    pub(super) const ACKS: &str = "acks";
    pub(super) const RETRIES: &str = "retries";
    pub(super) const RETRY_BACKOFF_MS: &str = "retry.backoff.ms";
    pub(super) const RETRY_BACKOFF_MAX_MS: &str = "retry.backoff.max.ms";
    pub(super) const DELIVERY_TIMEOUT_MS: &str = "delivery.timeout.ms";
    pub(super) const REQUEST_TIMEOUT_MS: &str = "request.timeout.ms";
    pub(super) const LINGER_MS: &str = "linger.ms";
    pub(super) const BATCH_SIZE: &str = "batch.size";
    pub(super) const MAX_REQUEST_SIZE: &str = "max.request.size";
    pub(super) const BUFFER_MEMORY: &str = "buffer.memory";
    pub(super) const MAX_IN_FLIGHT: &str = "max.in.flight.requests.per.connection";
    pub(super) const METADATA_MAX_AGE_MS: &str = "metadata.max.age.ms";
    pub(super) const MAX_BLOCK_MS: &str = "max.block.ms";
    pub(super) const RECONNECT_BACKOFF_MS: &str = "reconnect.backoff.ms";
    pub(super) const RECONNECT_BACKOFF_MAX_MS: &str = "reconnect.backoff.max.ms";
    pub(super) const SOCKET_CONNECTION_SETUP_TIMEOUT_MS: &str =
        "socket.connection.setup.timeout.ms";
    pub(super) const RECEIVE_MESSAGE_MAX_BYTES: &str = "receive.message.max.bytes";
    pub(super) const ENABLE_IDEMPOTENCE: &str = "enable.idempotence";
    pub(super) const TRANSACTIONAL_ID: &str = "transactional.id";
    pub(super) const TRANSACTION_TIMEOUT_MS: &str = "transaction.timeout.ms";
    pub(super) const COMPRESSION_TYPE: &str = "compression.type";
    pub(super) const COMPRESSION_GZIP_LEVEL: &str = "compression.gzip.level";
    pub(super) const COMPRESSION_LZ4_LEVEL: &str = "compression.lz4.level";
    pub(super) const COMPRESSION_ZSTD_LEVEL: &str = "compression.zstd.level";
    pub(super) const PARTITIONER_IGNORE_KEYS: &str = "partitioner.ignore.keys";
    pub(super) const ALLOW_AUTO_CREATE_TOPICS: &str = "allow.auto.create.topics";
    pub(super) const RANDOM_SEED: &str = "random.seed";
}

/// A checked producer configuration.
///
/// Made only by [`ConfigBuilder::build`] (reached through
/// [`Config::builder`] or [`Config::from_properties`]), so every `Config`
/// satisfies the rules listed there. It cannot be changed afterwards: a
/// different configuration is a new builder and a new check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    bootstrap_servers: Vec<(String, u16)>,
    client_id: String,
    acks: Acks,
    retries: u32,
    retry_backoff: Duration,
    retry_backoff_max: Duration,
    delivery_timeout: Duration,
    request_timeout: Duration,
    linger: Duration,
    batch_size: usize,
    max_request_size: usize,
    buffer_memory: usize,
    max_in_flight_requests_per_connection: usize,
    metadata_max_age: Duration,
    max_block: Duration,
    reconnect_backoff: Duration,
    reconnect_backoff_max: Duration,
    socket_connection_setup_timeout: Duration,
    receive_message_max_bytes: usize,
    enable_idempotence: bool,
    transactional_id: Option<String>,
    transaction_timeout: Duration,
    compression_type: Compression,
    compression_gzip_level: i32,
    compression_lz4_level: i32,
    compression_zstd_level: i32,
    compression_codec: Option<CodecFactory>,
    partitioner_ignore_keys: bool,
    allow_auto_create_topics: bool,
    random_seed: u64,
    security: security::Security,
}

impl Config {
    /// A builder with every property at its default and no bootstrap
    /// servers yet.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::new()
    }

    /// A configuration from the text of a Java-style `.properties` file.
    ///
    /// One `key=value` per line, split at the first `=`, with whitespace
    /// around key and value ignored. Blank lines and lines whose first
    /// non-blank character is `#` or `!` are skipped. A key given twice
    /// keeps its last value, as in Java. Unlike Java's format, `:` and
    /// whitespace do not separate key from value, and there are no escapes
    /// (`\`) and no continuation lines; none is needed for any value these
    /// properties take.
    ///
    /// See [`ConfigBuilder::set_properties`] to combine a file with typed
    /// settings.
    pub fn from_properties(text: &str) -> Result<Config, ConfigError> {
        Config::builder().set_properties(text)?.build()
    }

    /// `bootstrap.servers`, required: the brokers contacted first to learn
    /// the cluster, as `(host, port)` pairs in the order given.
    ///
    /// Written as a comma-separated list of `host:port`; an IPv6 address is
    /// written in brackets (`[::1]:9092`) and stored without them.
    pub fn bootstrap_servers(&self) -> &[(String, u16)] {
        &self.bootstrap_servers
    }

    /// `client.id`, default `"kafka-producer-proto"`: the name sent in
    /// every request header, which brokers show in logs and use for quotas.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// `acks`, default [`Acks::All`]: how many replicas must have a batch
    /// before the leader answers.
    pub fn acks(&self) -> Acks {
        self.acks
    }

    /// `retries`, default 2147483647: how many times a failed batch is sent
    /// again. With the default, `delivery.timeout.ms` is what ends retrying.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// `retry.backoff.ms`, default 100 ms: the wait before the first retry
    /// of a failed request; later waits grow exponentially up to
    /// [`retry_backoff_max`](Config::retry_backoff_max).
    ///
    /// Never above `retry.backoff.max.ms`: if it was set higher, it is
    /// lowered to that maximum, which then is a constant backoff (Java's
    /// rule).
    pub fn retry_backoff(&self) -> Duration {
        self.retry_backoff
    }

    /// `retry.backoff.max.ms`, default 1000 ms: the longest wait between
    /// retries.
    pub fn retry_backoff_max(&self) -> Duration {
        self.retry_backoff_max
    }

    /// `delivery.timeout.ms`, default 120000 ms: the longest a record may
    /// take from `send` to its outcome, retries included.
    ///
    /// At least `linger.ms + request.timeout.ms`. Set explicitly below that,
    /// it is an error; left at its default, it is raised to that sum
    /// (Java's rule, so raising `request.timeout.ms` alone keeps working).
    pub fn delivery_timeout(&self) -> Duration {
        self.delivery_timeout
    }

    /// `request.timeout.ms`, default 30000 ms: how long a request may wait
    /// for its response before it counts as failed. Also the timeout a
    /// Produce request asks the broker to respect. At least 1 ms.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// `linger.ms`, default 5 ms: how long a batch that is not full waits for
    /// more records before it is sent.
    pub fn linger(&self) -> Duration {
        self.linger
    }

    /// `batch.size`, default 16384: the bytes at which a partition's batch is
    /// full and sent without waiting for `linger.ms`. A record larger than
    /// this gets a batch of its own. At least 1.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// `max.request.size`, default 1048576: the largest request the
    /// producer sends, and so the largest record it accepts. At least 1.
    pub fn max_request_size(&self) -> usize {
        self.max_request_size
    }

    /// `buffer.memory`, default 33554432: the bytes of records the producer
    /// holds, waiting or in flight, before `send` refuses more. At least 1;
    /// it may be below `max.request.size`, as in Java.
    pub fn buffer_memory(&self) -> usize {
        self.buffer_memory
    }

    /// `max.in.flight.requests.per.connection`, default 5: how many requests
    /// may await their response on one connection. At least 1, and at most
    /// 5 with idempotence.
    pub fn max_in_flight_requests_per_connection(&self) -> usize {
        self.max_in_flight_requests_per_connection
    }

    /// `metadata.max.age.ms`, default 300000 ms: how old cluster metadata may
    /// grow before it is fetched again even though nothing went wrong.
    pub fn metadata_max_age(&self) -> Duration {
        self.metadata_max_age
    }

    /// `max.block.ms`, default 60000 ms: how long records may wait for their
    /// topic's metadata before they fail. Nothing blocks in a sans-IO core;
    /// Java's name is kept because that wait is what it bounds there too.
    pub fn max_block(&self) -> Duration {
        self.max_block
    }

    /// `reconnect.backoff.ms`, default 50 ms: the wait before connecting
    /// again to a broker whose connection failed; later waits grow
    /// exponentially up to
    /// [`reconnect_backoff_max`](Config::reconnect_backoff_max).
    ///
    /// Never above `reconnect.backoff.max.ms`: if it was set higher, it is
    /// lowered to that maximum, a constant backoff (Java's rule).
    pub fn reconnect_backoff(&self) -> Duration {
        self.reconnect_backoff
    }

    /// `reconnect.backoff.max.ms`, default 1000 ms: the longest wait between
    /// connection attempts to one broker.
    ///
    /// When `reconnect.backoff.ms` is set and this is not, it takes the
    /// value of `reconnect.backoff.ms`, which turns the exponential growth
    /// off (Java's rule, for configurations written before the maximum
    /// existed).
    pub fn reconnect_backoff_max(&self) -> Duration {
        self.reconnect_backoff_max
    }

    /// `socket.connection.setup.timeout.ms`, default 10000 ms: how long a
    /// connection may take to open before the attempt counts as failed. At
    /// least 1 ms.
    pub fn socket_connection_setup_timeout(&self) -> Duration {
        self.socket_connection_setup_timeout
    }

    /// `receive.message.max.bytes` (librdkafka's name), default 104857600:
    /// the largest response frame accepted; a peer announcing a larger one
    /// loses its connection instead of making the producer allocate it.
    /// Between 1000 and 2147483647, as in librdkafka.
    pub fn receive_message_max_bytes(&self) -> usize {
        self.receive_message_max_bytes
    }

    /// `enable.idempotence`, default false (Java's default is true; this
    /// one follows once the idempotent producer exists): whether batches
    /// carry a producer id and sequence numbers so that retries cannot
    /// write duplicates.
    ///
    /// Requires `acks=all`, `retries` above 0 and
    /// `max.in.flight.requests.per.connection` at most 5. Implied by
    /// `transactional.id`.
    pub fn enable_idempotence(&self) -> bool {
        self.enable_idempotence
    }

    /// `transactional.id`, default none: the identity under which the
    /// producer runs transactions, stable across restarts. Not empty.
    ///
    /// Implies `enable.idempotence=true`; setting it together with an
    /// explicit `enable.idempotence=false` is an error.
    pub fn transactional_id(&self) -> Option<&str> {
        self.transactional_id.as_deref()
    }

    /// `transaction.timeout.ms`, default 60000 ms: how long the transaction
    /// coordinator lets a transaction stay open before aborting it. At least
    /// 1 ms.
    pub fn transaction_timeout(&self) -> Duration {
        self.transaction_timeout
    }

    /// `compression.type`, default `none`: the codec for record batches,
    /// one of `none`, `gzip`, `snappy`, `lz4`, `zstd` (case-sensitive, as
    /// in Java).
    ///
    /// Each codec needs the cargo feature of its name (the drivers turn
    /// them on by default), or a codec of the application's own given with
    /// [`ConfigBuilder::compression_codec`]. Batches then fill up to
    /// `batch.size` by their estimated compressed size, learned per topic
    /// from the ratios seen, as the Java client does. zstd needs brokers
    /// that speak Produce v7 (Kafka 2.1) or later.
    pub fn compression_type(&self) -> Compression {
        self.compression_type
    }

    /// `compression.gzip.level`, default -1 (zlib's default, 6): 1 (fastest)
    /// to 9 (smallest), or -1.
    pub fn compression_gzip_level(&self) -> i32 {
        self.compression_gzip_level
    }

    /// `compression.lz4.level`, default 9: 1 to 17.
    ///
    /// Validated as Kafka does, but every level compresses alike here: the
    /// built-in lz4 codec has only the fast compressor, which is what the
    /// Java client uses at its default level 9 (it switches to its
    /// high-compression mode at the other levels).
    pub fn compression_lz4_level(&self) -> i32 {
        self.compression_lz4_level
    }

    /// `compression.zstd.level`, default 3: -131072 to 22; negative levels
    /// trade ratio for speed.
    pub fn compression_zstd_level(&self) -> i32 {
        self.compression_zstd_level
    }

    /// The codec given with [`ConfigBuilder::compression_codec`], if any.
    pub fn compression_codec(&self) -> Option<&CodecFactory> {
        self.compression_codec.as_ref()
    }

    /// A new codec for `compression.type` (none for `none`): the
    /// application's, or the built-in one at its level property.
    pub(crate) fn make_codec(&self) -> Option<alloc::boxed::Box<dyn Codec>> {
        compression::make_codec(self)
    }

    /// `partitioner.ignore.keys`, default false: whether records with a key
    /// are spread like keyless ones instead of by the hash of their key.
    pub fn partitioner_ignore_keys(&self) -> bool {
        self.partitioner_ignore_keys
    }

    /// `allow.auto.create.topics` (librdkafka's name), default true: whether
    /// metadata requests ask the broker to create the topics they name that
    /// do not exist yet (the broker also needs `auto.create.topics.enable`).
    /// Java's producer always asks; librdkafka's producer asks by default.
    pub fn allow_auto_create_topics(&self) -> bool {
        self.allow_auto_create_topics
    }

    /// `random.seed`, default 0: not a Kafka property. Seeds every random
    /// choice the producer makes (backoff jitter, sticky partition
    /// switches), so that the same configuration and inputs always give the
    /// same outputs. Give each producer of a fleet its own seed to keep
    /// their retries from moving in step.
    pub fn random_seed(&self) -> u64 {
        self.random_seed
    }
}

/// How many replicas must have a batch before the leader answers
/// (`acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Acks {
    /// `acks=0`: the broker does not answer, so the producer cannot learn
    /// whether, or at which offset, a batch was written.
    None,
    /// `acks=1`: the leader answers once it has written the batch.
    Leader,
    /// `acks=all` (or `-1`): the leader answers once every in-sync replica
    /// has the batch.
    #[default]
    All,
}

impl Acks {
    /// The value of a Produce request's `acks` field: 0, 1 or -1.
    pub const fn as_i16(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// Formats as the property value: `0`, `1` or `all`.
impl fmt::Display for Acks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        })
    }
}

/// Parses the values Kafka accepts: `all`, `-1`, `1`, `0`.
impl FromStr for Acks {
    type Err = ConfigError;

    fn from_str(value: &str) -> Result<Acks, ConfigError> {
        parse::acks(value)
    }
}

/// Why a configuration was refused.
///
/// The message names the properties involved and their values, so that it
/// can be shown to whoever wrote the configuration as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A property name this producer does not know (names are
    /// case-sensitive).
    #[error("unknown property {key}")]
    UnknownProperty {
        /// The name as given.
        key: String,
    },
    /// A required property was not set.
    #[error("{key} is required")]
    MissingProperty {
        /// The property.
        key: &'static str,
    },
    /// A property's value does not parse or is out of range.
    #[error("{key}={value} {reason}")]
    InvalidValue {
        /// The property.
        key: &'static str,
        /// The value as given (numbers given through typed setters are
        /// shown in the property's unit).
        value: String,
        /// What is wrong with it, phrased to follow `key=value`.
        reason: String,
    },
    /// Values that are valid one by one but not together.
    #[error("{reason}")]
    Conflict {
        /// The rule broken, naming the properties and their values.
        reason: String,
    },
    /// A line of properties text that is not `key=value`.
    #[error("line {line}: {reason}")]
    Syntax {
        /// The line, counting from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}
