//! What the producer asks of its driver: [`Transmit`]s (bytes to write)
//! and [`Event`]s (connections to open or close, records that reached
//! their end).

use alloc::boxed::Box;
use alloc::string::String;
use bytes::Bytes;

use crate::error::ProduceError;
use crate::record::{Record, RecordId};
use crate::transaction::{TransactionCall, TransactionError};

/// A connection the producer asked the driver to open. Ids are never
/// reused, so a late input about a closed connection cannot be mistaken
/// for one about its successor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(pub u64);

/// Bytes to write, in order, to one connection: one or more whole request
/// frames.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Transmit {
    /// The connection to write to.
    pub conn: ConnectionId,
    /// The bytes.
    pub data: Bytes,
}

/// Something the driver must act on, or the end of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub enum Event<T> {
    /// Open a TCP connection to `host:port`, then call
    /// `handle_connected(conn, ..)`, or `handle_disconnected(conn, ..)` if
    /// it cannot be opened.
    Connect {
        /// The id the producer will use for it.
        conn: ConnectionId,
        /// The host to connect to.
        host: String,
        /// The port.
        port: u16,
    },
    /// Close this connection. The producer has already forgotten it; do not
    /// report its closing.
    Disconnect {
        /// The connection.
        conn: ConnectionId,
    },
    /// A record is in the log.
    Delivered {
        /// The id `send` returned.
        id: RecordId,
        /// The partition it went to.
        partition: i32,
        /// Its offset; `None` when the broker did not say (acks=0, or a
        /// batch the broker already had, DUPLICATE_SEQUENCE_NUMBER).
        offset: Option<i64>,
        /// Its timestamp: CreateTime as sent, or the broker's
        /// LogAppendTime when the topic uses it.
        timestamp: i64,
        /// The application's value from the record.
        user: T,
    },
    /// A record will not be delivered; here it is back.
    Failed {
        /// The id `send` returned.
        id: RecordId,
        /// The record, as sent (with the timestamp and partition the
        /// producer chose filled in when it had chosen them). Boxed: every
        /// event is as large as its largest variant, and failures are rare
        /// while deliveries come once per record.
        record: Box<Record<T>>,
        /// Why.
        error: ProduceError,
    },
    /// The work a transaction call started is done (`begin_transaction`,
    /// which needs none, has no such event). One per accepted call; a call
    /// repeated while its work is under way gets none of its own.
    Transaction {
        /// The call.
        call: TransactionCall,
        /// How it went; see [`TransactionError::class`] for what to do
        /// about an error.
        result: Result<(), TransactionError>,
    },
    /// SASL/OAUTHBEARER needs a token: a connection waits for its first
    /// one, or the current one is near its expiry. Answer with
    /// [`crate::Producer::set_oauthbearer_token`]. Asked once until
    /// answered.
    OAuthBearerTokenRequired,
    /// `close` finished: every accepted record has had its terminal event
    /// and every connection has been asked to close.
    Closed,
}
