//! [`Ticket`]: the name of one accepted record inside a driver.
//!
//! Its own module because both sides use it: the completion slab hands
//! tickets out and files results under them, and a
//! [`DeliveryFuture`](crate::DeliveryFuture)
//! holds one to ask for its result.

/// A record's place in the completion slab: the producer's per-record
/// value, handed back in the record's terminal event. The generation keeps
/// a stale ticket from reading a slot reused by a later record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}
