//! One broker connection: its phase (connecting, negotiating versions,
//! authenticating, ready), framing of what it receives, correlation of responses with
//! requests, the requests in flight and the API versions it negotiated.
//!
//! Invariants:
//! - Responses come back in request order, so a response must answer the
//!   oldest request still waiting for one. Anything else is a protocol
//!   error that closes the connection.
//! - acks=0 Produce requests may or may not be answered: Kafka never
//!   answers them, librdkafka's mock and tansu do. Their correlation ids are
//!   remembered (a bounded number of them) so that an answer is recognised
//!   and skipped, and the absence of one is never waited for.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use bytes::{Bytes, BytesMut};
use core::time::Duration;

use super::ProduceTopics;
use super::authentication::Authentication;
use crate::batch::Batch;
use crate::event::ConnectionId;
use crate::time::Instant;
use crate::transaction::Work;
use crate::wire::Message;
use crate::wire::header::{encode_request, peek_correlation_id};
use crate::wire::messages::{ApiVersionsRequest, ApiVersionsResponse};
use crate::wire::version_negotiation::choose_version;
use crate::wire::{ApiKey, DecodeError, EncodeError, FrameDecoder, Request};

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Asked the driver to open it; not yet told it is open.
    Connecting { deadline: Instant },
    /// Open; ApiVersions in this version is to be sent (`sent` false) or
    /// awaited.
    Negotiating { version: i16, sent: bool },
    /// Versions known; SASL runs (see [`Connection::auth`]): the first
    /// time, or as a KIP-368 re-authentication, while requests sent
    /// before it are still answered.
    Authenticating,
    /// Versions known (and authenticated, with SASL): requests may flow.
    Ready,
}

/// What a request in flight was for, and what it carries.
#[derive(Debug)]
pub(crate) enum Purpose<T> {
    ApiVersions,
    SaslHandshake,
    SaslAuthenticate,
    Metadata,
    InitProducerId,
    Produce {
        batches: Vec<Batch<T>>,
        /// How the request named its topics, to match the answer by.
        topics: ProduceTopics,
    },
    /// A transaction request (the transaction manager's one in flight).
    Transaction(Work),
}

/// A request waiting for its response.
#[derive(Debug)]
pub(crate) struct InFlight<T> {
    pub correlation_id: i32,
    pub version: i16,
    pub sent_at: Instant,
    pub deadline: Instant,
    pub purpose: Purpose<T>,
}

/// Why a connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConnectionError {
    /// The bytes could not be framed or decoded.
    Decode(DecodeError),
    /// A response answered no request we are waiting on.
    UnexpectedCorrelation { got: i32 },
}

/// How many unanswerable acks=0 correlation ids a connection remembers.
const UNANSWERED_LIMIT: usize = 1024;

#[derive(Debug)]
pub(crate) struct Connection<T> {
    pub id: ConnectionId,
    /// The broker's node id; bootstrap servers have negative ids.
    pub node: i32,
    pub phase: Phase,
    frames: FrameDecoder,
    next_correlation_id: i32,
    pub in_flight: VecDeque<InFlight<T>>,
    unanswered: VecDeque<i32>,
    /// Every acks=0 id below this was forgotten (an answer to one is
    /// skipped without being matched).
    forgotten_below: i32,
    versions: [Option<i16>; ApiKey::ALL.len()],
    /// No request goes out before this (broker throttling, KIP-219).
    pub throttled_until: Instant,
    /// To a broker the producer forgot (a rebootstrap): it takes no new
    /// request and closes once its requests in flight are answered.
    pub retired: bool,
    /// The SASL exchange, while [`Phase::Authenticating`].
    pub auth: Option<Authentication>,
    /// When to re-authenticate (KIP-368), before the broker's session
    /// ends.
    pub reauth_at: Option<Instant>,
}

impl<T> Connection<T> {
    pub fn new(
        id: ConnectionId,
        node: i32,
        now: Instant,
        setup_timeout: Duration,
        max_frame: usize,
    ) -> Self {
        Connection {
            id,
            node,
            phase: Phase::Connecting {
                deadline: now + setup_timeout,
            },
            frames: FrameDecoder::new(max_frame),
            next_correlation_id: 0,
            in_flight: VecDeque::new(),
            unanswered: VecDeque::new(),
            forgotten_below: i32::MIN,
            versions: [None; ApiKey::ALL.len()],
            throttled_until: Instant::ZERO,
            retired: false,
            auth: None,
            reauth_at: None,
        }
    }

    /// The driver opened it: ApiVersions, at the newest version we know,
    /// is to be sent. Only a connection still connecting changes.
    pub fn opened(&mut self) {
        if matches!(self.phase, Phase::Connecting { .. }) {
            self.phase = Phase::Negotiating {
                version: ApiVersionsRequest::MAX_VERSION,
                sent: false,
            };
        }
    }

    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// The negotiated version of `api`, once ready.
    pub fn version(&self, api: ApiKey) -> Option<i16> {
        ApiKey::ALL
            .iter()
            .position(|a| *a == api)
            .and_then(|i| self.versions.get(i).copied().flatten())
    }

