//! SASL on the simulated brokers, as a Kafka SASL listener does it: a
//! connection may send ApiVersions and SaslHandshake before it
//! authenticates, and anything else closes it; the mechanisms are PLAIN,
//! SCRAM-SHA-256 and SCRAM-SHA-512 (feature `scram`, with the server side
//! of RFC 5802: the client's proof checked, the server's signature sent)
//! and OAUTHBEARER (tokens the simulation issued, refused once expired,
//! with RFC 7628's error document first). With a session lifetime
//! (`connections.max.reauth.ms`), the final SaslAuthenticate answer says
//! how long the session lasts, and a request other than SaslHandshake
//! after that closes the connection, as Kafka does (KIP-368).
//!
//! Each connection's state is a [`SimSession`] its caller keeps and hands
//! to [`SimCluster::handle_session`] with every request.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use bytes::{Bytes, BytesMut};
use core::time::Duration;

use super::cluster::{SimCluster, request_api};
use super::entropy::{Chance, Entropy};
use crate::kafka_code::KafkaCode;
use crate::sasl::oauthbearer::parse_initial_response;
use crate::sasl::{Mechanism, OAuthBearerToken, plain};
use crate::time::Instant;
use crate::wire::header::{decode_request_header, encode_response};
use crate::wire::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use crate::wire::{Message, Reader};

#[cfg(feature = "scram")]
use crate::sasl::scram::{self, Hash, Keys};

/// The iterations of the simulated SCRAM credentials: Kafka's default.
#[cfg(feature = "scram")]
const ITERATIONS: u32 = 4096;

/// What a simulated broker does with one request on a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimReply {
    /// These bytes go back.
    Answer(Bytes),
    /// Nothing goes back (an acks=0 Produce).
    Nothing,
    /// The broker closes the connection.
    Close,
}

/// How many things the simulated brokers' SASL did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaslStats {
    /// Connections authenticated for the first time.
    pub authentications: u64,
    /// Sessions re-authenticated (KIP-368).
    pub reauthentications: u64,
    /// Exchanges the broker refused.
    pub refusals: u64,
    /// Requests other than ApiVersions and SASL before authentication:
    /// each closed its connection. A correct producer sends none.
    pub unauthenticated_requests: u64,
    /// Requests after the session ended (not SaslHandshake): each closed
    /// its connection.
    pub expired_sessions_closed: u64,
}

/// A user of the simulated brokers, and its SCRAM credentials once made.
#[derive(Debug, Clone)]
struct User {
    password: String,
    #[cfg(feature = "scram")]
    scram: BTreeMap<u8, (Vec<u8>, Keys)>,
}

/// The SASL listener of every broker of a simulated cluster.
#[derive(Debug, Clone)]
pub struct SimSasl {
    /// The mechanisms the brokers enable.
    pub mechanisms: Vec<Mechanism>,
    /// `connections.max.reauth.ms`: how long a session lasts (OAUTHBEARER
    /// sessions also end with their token). `None`: for ever.
    pub session_lifetime: Option<Duration>,
    /// How long the tokens of [`SimSasl::issue_token`] last.
    pub token_lifetime: Duration,
    /// What happened.
    pub stats: SaslStats,
    users: BTreeMap<String, User>,
    tokens: BTreeMap<String, (String, Instant)>,
    #[cfg_attr(not(feature = "scram"), allow(dead_code))]
    next_nonce: u64,
    next_token: u64,
}

impl SimSasl {
    /// Brokers enabling `mechanisms`, with no user yet, sessions without
    /// end and tokens of an hour.
    pub fn new(mechanisms: &[Mechanism]) -> SimSasl {
        SimSasl {
            mechanisms: mechanisms.to_vec(),
            session_lifetime: None,
            token_lifetime: Duration::from_secs(3600),
            stats: SaslStats::default(),
            users: BTreeMap::new(),
            tokens: BTreeMap::new(),
            next_nonce: 0,
            next_token: 0,
        }
    }

    /// Adds a user (PLAIN and SCRAM).
    pub fn user(mut self, name: &str, password: &str) -> SimSasl {
        self.users.insert(
            String::from(name),
            User {
                password: String::from(password),
                #[cfg(feature = "scram")]
                scram: BTreeMap::new(),
            },
        );
        self
    }

