//! [`ConfigBuilder`]: collects settings, typed or as text, and checks them
//! all at once in [`ConfigBuilder::build`].

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use core::time::Duration;

use super::parse::{self, invalid};
use super::{Acks, Config, ConfigError, key};
use crate::wire::compression::CodecFactory;
use crate::wire::record_batch::Compression;

const DEFAULT_CLIENT_ID: &str = "kafka-producer-proto";
const DEFAULT_RETRIES: u32 = 2_147_483_647;
const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_millis(100);
const DEFAULT_RETRY_BACKOFF_MAX: Duration = Duration::from_millis(1_000);
const DEFAULT_DELIVERY_TIMEOUT: Duration = Duration::from_millis(120_000);
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_millis(30_000);
const DEFAULT_LINGER: Duration = Duration::from_millis(5);
const DEFAULT_BATCH_SIZE: usize = 16_384;
const DEFAULT_MAX_REQUEST_SIZE: usize = 1_048_576;
const DEFAULT_BUFFER_MEMORY: usize = 33_554_432;
const DEFAULT_MAX_IN_FLIGHT: usize = 5;
const DEFAULT_METADATA_MAX_AGE: Duration = Duration::from_millis(300_000);
const DEFAULT_MAX_BLOCK: Duration = Duration::from_millis(60_000);
const DEFAULT_RECONNECT_BACKOFF: Duration = Duration::from_millis(50);
const DEFAULT_RECONNECT_BACKOFF_MAX: Duration = Duration::from_millis(1_000);
const DEFAULT_SOCKET_CONNECTION_SETUP_TIMEOUT: Duration = Duration::from_millis(10_000);
const DEFAULT_RECEIVE_MESSAGE_MAX_BYTES: usize = 104_857_600;
// On by default, as in Kafka 3.0 and later; it gives way (quietly) to
// acks other than all or retries=0 unless set explicitly.
const DEFAULT_ENABLE_IDEMPOTENCE: bool = true;
const DEFAULT_TRANSACTION_TIMEOUT: Duration = Duration::from_millis(60_000);

/// The largest value of a Java `int` property; several of these values also
/// travel in `int32` protocol fields.
const INT_MAX: u64 = i32::MAX as u64;
/// The longest string a Kafka `STRING` field can carry.
const WIRE_STRING_MAX: usize = i16::MAX as usize;
/// Kafka's cap on in-flight requests for which the broker keeps sequence
/// numbers per producer; more would make retries look like gaps.
const IDEMPOTENT_MAX_IN_FLIGHT: usize = 5;

/// Settings for a [`Config`], checked by [`build`](ConfigBuilder::build).
///
/// Every property starts unset, meaning its default. Typed setters are named
/// after their properties (without the `.ms` of durations) and cannot fail;
/// [`set`](ConfigBuilder::set) takes any property by its Kafka name, as text.
/// Either way, nothing is checked beyond parsing until
/// [`build`](ConfigBuilder::build), so the order of settings never matters.
///
/// Whether a property was set at all is remembered, because Java's rules
/// depend on it in three places: `delivery.timeout.ms`,
/// `reconnect.backoff.max.ms` and `enable.idempotence` (see their getters on
/// [`Config`]).
#[derive(Debug, Clone, Default)]
pub struct ConfigBuilder {
    bootstrap_servers: Option<String>,
    client_id: Option<String>,
    acks: Option<Acks>,
    retries: Option<u32>,
    retry_backoff: Option<Duration>,
    retry_backoff_max: Option<Duration>,
    delivery_timeout: Option<Duration>,
    request_timeout: Option<Duration>,
    linger: Option<Duration>,
    batch_size: Option<usize>,
    max_request_size: Option<usize>,
    buffer_memory: Option<usize>,
    max_in_flight_requests_per_connection: Option<usize>,
    metadata_max_age: Option<Duration>,
    max_block: Option<Duration>,
    reconnect_backoff: Option<Duration>,
    reconnect_backoff_max: Option<Duration>,
    socket_connection_setup_timeout: Option<Duration>,
    receive_message_max_bytes: Option<usize>,
    enable_idempotence: Option<bool>,
    transactional_id: Option<String>,
    transaction_timeout: Option<Duration>,
    compression_type: Option<Compression>,
    compression_gzip_level: Option<i32>,
    compression_lz4_level: Option<i32>,
    compression_zstd_level: Option<i32>,
    compression_codec: Option<CodecFactory>,
    partitioner_ignore_keys: Option<bool>,
    allow_auto_create_topics: Option<bool>,
    random_seed: Option<u64>,
    /// `security.protocol`, `sasl.*` and `ssl.*` (see `security.rs`).
    pub(super) security: super::security::SecurityBuilder,
}