    /// Records what the broker speaks; returns the first API the producer
    /// needs for which no common version exists, with the broker's range.
    pub fn negotiated(
        &mut self,
        response: &ApiVersionsResponse,
        needed: &[ApiKey],
    ) -> Result<(), (ApiKey, i16, i16)> {
        for (slot, api) in self.versions.iter_mut().zip(ApiKey::ALL) {
            *slot = response
                .api_keys
                .iter()
                .find(|k| k.api_key == api.as_i16())
                .and_then(|k| {
                    choose_version(api.client_versions(), (k.min_version, k.max_version))
                });
        }
        self.phase = Phase::Ready;
        for api in needed {
            if self.version(*api).is_none() {
                let range = response
                    .api_keys
                    .iter()
                    .find(|k| k.api_key == api.as_i16())
                    .map_or((-1, -1), |k| (k.min_version, k.max_version));
                return Err((*api, range.0, range.1));
            }
        }
        Ok(())
    }

    /// Produce and Metadata requests waiting for answers (what
    /// `max.in.flight.requests.per.connection` counts).
    pub fn requests_in_flight(&self) -> usize {
        self.in_flight
            .iter()
            .filter(|f| {
                !matches!(
                    f.purpose,
                    Purpose::ApiVersions | Purpose::SaslHandshake | Purpose::SaslAuthenticate
                )
            })
            .count()
    }

    /// Records in the Produce requests waiting for answers.
    pub fn records_in_flight(&self) -> usize {
        self.in_flight
            .iter()
            .map(|f| match &f.purpose {
                Purpose::Produce { batches, .. } => batches.iter().map(|b| b.records.len()).sum(),
                _ => 0,
            })
            .sum()
    }

    /// Encodes a request as one frame into `buf` and returns its
    /// correlation id; then [`Connection::expect`] or
    /// [`Connection::expect_maybe`] says whether an answer is due.
    pub fn encode<R: Request>(
        &mut self,
        buf: &mut BytesMut,
        client_id: &str,
        version: i16,
        request: &R,
    ) -> Result<i32, EncodeError> {
        let correlation_id = self.next_correlation_id;
        encode_request(buf, correlation_id, Some(client_id), version, request)?;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        Ok(correlation_id)
    }

    /// The request just encoded will be answered; track it until then.
    pub fn expect(
        &mut self,
        correlation_id: i32,
        version: i16,
        now: Instant,
        timeout: Duration,
        purpose: Purpose<T>,
    ) {
        self.in_flight.push_back(InFlight {
            correlation_id,
            version,
            sent_at: now,
            deadline: now + timeout,
            purpose,
        });
    }

    /// The request just encoded is an acks=0 Produce: it may be answered or
    /// not.
    pub fn expect_maybe(&mut self, correlation_id: i32) {
        if self.unanswered.len() == UNANSWERED_LIMIT
            && let Some(oldest) = self.unanswered.pop_front()
        {
            self.forgotten_below = oldest.wrapping_add(1);
        }
        self.unanswered.push_back(correlation_id);
    }

    /// Takes received bytes, in any chunking.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.frames.push(bytes);
    }

    /// The next response and the request it answers, if a whole one has
    /// arrived.
    pub fn next_response(&mut self) -> Result<Option<(InFlight<T>, Bytes)>, ConnectionError> {
        loop {
            let Some(frame) = self.frames.next_frame().map_err(ConnectionError::Decode)? else {
                return Ok(None);
            };
            let got = peek_correlation_id(&frame).map_err(ConnectionError::Decode)?;
            // acks=0 requests sent before the answered one were never
            // answered and never will be.
            while self.unanswered.front().is_some_and(|u| before(*u, got)) {
                self.unanswered.pop_front();
            }
            if self
                .in_flight
                .front()
                .is_some_and(|f| f.correlation_id == got)
                && let Some(f) = self.in_flight.pop_front()
            {
                return Ok(Some((f, frame)));
            }
            if self.unanswered.front() == Some(&got) {
                self.unanswered.pop_front();
                continue;
            }
            if before(got, self.forgotten_below)
                && self
                    .in_flight
                    .front()
                    .is_none_or(|f| before(got, f.correlation_id))
            {
                continue;
            }
            return Err(ConnectionError::UnexpectedCorrelation { got });
        }
    }

    /// The earliest request deadline, or setup deadline.
    pub fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Connecting { deadline } => Some(deadline),
            _ => self.in_flight.iter().map(|f| f.deadline).min(),
        }
    }
}