    /// Sets the session lifetime.
    pub fn session_lifetime(mut self, lifetime: Option<Duration>) -> SimSasl {
        self.session_lifetime = lifetime;
        self
    }

    /// Issues a token for `principal`, valid until `expires_at`, as an
    /// identity provider would.
    pub fn issue_token_for(&mut self, principal: &str, expires_at: Instant) -> OAuthBearerToken {
        self.next_token += 1;
        let value = format!("simtoken.{}.{principal}", self.next_token);
        self.tokens
            .insert(value.clone(), (String::from(principal), expires_at));
        OAuthBearerToken::new(value, expires_at)
    }

    /// Issues a token for the principal `sim`, valid for
    /// [`token_lifetime`](SimSasl::token_lifetime) from `now`.
    pub fn issue_token(&mut self, now: Instant) -> OAuthBearerToken {
        let expires_at = now + self.token_lifetime;
        self.issue_token_for("sim", expires_at)
    }
}

/// Where a connection is in its SASL life, broker side.
#[derive(Debug, Clone, Default)]
pub struct SimSession {
    /// Who it authenticated as, with which mechanism, until when.
    authenticated: Option<(Mechanism, String, Option<Instant>)>,
    pending: Pending,
}

impl SimSession {
    /// The principal the connection authenticated as.
    pub fn principal(&self) -> Option<&str> {
        self.authenticated.as_ref().map(|(_, p, _)| p.as_str())
    }
}

#[derive(Debug, Clone, Default)]
enum Pending {
    #[default]
    Nothing,
    /// The handshake chose this mechanism; its first token is awaited.
    Handshaken(Mechanism),
    /// SCRAM's server-first went out; client-final is awaited.
    #[cfg(feature = "scram")]
    ScramFirst {
        hash: Hash,
        user: String,
        bare: String,
        server_first: String,
        nonce: String,
    },
    /// OAUTHBEARER refused the token with this document; the client's
    /// acknowledgement is awaited.
    OAuthRefused(String),
}

/// An answer to one SaslAuthenticate: error, message, bytes.
type AuthAnswer = (KafkaCode, Option<String>, Vec<u8>);

impl SimCluster {
    /// Answers one request frame received by `node` on the connection
    /// whose SASL state is `session`, at `now`. Without SASL this is
    /// [`SimCluster::handle`].
    pub fn handle_session(
        &mut self,
        node: i32,
        session: &mut SimSession,
        frame: Bytes,
        now: Instant,
    ) -> SimReply {
        let plain = |answer: Option<Bytes>| answer.map_or(SimReply::Nothing, SimReply::Answer);
        if self.sasl.is_none() && request_api(&frame) != Some(ApiKey::SaslHandshake) {
            return plain(self.handle(node, frame));
        }
        let Ok((header, body)) = decode_request_header(frame.clone()) else {
            return SimReply::Close;
        };
        let version = header.request_api_version;
        let id = header.correlation_id;
        if self.sasl.is_none() {
            // A listener without SASL answers a handshake as Kafka's does.
            let code = KafkaCode::IllegalSaslState.code();
            return encode(
                id,
                version,
                &SaslHandshakeResponse::default().with_error_code(code),
            );
        }
        match ApiKey::from_i16(header.request_api_key) {
            Some(ApiKey::ApiVersions) => plain(self.handle(node, frame)),
            Some(ApiKey::SaslHandshake) => self.sasl_handshake(session, version, id, body),
            Some(ApiKey::SaslAuthenticate) => {
                self.sasl_authenticate(session, version, id, body, now)
            }
            _ => {
                let Some(sasl) = self.sasl.as_mut() else {
                    return SimReply::Close;
                };
                match &session.authenticated {
                    None => {
                        sasl.stats.unauthenticated_requests += 1;
                        SimReply::Close
                    }
                    Some((_, _, Some(end))) if *end <= now => {
                        sasl.stats.expired_sessions_closed += 1;
                        SimReply::Close
                    }
                    Some(_) => plain(self.handle(node, frame)),
                }
            }
        }
    }