impl ConfigBuilder {
    /// A builder with every property at its default; the same as
    /// [`Config::builder`].
    pub fn new() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Sets `bootstrap.servers` ([`Config::bootstrap_servers`]): a
    /// comma-separated list of `host:port`, parsed by `build`.
    pub fn bootstrap_servers(&mut self, servers: &str) -> &mut Self {
        self.bootstrap_servers = Some(servers.to_owned());
        self
    }

    /// Sets `client.id` ([`Config::client_id`]).
    pub fn client_id(&mut self, client_id: impl Into<String>) -> &mut Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Sets `acks` ([`Config::acks`]).
    pub fn acks(&mut self, acks: Acks) -> &mut Self {
        self.acks = Some(acks);
        self
    }

    /// Sets `retries` ([`Config::retries`]).
    pub fn retries(&mut self, retries: u32) -> &mut Self {
        self.retries = Some(retries);
        self
    }

    /// Sets `retry.backoff.ms` ([`Config::retry_backoff`]).
    pub fn retry_backoff(&mut self, backoff: Duration) -> &mut Self {
        self.retry_backoff = Some(backoff);
        self
    }

    /// Sets `retry.backoff.max.ms` ([`Config::retry_backoff_max`]).
    pub fn retry_backoff_max(&mut self, backoff: Duration) -> &mut Self {
        self.retry_backoff_max = Some(backoff);
        self
    }