/// Correlation ids wrap; `a` was sent before `b` when it is less far
/// ahead than half the id space.
fn before(a: i32, b: i32) -> bool {
    b.wrapping_sub(a) > 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::header::encode_response;
    use crate::wire::messages::{
        MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse,
    };

    fn conn() -> Connection<()> {
        let mut c = Connection::new(
            ConnectionId(1),
            1,
            Instant::ZERO,
            Duration::from_secs(1),
            1 << 20,
        );
        c.phase = Phase::Ready;
        c
    }

    fn answer<M: crate::wire::Message>(correlation_id: i32, version: i16, body: &M) -> BytesMut {
        let mut out = BytesMut::new();
        encode_response(&mut out, correlation_id, version, body).unwrap();
        out
    }

    #[test]
    fn responses_match_requests_in_order_and_acks0_answers_are_skipped() {
        let mut c = conn();
        let mut buf = BytesMut::new();
        let t = Duration::from_secs(1);
        for acks0 in [true, false, true, false] {
            if acks0 {
                let id = c
                    .encode(&mut buf, "c", 9, &ProduceRequest::default())
                    .unwrap();
                c.expect_maybe(id);
            } else {
                let id = c
                    .encode(&mut buf, "c", 12, &MetadataRequest::default())
                    .unwrap();
                c.expect(id, 12, Instant::ZERO, t, Purpose::Metadata);
            }
        }
        // The broker answers the acks=0 request 0 (as the mock does), then 1;
        // it never answers 2; then 3.
        let mut stream = answer(0, 9, &ProduceResponse::default());
        stream.extend_from_slice(&answer(1, 12, &MetadataResponse::default()));
        stream.extend_from_slice(&answer(3, 12, &MetadataResponse::default()));
        for b in stream.chunks(3) {
            c.receive(b);
        }
        let (first, _) = c.next_response().unwrap().unwrap();
        assert_eq!(first.correlation_id, 1);
        let (second, _) = c.next_response().unwrap().unwrap();
        assert_eq!(second.correlation_id, 3);
        assert!(c.next_response().unwrap().is_none());
        assert!(c.in_flight.is_empty());
    }

    #[test]
    fn a_response_to_nothing_is_a_protocol_error() {
        let mut c = conn();
        let mut buf = BytesMut::new();
        let t = Duration::from_secs(1);
        let id = c
            .encode(&mut buf, "c", 12, &MetadataRequest::default())
            .unwrap();
        c.expect(id, 12, Instant::ZERO, t, Purpose::Metadata);
        c.receive(&answer(5, 12, &MetadataResponse::default()));
        assert_eq!(
            c.next_response().unwrap_err(),
            ConnectionError::UnexpectedCorrelation { got: 5 }
        );
    }

    #[test]
    fn unanswered_acks0_ids_are_bounded() {
        let mut c = conn();
        let mut buf = BytesMut::new();
        for _ in 0..(UNANSWERED_LIMIT + 10) {
            buf.clear();
            let id = c
                .encode(&mut buf, "c", 9, &ProduceRequest::default())
                .unwrap();
            c.expect_maybe(id);
        }
        assert_eq!(c.unanswered.len(), UNANSWERED_LIMIT);
        // An answer to a forgotten one is skipped, not an error.
        c.receive(&answer(3, 9, &ProduceResponse::default()));
        assert!(c.next_response().unwrap().is_none());
    }

    #[test]
    fn every_api_is_negotiated_at_the_highest_version_both_speak() {
        use crate::wire::messages::api_versions::ApiVersion;
        let mut c = conn();
        // A broker claiming one version more than the codec of every API,
        // one less, and exactly the client's maximum.
        for shift in [1i16, -1, 0] {
            let keys = ApiKey::ALL
                .iter()
                .map(|api| {
                    let (min, max) = api.client_versions();
                    ApiVersion::default()
                        .with_api_key(api.as_i16())
                        .with_min_version(min)
                        .with_max_version((max + shift).max(min))
                })
                .collect();
            let response = ApiVersionsResponse::default().with_api_keys(keys);
            c.negotiated(&response, &ApiKey::ALL).unwrap();
            for api in ApiKey::ALL {
                let (min, max) = api.client_versions();
                assert_eq!(
                    c.version(api),
                    Some(max.min((max + shift).max(min))),
                    "{api:?} against max + {shift}"
                );
            }
        }
        // A broker-to-broker version is never chosen: AddPartitionsToTxn
        // stops at v3 although the codec and the broker have v5.
        let keys = alloc::vec![
            ApiVersion::default()
                .with_api_key(ApiKey::AddPartitionsToTxn.as_i16())
                .with_min_version(0)
                .with_max_version(ApiKey::AddPartitionsToTxn.versions().1)
        ];
        let response = ApiVersionsResponse::default().with_api_keys(keys);
        c.negotiated(&response, &[]).unwrap();
        assert_eq!(c.version(ApiKey::AddPartitionsToTxn), Some(3));
        assert_eq!(c.version(ApiKey::Produce), None, "not claimed");
        // A needed API the broker lacks is refused, with its range.
        let response = ApiVersionsResponse::default();
        assert_eq!(
            c.negotiated(&response, &[ApiKey::Produce]),
            Err((ApiKey::Produce, -1, -1))
        );
    }

    #[test]
    fn correlation_order_survives_wrapping() {
        assert!(before(i32::MAX, i32::MIN));
        assert!(before(-1, 0));
        assert!(!before(0, 0));
        assert!(!before(1, 0));
    }
}
