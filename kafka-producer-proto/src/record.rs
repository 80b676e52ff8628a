//! What the application sends: [`Record`], its [`Header`]s, and the
//! [`RecordId`] the producer assigns to it.

use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;

/// The number `send` gives an accepted record; the record's terminal event
/// carries it. Ids increase by one per accepted record, from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId(pub u64);

/// A record header: a UTF-8 key and a value that may be null.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    /// The header's key.
    pub key: String,
    /// The header's value; `None` for null.
    pub value: Option<Bytes>,
}

impl Header {
    /// A header with this key and value.
    pub fn new(key: impl Into<String>, value: Option<Bytes>) -> Header {
        Header {
            key: key.into(),
            value,
        }
    }
}

/// A record to produce, with a value `user` of the application's choosing
/// that the producer hands back in the record's terminal event (an async
/// wrapper keeps a oneshot sender there).
///
/// ```
/// use kafka_producer_proto::Record;
/// let r = Record::new("events").key("user-7").value("clicked").header("trace", Some("abc")).user(42u32);
/// assert_eq!(r.user, 42);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<T = ()> {
    /// The topic.
    pub topic: String,
    /// The partition, or `None` to let the partitioner choose: murmur2 of
    /// the key, or a sticky partition for null keys.
    pub partition: Option<i32>,
    /// The key; `None` for null.
    pub key: Option<Bytes>,
    /// The value; `None` for null (a tombstone on compacted topics).
    pub value: Option<Bytes>,
    /// The headers, in order.
    pub headers: Vec<Header>,
    /// The CreateTime in milliseconds since the Unix epoch, or `None` for
    /// the `now` of the `send` call (see [`crate::Instant`]).
    pub timestamp: Option<i64>,
    /// The application's value, handed back in the terminal event.
    pub user: T,
}

impl Record<()> {
    /// A record for `topic` with null key, null value, no headers.
    pub fn new(topic: impl Into<String>) -> Record<()> {
        Record {
            topic: topic.into(),
            partition: None,
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp: None,
            user: (),
        }
    }
}

impl<T> Record<T> {
    /// Sets the key.
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the value.
    pub fn value(mut self, value: impl Into<Bytes>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Appends a header.
    pub fn header(mut self, key: impl Into<String>, value: Option<impl Into<Bytes>>) -> Self {
        self.headers.push(Header::new(key, value.map(Into::into)));
        self
    }

    /// Sets the partition.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the timestamp (milliseconds since the Unix epoch).
    pub fn timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Replaces the application's value.
    pub fn user<U>(self, user: U) -> Record<U> {
        Record {
            topic: self.topic,
            partition: self.partition,
            key: self.key,
            value: self.value,
            headers: self.headers,
            timestamp: self.timestamp,
            user,
        }
    }
}