    /// Sets `delivery.timeout.ms` ([`Config::delivery_timeout`]).
    pub fn delivery_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.delivery_timeout = Some(timeout);
        self
    }

    /// Sets `request.timeout.ms` ([`Config::request_timeout`]).
    pub fn request_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Sets `linger.ms` ([`Config::linger`]).
    pub fn linger(&mut self, linger: Duration) -> &mut Self {
        self.linger = Some(linger);
        self
    }

    /// Sets `batch.size` ([`Config::batch_size`]).
    pub fn batch_size(&mut self, bytes: usize) -> &mut Self {
        self.batch_size = Some(bytes);
        self
    }

    /// Sets `max.request.size` ([`Config::max_request_size`]).
    pub fn max_request_size(&mut self, bytes: usize) -> &mut Self {
        self.max_request_size = Some(bytes);
        self
    }

    /// Sets `buffer.memory` ([`Config::buffer_memory`]).
    pub fn buffer_memory(&mut self, bytes: usize) -> &mut Self {
        self.buffer_memory = Some(bytes);
        self
    }

    /// Sets `max.in.flight.requests.per.connection`
    /// ([`Config::max_in_flight_requests_per_connection`]).
    pub fn max_in_flight_requests_per_connection(&mut self, requests: usize) -> &mut Self {
        self.max_in_flight_requests_per_connection = Some(requests);
        self
    }

    /// Sets `metadata.max.age.ms` ([`Config::metadata_max_age`]).
    pub fn metadata_max_age(&mut self, age: Duration) -> &mut Self {
        self.metadata_max_age = Some(age);
        self
    }

    /// Sets `max.block.ms` ([`Config::max_block`]).
    pub fn max_block(&mut self, wait: Duration) -> &mut Self {
        self.max_block = Some(wait);
        self
    }

    /// Sets `reconnect.backoff.ms` ([`Config::reconnect_backoff`]).
    pub fn reconnect_backoff(&mut self, backoff: Duration) -> &mut Self {
        self.reconnect_backoff = Some(backoff);
        self
    }

    /// Sets `reconnect.backoff.max.ms` ([`Config::reconnect_backoff_max`]).
    pub fn reconnect_backoff_max(&mut self, backoff: Duration) -> &mut Self {
        self.reconnect_backoff_max = Some(backoff);
        self
    }

    /// Sets `socket.connection.setup.timeout.ms`
    /// ([`Config::socket_connection_setup_timeout`]).
    pub fn socket_connection_setup_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.socket_connection_setup_timeout = Some(timeout);
        self
    }

    /// Sets `receive.message.max.bytes` ([`Config::receive_message_max_bytes`]).
    pub fn receive_message_max_bytes(&mut self, bytes: usize) -> &mut Self {
        self.receive_message_max_bytes = Some(bytes);
        self
    }

    /// Sets `enable.idempotence` ([`Config::enable_idempotence`]). Setting
    /// it, even to its default, makes a conflicting `acks`, `retries` or
    /// `max.in.flight.requests.per.connection` an error.
    pub fn enable_idempotence(&mut self, enable: bool) -> &mut Self {
        self.enable_idempotence = Some(enable);
        self
    }

    /// Sets `transactional.id` ([`Config::transactional_id`]).
    pub fn transactional_id(&mut self, id: impl Into<String>) -> &mut Self {
        self.transactional_id = Some(id.into());
        self
    }

    /// Sets `transaction.timeout.ms` ([`Config::transaction_timeout`]).
    pub fn transaction_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.transaction_timeout = Some(timeout);
        self
    }

    /// Sets `compression.type` ([`Config::compression_type`]).
    pub fn compression_type(&mut self, compression: Compression) -> &mut Self {
        self.compression_type = Some(compression);
        self
    }

    /// Sets `compression.gzip.level` ([`Config::compression_gzip_level`]).
    pub fn compression_gzip_level(&mut self, level: i32) -> &mut Self {
        self.compression_gzip_level = Some(level);
        self
    }

    /// Sets `compression.lz4.level` ([`Config::compression_lz4_level`]).
    pub fn compression_lz4_level(&mut self, level: i32) -> &mut Self {
        self.compression_lz4_level = Some(level);
        self
    }

    /// Sets `compression.zstd.level` ([`Config::compression_zstd_level`]).
    pub fn compression_zstd_level(&mut self, level: i32) -> &mut Self {
        self.compression_zstd_level = Some(level);
        self
    }

    /// Compresses with the codecs `factory` makes instead of the built-in
    /// codec (one per producer), for a codec this build lacks or an
    /// implementation of your own. Not a Kafka property. Its codec must be
    /// the one `compression.type` names.
    pub fn compression_codec(&mut self, factory: CodecFactory) -> &mut Self {
        self.compression_codec = Some(factory);
        self
    }

    /// Sets `partitioner.ignore.keys` ([`Config::partitioner_ignore_keys`]).
    pub fn partitioner_ignore_keys(&mut self, ignore: bool) -> &mut Self {
        self.partitioner_ignore_keys = Some(ignore);
        self
    }

    /// Sets `allow.auto.create.topics` ([`Config::allow_auto_create_topics`]).
    pub fn allow_auto_create_topics(&mut self, allow: bool) -> &mut Self {
        self.allow_auto_create_topics = Some(allow);
        self
    }

    /// Sets `random.seed` ([`Config::random_seed`]).
    pub fn random_seed(&mut self, seed: u64) -> &mut Self {
        self.random_seed = Some(seed);
        self
    }

    /// Sets the property named `key` (Kafka's spelling, case-sensitive) from
    /// its text form.
    ///
    /// Whitespace around key and value is ignored. Durations are whole
    /// milliseconds, sizes whole bytes, booleans `true` or `false` (in any
    /// case, as in Java), `acks` one of `all`, `-1`, `1`, `0`.
    ///
    /// A value that does not parse is refused here; whether it is in range
    /// and fits the other settings is checked by
    /// [`build`](ConfigBuilder::build). An unknown `key` is an error, never
    /// ignored.
    pub fn set(&mut self, key: &str, value: &str) -> Result<&mut Self, ConfigError> {
        let value = value.trim();
        match key.trim() {
            key::BOOTSTRAP_SERVERS => self.bootstrap_servers = Some(value.to_owned()),
            key::CLIENT_ID => self.client_id = Some(value.to_owned()),
            key::ACKS => self.acks = Some(parse::acks(value)?),
            key::RETRIES => self.retries = Some(parse::number(key::RETRIES, value)?),
            key::RETRY_BACKOFF_MS => {
                self.retry_backoff = Some(parse::millis(key::RETRY_BACKOFF_MS, value)?);
            }
            key::RETRY_BACKOFF_MAX_MS => {
                self.retry_backoff_max = Some(parse::millis(key::RETRY_BACKOFF_MAX_MS, value)?);
            }
            key::DELIVERY_TIMEOUT_MS => {
                self.delivery_timeout = Some(parse::millis(key::DELIVERY_TIMEOUT_MS, value)?);
            }
            key::REQUEST_TIMEOUT_MS => {
                self.request_timeout = Some(parse::millis(key::REQUEST_TIMEOUT_MS, value)?);
            }
            key::LINGER_MS => self.linger = Some(parse::millis(key::LINGER_MS, value)?),
            key::BATCH_SIZE => self.batch_size = Some(parse::number(key::BATCH_SIZE, value)?),
            key::MAX_REQUEST_SIZE => {
                self.max_request_size = Some(parse::number(key::MAX_REQUEST_SIZE, value)?);
            }
            key::BUFFER_MEMORY => {
                self.buffer_memory = Some(parse::number(key::BUFFER_MEMORY, value)?);
            }
            key::MAX_IN_FLIGHT => {
                self.max_in_flight_requests_per_connection =
                    Some(parse::number(key::MAX_IN_FLIGHT, value)?);
            }
            key::METADATA_MAX_AGE_MS => {
                self.metadata_max_age = Some(parse::millis(key::METADATA_MAX_AGE_MS, value)?);
            }
            key::MAX_BLOCK_MS => self.max_block = Some(parse::millis(key::MAX_BLOCK_MS, value)?),
            key::RECONNECT_BACKOFF_MS => {
                self.reconnect_backoff = Some(parse::millis(key::RECONNECT_BACKOFF_MS, value)?);
            }
            key::RECONNECT_BACKOFF_MAX_MS => {
                self.reconnect_backoff_max =
                    Some(parse::millis(key::RECONNECT_BACKOFF_MAX_MS, value)?);
            }
            key::SOCKET_CONNECTION_SETUP_TIMEOUT_MS => {
                self.socket_connection_setup_timeout = Some(parse::millis(
                    key::SOCKET_CONNECTION_SETUP_TIMEOUT_MS,
                    value,
                )?);
            }
            key::RECEIVE_MESSAGE_MAX_BYTES => {
                self.receive_message_max_bytes =
                    Some(parse::number(key::RECEIVE_MESSAGE_MAX_BYTES, value)?);
            }
            key::ENABLE_IDEMPOTENCE => {
                self.enable_idempotence = Some(parse::boolean(key::ENABLE_IDEMPOTENCE, value)?);
            }
            key::TRANSACTIONAL_ID => self.transactional_id = Some(value.to_owned()),
            key::TRANSACTION_TIMEOUT_MS => {
                self.transaction_timeout = Some(parse::millis(key::TRANSACTION_TIMEOUT_MS, value)?);
            }
            key::COMPRESSION_TYPE => self.compression_type = Some(parse::compression(value)?),
            key::COMPRESSION_GZIP_LEVEL => {
                self.compression_gzip_level =
                    Some(parse::integer(key::COMPRESSION_GZIP_LEVEL, value)?);
            }
            key::COMPRESSION_LZ4_LEVEL => {
                self.compression_lz4_level =
                    Some(parse::integer(key::COMPRESSION_LZ4_LEVEL, value)?);
            }
            key::COMPRESSION_ZSTD_LEVEL => {
                self.compression_zstd_level =
                    Some(parse::integer(key::COMPRESSION_ZSTD_LEVEL, value)?);
            }
            key::PARTITIONER_IGNORE_KEYS => {
                self.partitioner_ignore_keys =
                    Some(parse::boolean(key::PARTITIONER_IGNORE_KEYS, value)?);
            }
            key::ALLOW_AUTO_CREATE_TOPICS => {
                self.allow_auto_create_topics =
                    Some(parse::boolean(key::ALLOW_AUTO_CREATE_TOPICS, value)?);
            }
            key::RANDOM_SEED => self.random_seed = Some(parse::number(key::RANDOM_SEED, value)?),
            other => {
                if !self.security.set(other, value)? {
                    return Err(ConfigError::UnknownProperty {
                        key: other.to_owned(),
                    });
                }
            }
        }
        Ok(self)
    }

    /// Sets every property of a `.properties` text, in order, as
    /// [`Config::from_properties`] reads it.
    ///
    /// On an error, the lines before the faulty one have been applied.
    pub fn set_properties(&mut self, text: &str) -> Result<&mut Self, ConfigError> {
        for (index, line) in text.lines().enumerate() {
            match parse::property_line(line) {
                Ok(Some((key, value))) => {
                    self.set(key, value)?;
                }
                Ok(None) => {}
                Err(reason) => {
                    return Err(ConfigError::Syntax {
                        line: index + 1,
                        reason,
                    });
                }
            }
        }
        Ok(self)
    }

    /// Checks the settings and makes the [`Config`], or says what is wrong.
    ///
    /// Refused, each with the properties and values involved:
    ///
    /// - `bootstrap.servers` unset, empty, or with an entry that is not
    ///   `host:port` / `[ipv6]:port` (port 1-65535), or listed twice;
    /// - a value out of its range: `batch.size`, `max.request.size`,
    ///   `buffer.memory`, `max.in.flight.requests.per.connection`,
    ///   `request.timeout.ms`, `socket.connection.setup.timeout.ms` and
    ///   `transaction.timeout.ms` below 1; `receive.message.max.bytes`
    ///   outside 1000-2147483647; Java `int` properties (`retries`,
    ///   `batch.size`, `max.request.size`, the in-flight limit,
    ///   `delivery.timeout.ms`, `request.timeout.ms`,
    ///   `transaction.timeout.ms`) above 2147483647; `client.id` and
    ///   `transactional.id` longer than a Kafka string (32767 bytes), and an
    ///   empty `transactional.id`;
    /// - a compression level outside Kafka's range for its codec (all three
    ///   are checked, whichever codec is chosen, as in Java);
    ///   `compression.type` naming a codec this build lacks (its cargo
    ///   feature is off) and no [`compression_codec`](ConfigBuilder::compression_codec)
    ///   for it, or a `compression_codec` of another codec;
    /// - an explicit `delivery.timeout.ms` below `linger.ms` +
    ///   `request.timeout.ms`;
    /// - idempotence (set, or implied by `transactional.id`) with `acks`
    ///   other than `all`, `retries=0`, or more than 5 requests in flight per
    ///   connection;
    /// - `transactional.id` with an explicit `enable.idempotence=false`.
    ///
    /// Adjusted as Java adjusts them rather than refused: a default
    /// `delivery.timeout.ms` below `linger.ms + request.timeout.ms` is raised
    /// to that sum; a backoff above its maximum is lowered to the maximum;
    /// `reconnect.backoff.max.ms` left unset while `reconnect.backoff.ms` is
    /// set takes that value. `buffer.memory` below `max.request.size` is
    /// accepted, as in Java.
    pub fn build(&self) -> Result<Config, ConfigError> {
        let bootstrap_servers = match &self.bootstrap_servers {
            Some(list) => parse::bootstrap_servers(list)?,
            None => {
                return Err(ConfigError::MissingProperty {
                    key: key::BOOTSTRAP_SERVERS,
                });
            }
        };

        let client_id = self
            .client_id
            .clone()
            .unwrap_or_else(|| DEFAULT_CLIENT_ID.to_owned());
        fits_wire_string(key::CLIENT_ID, &client_id)?;
        let transactional_id = self.transactional_id.clone();
        if let Some(id) = &transactional_id {
            if id.is_empty() {
                return Err(invalid(key::TRANSACTIONAL_ID, id, "must not be empty"));
            }
            fits_wire_string(key::TRANSACTIONAL_ID, id)?;
        }

        let compression = super::compression::Settings::check(
            self.compression_type.unwrap_or_default(),
            self.compression_gzip_level,
            self.compression_lz4_level,
            self.compression_zstd_level,
            self.compression_codec.as_ref(),
            crate::wire::compression::is_available,
        )?;

        let acks = self.acks.unwrap_or_default();
        let retries = self.retries.unwrap_or(DEFAULT_RETRIES);
        within(key::RETRIES, u64::from(retries), 0, INT_MAX)?;
        let batch_size = size_within(
            key::BATCH_SIZE,
            self.batch_size,
            DEFAULT_BATCH_SIZE,
            1,
            INT_MAX,
        )?;
        let max_request_size = size_within(
            key::MAX_REQUEST_SIZE,
            self.max_request_size,
            DEFAULT_MAX_REQUEST_SIZE,
            1,
            INT_MAX,
        )?;
        let buffer_memory = size_within(
            key::BUFFER_MEMORY,
            self.buffer_memory,
            DEFAULT_BUFFER_MEMORY,
            1,
            u64::MAX,
        )?;
        let max_in_flight = size_within(
            key::MAX_IN_FLIGHT,
            self.max_in_flight_requests_per_connection,
            DEFAULT_MAX_IN_FLIGHT,
            1,
            INT_MAX,
        )?;
        let receive_message_max_bytes = size_within(
            key::RECEIVE_MESSAGE_MAX_BYTES,
            self.receive_message_max_bytes,
            DEFAULT_RECEIVE_MESSAGE_MAX_BYTES,
            1_000,
            INT_MAX,
        )?;

        let request_timeout = millis_within(
            key::REQUEST_TIMEOUT_MS,
            self.request_timeout,
            DEFAULT_REQUEST_TIMEOUT,
            1,
            INT_MAX,
        )?;
        let transaction_timeout = millis_within(
            key::TRANSACTION_TIMEOUT_MS,
            self.transaction_timeout,
            DEFAULT_TRANSACTION_TIMEOUT,
            1,
            INT_MAX,
        )?;
        let socket_connection_setup_timeout = millis_within(
            key::SOCKET_CONNECTION_SETUP_TIMEOUT_MS,
            self.socket_connection_setup_timeout,
            DEFAULT_SOCKET_CONNECTION_SETUP_TIMEOUT,
            1,
            u64::MAX,
        )?;
        let linger = self.linger.unwrap_or(DEFAULT_LINGER);
        let delivery_timeout = millis_within(
            key::DELIVERY_TIMEOUT_MS,
            self.delivery_timeout,
            DEFAULT_DELIVERY_TIMEOUT,
            0,
            INT_MAX,
        )?;
        let delivery_floor = linger.saturating_add(request_timeout);
        let delivery_timeout = if delivery_timeout >= delivery_floor {
            delivery_timeout
        } else if self.delivery_timeout.is_none() {
            // Java raises only its own default: an explicit value is what
            // the user asked for, so refusing it beats quietly changing it.
            delivery_floor
        } else {
            return Err(ConfigError::Conflict {
                reason: format!(
                    "{} ({}) must be at least {} ({}) + {} ({})",
                    key::DELIVERY_TIMEOUT_MS,
                    delivery_timeout.as_millis(),
                    key::LINGER_MS,
                    linger.as_millis(),
                    key::REQUEST_TIMEOUT_MS,
                    request_timeout.as_millis(),
                ),
            });
        };

        // As Java's ExponentialBackoff: a base above the maximum becomes a
        // constant backoff at the maximum.
        let retry_backoff_max = self.retry_backoff_max.unwrap_or(DEFAULT_RETRY_BACKOFF_MAX);
        let retry_backoff = self
            .retry_backoff
            .unwrap_or(DEFAULT_RETRY_BACKOFF)
            .min(retry_backoff_max);
        let reconnect_backoff = self.reconnect_backoff.unwrap_or(DEFAULT_RECONNECT_BACKOFF);
        let reconnect_backoff_max = match (self.reconnect_backoff, self.reconnect_backoff_max) {
            (_, Some(max)) => max,
            // A configuration that sets only the base predates the maximum;
            // Java keeps its constant backoff instead of growing it.
            (Some(base), None) => base,
            (None, None) => DEFAULT_RECONNECT_BACKOFF_MAX,
        };
        let reconnect_backoff = reconnect_backoff.min(reconnect_backoff_max);

        let enable_idempotence = resolve_idempotence(
            self.enable_idempotence,
            transactional_id.is_some(),
            DEFAULT_ENABLE_IDEMPOTENCE,
            acks,
            retries,
            max_in_flight,
        )?;

        let security = self.security.build()?;
        Ok(Config {
            security,
            bootstrap_servers,
            client_id,
            acks,
            retries,
            retry_backoff,
            retry_backoff_max,
            delivery_timeout,
            request_timeout,
            linger,
            batch_size,
            max_request_size,
            buffer_memory,
            max_in_flight_requests_per_connection: max_in_flight,
            metadata_max_age: self.metadata_max_age.unwrap_or(DEFAULT_METADATA_MAX_AGE),
            max_block: self.max_block.unwrap_or(DEFAULT_MAX_BLOCK),
            reconnect_backoff,
            reconnect_backoff_max,
            socket_connection_setup_timeout,
            receive_message_max_bytes,
            enable_idempotence,
            transactional_id,
            transaction_timeout,
            compression_type: compression.compression_type,
            compression_gzip_level: compression.gzip_level,
            compression_lz4_level: compression.lz4_level,
            compression_zstd_level: compression.zstd_level,
            compression_codec: self.compression_codec.clone(),
            partitioner_ignore_keys: self.partitioner_ignore_keys.unwrap_or(false),
            allow_auto_create_topics: self.allow_auto_create_topics.unwrap_or(true),
            random_seed: self.random_seed.unwrap_or(0),
        })
    }
}

