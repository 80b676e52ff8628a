//! What a record's send ends in ([`Delivery`] or [`DeliveryError`]), and
//! the [`DeliveryFuture`] that waits for it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use kafka_producer_proto::{ProduceError, Record, RecordId};

use crate::ticket::Ticket;

/// A record in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The number the producer gave the record when it accepted it
    /// (increasing by one per accepted record, from 0).
    pub id: RecordId,
    /// The partition it went to.
    pub partition: i32,
    /// Its offset; `None` when the broker did not say (acks=0, or a retry
    /// the broker already had, DUPLICATE_SEQUENCE_NUMBER).
    pub offset: Option<i64>,
    /// Its timestamp: the CreateTime it was sent with, or the broker's
    /// LogAppendTime when the topic uses it.
    pub timestamp: i64,
}

/// A record that will not be delivered, handed back with why.
#[derive(Clone, PartialEq, Eq)]
pub struct DeliveryError {
    /// Why.
    pub error: ProduceError,
    /// The record, as sent (with the partition and timestamp the producer
    /// chose filled in when it had chosen them). Boxed, as failures are
    /// rare and results are moved often.
    pub record: Box<Record>,
}

impl DeliveryError {
    /// The error and the record.
    pub fn into_parts(self) -> (ProduceError, Record) {
        (self.error, *self.record)
    }
}

impl fmt::Debug for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryError")
            .field("error", &self.error)
            .field("topic", &self.record.topic)
            .field("partition", &self.record.partition)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "record for {:?} not delivered: {}",
            self.record.topic, self.error
        )
    }
}

impl std::error::Error for DeliveryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// What a record's send ends in.
pub type DeliveryResult = Result<Delivery, DeliveryError>;

/// Where a [`DeliveryFuture`] looks for its result: a driver's shared
/// state, behind whatever lock it uses.
pub trait Completions: Send + Sync {
    /// The result of `ticket`, or `Pending` with `cx`'s waker kept to be
    /// woken when it comes.
    fn poll_ticket(&self, ticket: Ticket, cx: &mut Context<'_>) -> Poll<DeliveryResult>;
    /// The result of `ticket` if it is there, without waiting.
    fn try_ticket(&self, ticket: Ticket) -> Option<DeliveryResult>;
    /// Nobody will ask for `ticket` again.
    fn detach(&self, ticket: Ticket);
}

/// Resolves when the record is in the log ([`Delivery`]) or will not be
/// ([`DeliveryError`], which hands the record back).
///
/// Dropping it does not cancel the send: the record is still delivered or
/// fails (a failure is then only counted in the producer's metrics and
/// logged as a `tracing` warning).
#[must_use = "a dropped DeliveryFuture still sends its record, but its failure goes unseen"]
pub struct DeliveryFuture {
    source: Option<Arc<dyn Completions>>,
    ticket: Ticket,
}

impl DeliveryFuture {
    /// A future for `ticket`, answered by `source`.
    pub fn new(source: Arc<dyn Completions>, ticket: Ticket) -> DeliveryFuture {
        DeliveryFuture {
            source: Some(source),
            ticket,
        }
    }

    /// The result, if it is already known, without waiting. `None` after
    /// the result was taken.
    pub fn try_result(&mut self) -> Option<DeliveryResult> {
        let got = self.source.as_ref()?.try_ticket(self.ticket);
        if got.is_some() {
            self.source = None;
        }
        got
    }
}

impl fmt::Debug for DeliveryFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryFuture")
            .field("ticket", &self.ticket)
            .field("taken", &self.source.is_none())
            .finish()
    }
}

impl Future for DeliveryFuture {
    type Output = DeliveryResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<DeliveryResult> {
        let ticket = self.ticket;
        let Some(source) = self.source.as_ref() else {
            panic!("DeliveryFuture polled after it completed");
        };
        let poll = source.poll_ticket(ticket, cx);
        if poll.is_ready() {
            self.source = None;
        }
        poll
    }
}

impl Drop for DeliveryFuture {
    fn drop(&mut self) {
        if let Some(source) = self.source.take() {
            source.detach(self.ticket);
        }
    }
}
