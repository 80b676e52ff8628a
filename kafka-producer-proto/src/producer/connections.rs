//! The producer's connections: asking the driver for one to a broker
//! (unless its reconnect backoff runs), and forgetting one, whose requests
//! in flight go back for a retry.

use super::{CloseCause, Producer};
use crate::cluster::{Connection, Purpose};
use crate::event::{ConnectionId, Event};
use crate::idempotence::IdInput;
use crate::kafka_code::KafkaCode;
use crate::time::Instant;

impl<T> Producer<T> {
    /// Asks the driver for a connection to `node` unless one exists or
    /// its reconnect backoff is running.
    pub(super) fn connect(&mut self, node: i32, now: Instant) {
        let Some(b) = self.meta.brokers.get_mut(&node) else {
            return;
        };
        if b.conn.is_some() || b.reconnect_at > now {
            return;
        }
        let id = ConnectionId(self.next_conn);
        self.next_conn += 1;
        b.conn = Some(id);
        let conn = Connection::new(
            id,
            node,
            now,
            self.config.socket_connection_setup_timeout(),
            self.config.receive_message_max_bytes(),
        );
        self.conns.insert(id, conn);
        self.metrics.connection_created();
        self.events.push_back(Event::Connect {
            conn: id,
            host: b.host.clone(),
            port: b.port,
        });
    }

    /// Forgets a connection; its in-flight batches go back for a retry.
    pub(super) fn close_connection(&mut self, id: ConnectionId, cause: CloseCause, now: Instant) {
        let Some(conn) = self.conns.remove(&id) else {
            return;
        };
        self.metrics.connection_closed();
        if cause != CloseCause::Peer {
            self.events.push_back(Event::Disconnect { conn: id });
        }
        if let Some(b) = self.meta.brokers.get_mut(&conn.node)
            && b.conn == Some(id)
        {
            b.conn = None;
            if cause != CloseCause::Done {
                let mut delay = self.reconnect_backoff.delay(b.failures, &mut self.rng);
                if cause == CloseCause::Authentication {
                    // Trying again at once would only be refused again.
                    delay = delay.max(self.config.reconnect_backoff_max());
                }
                b.failures = b.failures.saturating_add(1);
                b.reconnect_at = now + delay;
            }
        }
        if self.meta.in_flight == Some(id) {
            self.meta.failed(now);
        }
        if cause != CloseCause::Done {
            // The leader may have moved; whatever the reason, look again.
            self.meta.invalidate();
        }
        let code = if cause == CloseCause::Timeout {
            KafkaCode::RequestTimedOut
        } else {
            KafkaCode::NetworkException
        };
        for request in conn.in_flight {
            match request.purpose {
                Purpose::Produce { batches, .. } => {
                    for mut batch in batches {
                        self.acc.finish_in_flight(&batch);
                        // No answer came: the broker may have written it.
                        batch.maybe_written = true;
                        self.retry_or_fail(batch, code, None, now);
                    }
                }
                Purpose::InitProducerId => self.identity.on(IdInput::Retry { retry_at: now }),
                Purpose::Transaction(work) => self.transaction_request_lost(work, now),
                Purpose::ApiVersions
                | Purpose::Metadata
                | Purpose::SaslHandshake
                | Purpose::SaslAuthenticate => {}
            }
        }
    }
}
