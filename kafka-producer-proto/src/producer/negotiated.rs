//! What the producer negotiated with each broker: for inspection and for
//! tests against real clusters, which check it against what the broker
//! advertises.

use alloc::vec::Vec;

use super::Producer;
use crate::wire::messages::ApiKey;

impl<T> Producer<T> {
    /// The version of each API the producer and broker `node` agreed on
    /// (ApiVersions negotiation: the highest both speak, within
    /// [`ApiKey::client_versions`]), in [`ApiKey::ALL`] order; APIs they
    /// share no version of are left out. Empty until a connection to
    /// `node` is ready. Bootstrap servers have negative ids (-1 for the
    /// first of `bootstrap.servers`).
    ///
    /// A request may still go out lower than this: Produce stays at v12
    /// for a topic whose id is not known.
    ///
    /// ```
    /// use kafka_producer_proto::{Config, Instant, Producer};
    /// let config = Config::builder().bootstrap_servers("localhost:9092").build()?;
    /// let producer: Producer = Producer::new(config, Instant::ZERO);
    /// assert!(producer.api_versions(-1).is_empty(), "not connected yet");
    /// # Ok::<(), kafka_producer_proto::ConfigError>(())
    /// ```
    pub fn api_versions(&self, node: i32) -> Vec<(ApiKey, i16)> {
        let Some(conn) = self
            .meta
            .brokers
            .get(&node)
            .and_then(|b| b.conn)
            .and_then(|id| self.conns.get(&id))
            .filter(|c| c.is_ready())
        else {
            return Vec::new();
        };
        ApiKey::ALL
            .iter()
            .filter_map(|api| conn.version(*api).map(|v| (*api, v)))
            .collect()
    }
}