    fn sasl_handshake(
        &mut self,
        session: &mut SimSession,
        version: i16,
        id: i32,
        mut body: Reader,
    ) -> SimReply {
        let Ok(request) = SaslHandshakeRequest::decode(&mut body, version) else {
            return SimReply::Close;
        };
        let injected = self.take_injected(ApiKey::SaslHandshake);
        let Some(sasl) = self.sasl.as_mut() else {
            return SimReply::Close;
        };
        let enabled: Vec<String> = sasl.mechanisms.iter().map(|m| m.name().into()).collect();
        let chosen = Mechanism::from_name(&request.mechanism).filter(|m| {
            sasl.mechanisms.contains(m)
                && session
                    .authenticated
                    .as_ref()
                    .is_none_or(|(before, _, _)| before == m)
        });
        let code = match (injected, chosen) {
            (Some(code), _) => code,
            (None, None) => KafkaCode::UnsupportedSaslMechanism,
            (None, Some(m)) => {
                session.pending = Pending::Handshaken(m);
                KafkaCode::None
            }
        };
        if code != KafkaCode::None {
            sasl.stats.refusals += 1;
            session.pending = Pending::Nothing;
        }
        let response = SaslHandshakeResponse::default()
            .with_error_code(code.code())
            .with_mechanisms(enabled);
        encode(id, version, &response)
    }

    fn sasl_authenticate(
        &mut self,
        session: &mut SimSession,
        version: i16,
        id: i32,
        mut body: Reader,
        now: Instant,
    ) -> SimReply {
        let Ok(request) = SaslAuthenticateRequest::decode(&mut body, version) else {
            return SimReply::Close;
        };
        let injected = self.take_injected(ApiKey::SaslAuthenticate);
        let Some(sasl) = self.sasl.as_mut() else {
            return SimReply::Close;
        };
        let reauth = session.authenticated.is_some();
        let (code, message, bytes) = match injected {
            Some(code) => {
                session.pending = Pending::Nothing;
                (code, Some(refused_message(reauth)), Vec::new())
            }
            None => sasl.step(session, &request.auth_bytes, now),
        };
        let mut lifetime = 0;
        if code == KafkaCode::None && matches!(session.pending, Pending::Nothing) {
            lifetime = session
                .authenticated
                .as_ref()
                .and_then(|(_, _, end)| *end)
                .map_or(0, |end| {
                    i64::try_from(end.saturating_duration_since(now).as_millis()).unwrap_or(0)
                });
            if version == 0 {
                // A client of v0 cannot re-authenticate: its session
                // does not end.
                if let Some(a) = session.authenticated.as_mut() {
                    a.2 = None;
                }
                lifetime = 0;
            }
        } else if code != KafkaCode::None {
            sasl.stats.refusals += 1;
        }
        let response = SaslAuthenticateResponse::default()
            .with_error_code(code.code())
            .with_error_message(message)
            .with_auth_bytes(Bytes::from(bytes))
            .with_session_lifetime_ms(lifetime);
        encode(id, version, &response)
    }
}