/// Whether the producer is idempotent, following Java: an explicit setting
/// or a `transactional.id` makes every conflicting setting an error, while
/// idempotence that is on only by default gives way to `acks` other than
/// `all` and to `retries=0`.
///
/// `default` is a parameter so that the rule for a default of true is tested
/// before that default changes.
pub(super) fn resolve_idempotence(
    explicit: Option<bool>,
    transactional: bool,
    default: bool,
    acks: Acks,
    retries: u32,
    max_in_flight: usize,
) -> Result<bool, ConfigError> {
    let requirer = match (explicit, transactional) {
        (Some(false), true) => {
            return Err(ConfigError::Conflict {
                reason: format!(
                    "{} requires {}=true, but {}=false was set",
                    key::TRANSACTIONAL_ID,
                    key::ENABLE_IDEMPOTENCE,
                    key::ENABLE_IDEMPOTENCE,
                ),
            });
        }
        (Some(false), false) => return Ok(false),
        (Some(true), _) => key::ENABLE_IDEMPOTENCE,
        (None, true) => "transactional.id implies enable.idempotence, which",
        (None, false) if !default => return Ok(false),
        (None, false) => {
            if max_in_flight > IDEMPOTENT_MAX_IN_FLIGHT {
                return Err(ConfigError::Conflict {
                    reason: format!(
                        "{} (on by default) requires {} <= {}, got {}={}; set {}=false to allow more",
                        key::ENABLE_IDEMPOTENCE,
                        key::MAX_IN_FLIGHT,
                        IDEMPOTENT_MAX_IN_FLIGHT,
                        key::MAX_IN_FLIGHT,
                        max_in_flight,
                        key::ENABLE_IDEMPOTENCE,
                    ),
                });
            }
            return Ok(acks == Acks::All && retries > 0);
        }
    };
    let conflict = |requirement: &str, got: String| ConfigError::Conflict {
        reason: format!("{requirer} requires {requirement}, got {got}"),
    };
    if acks != Acks::All {
        return Err(conflict("acks=all", format!("{}={acks}", key::ACKS)));
    }
    if retries == 0 {
        return Err(conflict(
            "retries > 0",
            format!("{}={retries}", key::RETRIES),
        ));
    }
    if max_in_flight > IDEMPOTENT_MAX_IN_FLIGHT {
        return Err(conflict(
            &format!("{} <= {IDEMPOTENT_MAX_IN_FLIGHT}", key::MAX_IN_FLIGHT),
            format!("{}={max_in_flight}", key::MAX_IN_FLIGHT),
        ));
    }
    Ok(true)
}

