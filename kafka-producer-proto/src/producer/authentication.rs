//! SASL, applied: when a connection authenticates (after ApiVersions, and
//! again before the broker's session ends, KIP-368), the requests of the
//! exchange, its answers, and what a failure means.
//!
//! A failed authentication is not retried at once: the connection closes,
//! the broker is tried again only after at least
//! `reconnect.backoff.max.ms`, and until then every record that can only
//! go through it fails with the [`AuthenticationError`], handed back: the
//! records of the partitions it leads, and, when every known broker failed
//! so, every record. The Java client lets those records wait for their
//! delivery timeout instead; failing them says why at once.
//!
//! A re-authentication starts when its time comes (a random 85 to 95 % of
//! the session lifetime the broker gave, as Kafka's client does): no new
//! request goes out on the connection until it ends, while answers to the
//! requests sent before it still arrive in order and are matched as usual.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;
use smallvec::SmallVec;

use super::{CloseCause, Producer};
use crate::batch::{Batch, Waiting};
use crate::cluster::{AuthInput, AuthOutcome, Authentication, Context, Phase, Purpose, Step};
use crate::error::ProduceError;
use crate::event::{ConnectionId, Transmit};
use crate::kafka_code::KafkaCode;
use crate::sasl::{AuthenticationError, AuthenticationFailure, OAuthBearerToken};
use crate::time::Instant;
use crate::wire::header::decode_response;
use crate::wire::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};

#[cfg(feature = "scram")]
use crate::sasl::scram::SaltCache;

/// The producer's SASL state beyond single connections.
#[derive(Debug, Default)]
pub(super) struct SaslState {
    /// The salted password of the last SCRAM exchange.
    #[cfg(feature = "scram")]
    salt_cache: SaltCache,
    /// The OAUTHBEARER token, and when it came.
    pub token: Option<(OAuthBearerToken, Instant)>,
    /// The application was asked for a token and has not given one since.
    pub token_requested: bool,
    /// Brokers whose last authentication failed.
    pub failed: BTreeMap<i32, AuthenticationError>,
}