impl SimSasl {
    /// One SaslAuthenticate of the exchange `session` is in.
    fn step(&mut self, session: &mut SimSession, token: &[u8], now: Instant) -> AuthAnswer {
        let refused = |reauth: bool| {
            (
                KafkaCode::SaslAuthenticationFailed,
                Some(refused_message(reauth)),
                Vec::new(),
            )
        };
        let reauth = session.authenticated.is_some();
        match core::mem::take(&mut session.pending) {
            Pending::Nothing => (
                KafkaCode::IllegalSaslState,
                Some(String::from("SaslAuthenticate before SaslHandshake")),
                Vec::new(),
            ),
            Pending::Handshaken(Mechanism::Plain) => match plain::parse(token) {
                Some((authzid, user, password))
                    if (authzid.is_empty() || authzid == user)
                        && self.users.get(user).is_some_and(|u| u.password == password) =>
                {
                    let user = String::from(user);
                    self.complete(session, Mechanism::Plain, user, None, now)
                }
                _ => (
                    KafkaCode::SaslAuthenticationFailed,
                    Some(String::from(
                        "Authentication failed: Invalid username or password",
                    )),
                    Vec::new(),
                ),
            },
            #[cfg(feature = "scram")]
            Pending::Handshaken(m @ (Mechanism::ScramSha256 | Mechanism::ScramSha512)) => {
                let hash = if m == Mechanism::ScramSha256 {
                    Hash::Sha256
                } else {
                    Hash::Sha512
                };
                self.scram_first(session, hash, token)
                    .unwrap_or_else(|| refused(reauth))
            }
            #[cfg(feature = "scram")]
            Pending::ScramFirst {
                hash,
                user,
                bare,
                server_first,
                nonce,
            } => {
                let Some(signature) =
                    self.scram_final(hash, &user, &bare, &server_first, &nonce, token)
                else {
                    return refused(reauth);
                };
                let m = if hash == Hash::Sha256 {
                    Mechanism::ScramSha256
                } else {
                    Mechanism::ScramSha512
                };
                let (code, message, _) = self.complete(session, m, user, None, now);
                (code, message, signature)
            }
            Pending::Handshaken(Mechanism::OAuthBearer) => {
                let valid = parse_initial_response(token)
                    .and_then(|t| self.tokens.get(t))
                    .filter(|(_, end)| *end > now)
                    .cloned();
                match valid {
                    Some((principal, end)) => {
                        self.complete(session, Mechanism::OAuthBearer, principal, Some(end), now)
                    }
                    None => {
                        let document = String::from(r#"{"status":"invalid_token"}"#);
                        session.pending = Pending::OAuthRefused(document.clone());
                        (KafkaCode::None, None, document.into_bytes())
                    }
                }
            }
            Pending::OAuthRefused(document) => (
                KafkaCode::SaslAuthenticationFailed,
                Some(document),
                Vec::new(),
            ),
            #[cfg(not(feature = "scram"))]
            Pending::Handshaken(_) => refused(reauth),
        }
    }

    /// Authenticated as `principal`: the session starts, or goes on if it
    /// is the same principal re-authenticating.
    fn complete(
        &mut self,
        session: &mut SimSession,
        mechanism: Mechanism,
        principal: String,
        credential_end: Option<Instant>,
        now: Instant,
    ) -> AuthAnswer {
        let reauth = session.authenticated.is_some();
        if session
            .authenticated
            .as_ref()
            .is_some_and(|(_, before, _)| *before != principal)
        {
            return (
                KafkaCode::SaslAuthenticationFailed,
                Some(String::from(
                    "Cannot change principals during re-authentication",
                )),
                Vec::new(),
            );
        }
        let end = match (self.session_lifetime.map(|l| now + l), credential_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        session.authenticated = Some((mechanism, principal, end));
        if reauth {
            self.stats.reauthentications += 1;
        } else {
            self.stats.authentications += 1;
        }
        (KafkaCode::None, None, Vec::new())
    }

    /// The user's SCRAM salt and keys, made once.
    #[cfg(feature = "scram")]
    fn scram_keys(&mut self, hash: Hash, user: &str) -> Option<(Vec<u8>, Keys)> {
        let u = self.users.get_mut(user)?;
        let slot = u8::from(hash == Hash::Sha512);
        if let Some(keys) = u.scram.get(&slot) {
            return Some(keys.clone());
        }
        let salt = format!("salt-of-{user}").into_bytes();
        let keys = (salt.clone(), derived_keys(hash, &u.password, &salt));
        u.scram.insert(slot, keys.clone());
        Some(keys)
    }

    /// client-first: the server-first message, or `None` to refuse.
    #[cfg(feature = "scram")]
    fn scram_first(
        &mut self,
        session: &mut SimSession,
        hash: Hash,
        token: &[u8],
    ) -> Option<AuthAnswer> {
        use base64::Engine;
        let text = core::str::from_utf8(token).ok()?;
        let rest = text.strip_prefix("n,")?;
        let (authzid, bare) = rest.split_once(',')?;
        let mut attrs = bare.split(',');
        let name = attrs.next()?.strip_prefix("n=")?;
        let client_nonce = attrs.next()?.strip_prefix("r=")?;
        let user = name.replace("=2C", ",").replace("=3D", "=");
        if !(authzid.is_empty() || authzid.strip_prefix("a=") == Some(name)) {
            return None;
        }
        let (salt, _) = self.scram_keys(hash, &user)?;
        self.next_nonce += 1;
        let nonce = format!("{client_nonce}sim{:08}", self.next_nonce);
        let server_first = format!(
            "r={nonce},s={},i={ITERATIONS}",
            base64::engine::general_purpose::STANDARD.encode(salt)
        );
        session.pending = Pending::ScramFirst {
            hash,
            user,
            bare: String::from(bare),
            server_first: server_first.clone(),
            nonce,
        };
        Some((KafkaCode::None, None, server_first.into_bytes()))
    }

    /// client-final: the server-final message once the proof holds.
    #[cfg(feature = "scram")]
    fn scram_final(
        &mut self,
        hash: Hash,
        user: &str,
        bare: &str,
        server_first: &str,
        nonce: &str,
        token: &[u8],
    ) -> Option<Vec<u8>> {
        use base64::Engine;
        use base64::engine::general_purpose::STANDARD;
        let text = core::str::from_utf8(token).ok()?;
        let (without_proof, proof) = text.rsplit_once(",p=")?;
        let mut attrs = without_proof.split(',');
        attrs.next()?.strip_prefix("c=")?;
        if attrs.next()?.strip_prefix("r=")? != nonce {
            return None;
        }
        let proof = STANDARD.decode(proof).ok()?;
        let (_, keys) = self.scram_keys(hash, user)?;
        let auth_message = format!("{bare},{server_first},{without_proof}");
        let signature = scram::hmac(hash, &keys.stored_key, auth_message.as_bytes());
        if proof.len() != signature.len() {
            return None;
        }
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
        if !scram::constant_time_eq(&scram::h(hash, &client_key), &keys.stored_key) {
            return None;
        }
        let server = scram::hmac(hash, &keys.server_key, auth_message.as_bytes());
        Some(format!("v={}", STANDARD.encode(server)).into_bytes())
    }
}

/// The stored and server keys of a password: PBKDF2, milliseconds of CPU
/// each time. Thousands of simulated clusters make the same few, so with
/// `std` they are made once per process.
#[cfg(feature = "scram")]
fn derived_keys(hash: Hash, password: &str, salt: &[u8]) -> Keys {
    let derive = || {
        Keys::from_salted(
            hash,
            &scram::hi(hash, password.as_bytes(), salt, ITERATIONS),
        )
    };
    #[cfg(feature = "std")]
    {
        use std::sync::{Mutex, OnceLock};
        type Cache = Mutex<BTreeMap<(bool, String, Vec<u8>), Keys>>;
        static CACHE: OnceLock<Cache> = OnceLock::new();
        let key = (hash == Hash::Sha512, String::from(password), salt.to_vec());
        let cache = CACHE.get_or_init(|| Mutex::new(BTreeMap::new()));
        if let Some(keys) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return keys;
        }
        let keys = derive();
        if let Ok(mut c) = cache.lock() {
            c.insert(key, keys.clone());
        }
        keys
    }
    #[cfg(not(feature = "std"))]
    derive()
}

/// Kafka's words for refused credentials (it never says whether the user
/// exists).
fn refused_message(reauth: bool) -> String {
    String::from(if reauth {
        "Authentication failed during re-authentication due to invalid credentials"
    } else {
        "Authentication failed during authentication due to invalid credentials"
    })
}

fn encode<M: Message>(id: i32, version: i16, response: &M) -> SimReply {
    let mut out = BytesMut::new();
    match encode_response(&mut out, id, version, response) {
        Ok(()) => SimReply::Answer(out.freeze()),
        Err(_) => SimReply::Close,
    }
}

/// Faults of the SASL exchange a [`super::SimNet`] injects: on top of the
/// network's own, which strike SASL requests as any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaslFaults {
    /// A SASL answer is held back ...
    pub slow: Chance,
    /// ... this much longer than the network's latency.
    pub slow_extra: Duration,
    /// A connection breaks as a SASL request reaches the broker.
    pub drop: Chance,
    /// The broker refuses an authentication (SASL_AUTHENTICATION_FAILED)
    /// whatever the credentials: not recoverable.
    pub refuse: Chance,
}

impl SaslFaults {
    /// The extra delay for one SASL answer.
    pub(crate) fn delay(&self, e: &mut Entropy) -> Option<Duration> {
        e.chance(self.slow).then_some(self.slow_extra)
    }
}