/// `value` checked against `min..=max`.
fn within(key: &'static str, value: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    if value < min {
        Err(invalid(key, value, format!("must be at least {min}")))
    } else if value > max {
        Err(invalid(key, value, format!("must be at most {max}")))
    } else {
        Ok(value)
    }
}

/// A size or count property, its default if unset, checked against
/// `min..=max`.
fn size_within(
    key: &'static str,
    value: Option<usize>,
    default: usize,
    min: u64,
    max: u64,
) -> Result<usize, ConfigError> {
    let value = value.unwrap_or(default);
    within(key, u64::try_from(value).unwrap_or(u64::MAX), min, max)?;
    Ok(value)
}

/// A duration property, its default if unset, checked in whole milliseconds
/// (the unit Kafka uses everywhere) against `min..=max`.
fn millis_within(
    key: &'static str,
    value: Option<Duration>,
    default: Duration,
    min: u64,
    max: u64,
) -> Result<Duration, ConfigError> {
    let value = value.unwrap_or(default);
    within(
        key,
        u64::try_from(value.as_millis()).unwrap_or(u64::MAX),
        min,
        max,
    )?;
    Ok(value)
}

/// Refuses a string that a Kafka `STRING` field could not carry.
fn fits_wire_string(key: &'static str, value: &str) -> Result<(), ConfigError> {
    if value.len() > WIRE_STRING_MAX {
        // The whole value would drown the message; its length is what
        // matters.
        let shown = format!("<{} bytes>", value.len());
        return Err(invalid(
            key,
            shown,
            format!("is longer than the {WIRE_STRING_MAX} bytes a Kafka string can carry"),
        ));
    }
    Ok(())
}