impl<T> Producer<T> {
    /// ApiVersions was answered: with SASL the connection authenticates
    /// next; without, it is ready and its broker counts as reachable.
    pub(super) fn after_negotiation(&mut self, id: ConnectionId, now: Instant) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let node = conn.node;
        let Some(sasl) = self.config.sasl() else {
            if let Some(b) = self.meta.brokers.get_mut(&node) {
                b.failures = 0;
            }
            return;
        };
        // Handshake v1 puts every token in a SaslAuthenticate request.
        let offered = conn.version(ApiKey::SaslHandshake) == Some(1)
            && conn.version(ApiKey::SaslAuthenticate).is_some();
        if !offered {
            self.authentication_failed(id, AuthenticationFailure::NotOffered, None, now);
            return;
        }
        conn.phase = Phase::Authenticating;
        conn.auth = Some(Authentication::new(sasl.mechanism(), false));
    }

    /// Starts the KIP-368 re-authentication of a ready connection.
    pub(super) fn begin_reauthentication(&mut self, id: ConnectionId) {
        let Some(mechanism) = self.config.sasl().map(|s| s.mechanism()) else {
            return;
        };
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.phase = Phase::Authenticating;
            conn.auth = Some(Authentication::new(mechanism, true));
            conn.reauth_at = None;
        }
    }

    /// The next request of connection `id`'s SASL exchange, if one is due.
    pub(super) fn authentication_transmit(
        &mut self,
        id: ConnectionId,
        now: Instant,
    ) -> Option<Transmit> {
        let conn = self.conns.get(&id)?;
        let auth = conn.auth.as_ref()?;
        if auth.awaits_token() && self.sasl.token.is_some() {
            self.authentication_input(id, AuthInput::Token, now);
        }
        let conn = self.conns.get(&id)?;
        let auth = conn.auth.as_ref()?;
        match &auth.step {
            Step::Handshake => {
                let version = conn.version(ApiKey::SaslHandshake)?;
                let mechanism = String::from(auth.mechanism.name());
                let request = SaslHandshakeRequest::default().with_mechanism(mechanism);
                let t =
                    self.control_transmit(id, version, &request, Purpose::SaslHandshake, now)?;
                self.authentication_input(id, AuthInput::HandshakeSent, now);
                Some(t)
            }
            Step::Send(bytes) => {
                let version = conn.version(ApiKey::SaslAuthenticate)?;
                let bytes = Bytes::copy_from_slice(bytes);
                let request = SaslAuthenticateRequest::default().with_auth_bytes(bytes);
                let purpose = Purpose::SaslAuthenticate;
                let t = self.control_transmit(id, version, &request, purpose, now)?;
                self.authentication_input(id, AuthInput::TokenSent, now);
                Some(t)
            }
            _ => None,
        }
    }

    /// A SaslHandshake or SaslAuthenticate answer on connection `id`.
    pub(super) fn on_sasl_answer(
        &mut self,
        id: ConnectionId,
        handshake: bool,
        version: i16,
        frame: Bytes,
        now: Instant,
    ) {
        if handshake {
            match decode_response::<SaslHandshakeResponse>(frame, version) {
                Ok((_, r)) => {
                    let code = KafkaCode::from_i16(r.error_code);
                    let input = AuthInput::Handshake {
                        code,
                        mechanisms: &r.mechanisms,
                    };
                    self.authentication_input(id, input, now);
                }
                Err(_) => self.close_connection(id, CloseCause::Protocol, now),
            }
            return;
        }
        match decode_response::<SaslAuthenticateResponse>(frame, version) {
            Ok((_, r)) => {
                let input = AuthInput::Authenticate {
                    code: KafkaCode::from_i16(r.error_code),
                    message: r.error_message.as_deref(),
                    bytes: &r.auth_bytes,
                    session_lifetime_ms: r.session_lifetime_ms,
                };
                self.authentication_input(id, input, now);
            }
            Err(_) => self.close_connection(id, CloseCause::Protocol, now),
        }
    }

    /// Feeds the exchange of connection `id` and acts on what it says.
    fn authentication_input(&mut self, id: ConnectionId, input: AuthInput<'_>, now: Instant) {
        let Some(sasl) = self.config.sasl() else {
            return;
        };
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let Some(auth) = conn.auth.as_mut() else {
            return;
        };
        let mut cx = Context {
            now,
            sasl,
            rng: &mut self.rng,
            #[cfg(feature = "scram")]
            salt_cache: &mut self.sasl.salt_cache,
            token: self.sasl.token.as_ref().map(|(t, _)| t),
        };
        match auth.on(input, &mut cx) {
            AuthOutcome::Continue => {}
            AuthOutcome::Done {
                session_lifetime_ms,
            } => {
                conn.phase = Phase::Ready;
                conn.auth = None;
                let node = conn.node;
                if session_lifetime_ms > 0 {
                    // 85 to 95 % of the session, so that a fleet of
                    // producers does not re-authenticate in step.
                    let share = 0.85 + 0.1 * self.rng.unit();
                    let after = core::time::Duration::from_millis(
                        (session_lifetime_ms as f64 * share) as u64,
                    );
                    conn.reauth_at = Some(now + after);
                }
                self.sasl.failed.remove(&node);
                if let Some(b) = self.meta.brokers.get_mut(&node) {
                    b.failures = 0;
                }
            }
            AuthOutcome::Failed { failure, message } => {
                self.authentication_failed(id, failure, message, now);
            }
        }
    }

    /// The broker of connection `id` would not authenticate us.
    fn authentication_failed(
        &mut self,
        id: ConnectionId,
        failure: AuthenticationFailure,
        message: Option<String>,
        now: Instant,
    ) {
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        let node = conn.node;
        let reauthentication = conn.auth.as_ref().is_some_and(|a| a.reauthentication);
        let spent_at = conn.auth.as_ref().and_then(|a| a.token_expires_at);
        if failure == AuthenticationFailure::Refused && spent_at.is_some_and(|at| at <= now) {
            // The OAUTHBEARER token ran out before the refusal came back:
            // the broker may have refused it for that alone (a slow trip,
            // or an application giving short-lived tokens). Not proof of
            // bad credentials: drop the token, ask for a fresh one and
            // reconnect after the usual backoff; the records wait, within
            // their delivery timeout.
            if self
                .sasl
                .token
                .as_ref()
                .is_some_and(|(t, _)| t.expires_at <= now)
            {
                self.sasl.token = None;
            }
            self.close_connection(id, CloseCause::Protocol, now);
            return;
        }
        let Some(mechanism) = self.config.sasl().map(|s| s.mechanism()) else {
            return;
        };
        let (host, port) = self
            .meta
            .brokers
            .get(&node)
            .map_or((String::new(), 0), |b| (b.host.clone(), b.port));
        let error = AuthenticationError {
            node,
            host,
            port,
            mechanism,
            reauthentication,
            failure,
            message,
        };
        self.sasl.failed.insert(node, error);
        self.close_connection(id, CloseCause::Authentication, now);
        // The credentials are the same for every broker: none is tried
        // before this one is, so that a cluster of N brokers does not
        // take N attempts per backoff.
        let until = self.meta.brokers.get(&node).map(|b| b.reconnect_at);
        if let Some(until) = until {
            for b in self.meta.brokers.values_mut() {
                b.reconnect_at = b.reconnect_at.max(until);
            }
        }
    }

    /// Fails the records that only a broker that refused to authenticate
    /// us could take, while it waits out its backoff (see the module
    /// docs). Nothing to do, and cheap, without SASL failures.
    pub(super) fn fail_unauthenticated(&mut self, now: Instant) {
        if self.sasl.failed.is_empty() {
            return;
        }
        let blocked: SmallVec<[i32; 4]> = self
            .sasl
            .failed
            .keys()
            .copied()
            .filter(|n| {
                self.meta
                    .brokers
                    .get(n)
                    .is_some_and(|b| b.conn.is_none() && b.reconnect_at > now)
            })
            .collect();
        let Some(first) = blocked.first().and_then(|n| self.sasl.failed.get(n)) else {
            return;
        };
        // Every broker waits out a backoff, and one refused us: nothing
        // can take any record until the backoff ends.
        let every = self
            .meta
            .brokers
            .values()
            .all(|b| b.conn.is_none() && b.reconnect_at > now);
        let everything = every.then(|| ProduceError::Authentication(first.clone()));
        for t in 0..self.acc.topics.len() {
            if let Some(error) = &everything {
                let waiting: Vec<Waiting<T>> = self.acc.topics[t].waiting.drain(..).collect();
                self.acc.topics[t].waiting_since = None;
                for w in waiting {
                    self.fail_waiting(w, error.clone());
                }
            }
            for p in 0..self.acc.topics[t].partitions.len() {
                let leader = self.acc.topics[t].partitions[p].leader;
                let error = match (&everything, self.sasl.failed.get(&leader)) {
                    (Some(e), _) => e.clone(),
                    (None, Some(e)) if blocked.contains(&leader) => {
                        ProduceError::Authentication(e.clone())
                    }
                    _ => continue,
                };
                let batches: Vec<Batch<T>> =
                    self.acc.topics[t].partitions[p].queue.drain(..).collect();
                for b in batches {
                    self.mark_unresolved(&b);
                    self.fail_batch(b, error.clone());
                }
            }
        }
    }
}
