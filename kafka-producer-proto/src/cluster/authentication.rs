//! SASL on one connection: the exchange that runs after ApiVersions and
//! before any other request (or, for a KIP-368 re-authentication, between
//! two requests of a connection that authenticated before), as one state
//! machine whose transitions are all in [`Authentication::on`].
//!
//! ```text
//! Handshake --send--> AwaitHandshake --ok--> Send(first token) | AwaitToken
//! AwaitToken --token--> Send(first token)
//! Send(token) --send--> AwaitAuthenticate --ok, more--> Send(next token)
//!                                          --ok, done--> Done(session lifetime)
//! any answer with an error, or one the mechanism refuses --> Failed
//! ```
//!
//! Only SaslHandshake v1 is spoken: every token then travels in a
//! SaslAuthenticate request, which every broker since Kafka 1.0 offers.
//! The mechanisms themselves are in `crate::sasl`; this file knows what
//! to send when, and what an answer means.

use alloc::string::String;
use alloc::vec::Vec;

use crate::config::{Sasl, SaslCredentials};
use crate::kafka_code::KafkaCode;
use crate::rng::Rng;
use crate::sasl::oauthbearer::{self, OAuthBearerToken};
use crate::sasl::{AuthenticationFailure, Mechanism, plain};
use crate::time::Instant;

#[cfg(feature = "scram")]
use crate::sasl::scram::{Hash, SaltCache, ScramClient};

/// What a connection's SASL exchange is waiting for or about to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// SaslHandshake is to be sent.
    Handshake,
    /// SaslHandshake was sent; its answer is awaited.
    AwaitHandshake,
    /// OAUTHBEARER: the application's token is awaited.
    AwaitToken,
    /// A SaslAuthenticate carrying these bytes is to be sent.
    Send(Vec<u8>),
    /// A SaslAuthenticate was sent; its answer is awaited.
    AwaitAuthenticate,
}

/// An input to the exchange.
#[derive(Debug)]
pub(crate) enum AuthInput<'a> {
    /// The SaslHandshake request is being written.
    HandshakeSent,
    /// The SaslAuthenticate request is being written.
    TokenSent,
    /// The SaslHandshake answer.
    Handshake {
        code: KafkaCode,
        mechanisms: &'a [String],
    },
    /// The application supplied a token.
    Token,
    /// A SaslAuthenticate answer.
    Authenticate {
        code: KafkaCode,
        message: Option<&'a str>,
        bytes: &'a [u8],
        session_lifetime_ms: i64,
    },
}

/// What an input led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthOutcome {
    /// The exchange goes on (see [`Authentication::step`]).
    Continue,
    /// Authenticated; the broker ends the session after this long (0:
    /// never).
    Done { session_lifetime_ms: i64 },
    /// The broker refused, or its answers broke the mechanism's rules.
    Failed {
        failure: AuthenticationFailure,
        message: Option<String>,
    },
}

/// What the exchange needs from the producer: the credentials, its
/// seeded generator (SCRAM's nonce), the salted password kept from the
/// last SCRAM exchange, the current OAUTHBEARER token, and the time.
pub(crate) struct Context<'a> {
    pub now: Instant,
    pub sasl: &'a Sasl,
    #[cfg_attr(not(feature = "scram"), allow(dead_code))]
    pub rng: &'a mut Rng,
    #[cfg(feature = "scram")]
    pub salt_cache: &'a mut SaltCache,
    pub token: Option<&'a OAuthBearerToken>,
}

/// The mechanism's own state.
#[derive(Debug, Clone)]
enum Exchange {
    /// PLAIN, or OAUTHBEARER before its token went out.
    Single,
    #[cfg(feature = "scram")]
    Scram(ScramClient),
    /// OAUTHBEARER refused the token with this document; the `\x01`
    /// acknowledging it went out, and the broker's error is awaited.
    OAuthBearerError(String),
}

/// One connection's SASL exchange.
#[derive(Debug, Clone)]
pub(crate) struct Authentication {
    pub mechanism: Mechanism,
    /// A KIP-368 re-authentication of an authenticated connection.
    pub reauthentication: bool,
    pub step: Step,
    exchange: Exchange,
    /// OAUTHBEARER: when the token this exchange sent expires (as the
    /// application said), to tell a token that ran out on its way to the
    /// broker from one the broker would never take.
    pub token_expires_at: Option<Instant>,
}

impl Authentication {
    pub fn new(mechanism: Mechanism, reauthentication: bool) -> Authentication {
        Authentication {
            mechanism,
            reauthentication,
            step: Step::Handshake,
            exchange: Exchange::Single,
            token_expires_at: None,
        }
    }

    /// Whether a request is ready to be written.
    pub fn has_request(&self) -> bool {
        matches!(self.step, Step::Handshake | Step::Send(_))
    }

    /// Whether the exchange waits for the application's token.
    pub fn awaits_token(&self) -> bool {
        self.step == Step::AwaitToken
    }

    /// Takes an input; every transition of the exchange is here.
    pub fn on(&mut self, input: AuthInput<'_>, cx: &mut Context<'_>) -> AuthOutcome {
        let failed = |failure, message: Option<&str>| AuthOutcome::Failed {
            failure,
            message: message.map(String::from),
        };
        match (
            core::mem::replace(&mut self.step, Step::AwaitAuthenticate),
            input,
        ) {
            (Step::Handshake, AuthInput::HandshakeSent) => {
                self.step = Step::AwaitHandshake;
                AuthOutcome::Continue
            }
            (Step::Send(_), AuthInput::TokenSent) => {
                self.step = Step::AwaitAuthenticate;
                AuthOutcome::Continue
            }
            (Step::AwaitHandshake, AuthInput::Handshake { code, mechanisms }) => match code {
                KafkaCode::None => self.first_token(cx),
                KafkaCode::UnsupportedSaslMechanism => failed(
                    AuthenticationFailure::UnsupportedMechanism {
                        enabled: mechanisms.to_vec(),
                    },
                    None,
                ),
                code => failed(AuthenticationFailure::Broker { code }, None),
            },
            (Step::AwaitToken, AuthInput::Token) => self.first_token(cx),
            (
                Step::AwaitAuthenticate,
                AuthInput::Authenticate {
                    code,
                    message,
                    bytes,
                    session_lifetime_ms,
                },
            ) => {
                if code != KafkaCode::None {
                    let failure = if code == KafkaCode::SaslAuthenticationFailed {
                        AuthenticationFailure::Refused
                    } else {
                        AuthenticationFailure::Broker { code }
                    };
                    // OAUTHBEARER's broker repeats its document as the
                    // message; keep ours if it sent none.
                    let message = match (&self.exchange, message) {
                        (_, Some(m)) => Some(m),
                        (Exchange::OAuthBearerError(doc), None) => Some(doc.as_str()),
                        (_, None) => None,
                    };
                    return failed(failure, message);
                }
                self.next_token(bytes, session_lifetime_ms, cx)
            }
            (step, AuthInput::Token) => {
                // A token while not waiting for one is kept for later.
                self.step = step;
                AuthOutcome::Continue
            }
            (step, _) => {
                self.step = step;
                failed(
                    AuthenticationFailure::Broker {
                        code: KafkaCode::IllegalSaslState,
                    },
                    Some("an answer the SASL exchange did not expect"),
                )
            }
        }
    }

    /// The mechanism's first message, once the handshake is accepted.
    fn first_token(&mut self, cx: &mut Context<'_>) -> AuthOutcome {
        let token = match (self.mechanism, cx.sasl.credentials()) {
            (Mechanism::Plain, SaslCredentials::Password { username, password }) => {
                plain::initial_response(username, password)
            }
            #[cfg(feature = "scram")]
            (
                mechanism @ (Mechanism::ScramSha256 | Mechanism::ScramSha512),
                SaslCredentials::Password { username, .. },
            ) => {
                let hash = if mechanism == Mechanism::ScramSha256 {
                    Hash::Sha256
                } else {
                    Hash::Sha512
                };
                let (client, first) = ScramClient::start(hash, username, cx.rng);
                self.exchange = Exchange::Scram(client);
                first
            }
            (Mechanism::OAuthBearer, _) => match cx.token {
                // An expired token would only be refused: wait for the
                // next one.
                Some(token) if token.expires_at > cx.now => {
                    self.token_expires_at = Some(token.expires_at);
                    oauthbearer::initial_response(token)
                }
                _ => {
                    self.step = Step::AwaitToken;
                    return AuthOutcome::Continue;
                }
            },
            // The configuration pairs each mechanism with its credentials
            // (and refuses SCRAM without its feature).
            _ => {
                return AuthOutcome::Failed {
                    failure: AuthenticationFailure::Mechanism,
                    message: Some(String::from(
                        "no credentials for this mechanism in the configuration",
                    )),
                };
            }
        };
        self.step = Step::Send(token);
        AuthOutcome::Continue
    }

    /// A successful SaslAuthenticate answer: the next message, or done.
    #[cfg_attr(not(feature = "scram"), allow(unused_variables))]
    fn next_token(&mut self, bytes: &[u8], lifetime: i64, cx: &mut Context<'_>) -> AuthOutcome {
        let done = AuthOutcome::Done {
            session_lifetime_ms: lifetime.max(0),
        };
        match &mut self.exchange {
            Exchange::Single if self.mechanism == Mechanism::OAuthBearer && !bytes.is_empty() => {
                // The broker refused the token and says why; it fails the
                // exchange once the client acknowledges.
                let document = String::from_utf8_lossy(bytes).into_owned();
                self.exchange = Exchange::OAuthBearerError(document);
                self.step = Step::Send(oauthbearer::ERROR_ACK.to_vec());
                AuthOutcome::Continue
            }
            Exchange::Single => done,
            #[cfg(feature = "scram")]
            Exchange::Scram(client) => {
                let SaslCredentials::Password { password, .. } = cx.sasl.credentials() else {
                    return AuthOutcome::Failed {
                        failure: AuthenticationFailure::Mechanism,
                        message: Some(String::from("SCRAM without a password")),
                    };
                };
                match client.next(bytes, password, cx.salt_cache) {
                    Ok(Some(message)) => {
                        self.step = Step::Send(message);
                        AuthOutcome::Continue
                    }
                    Ok(None) => done,
                    Err(e) => AuthOutcome::Failed {
                        failure: AuthenticationFailure::Mechanism,
                        message: Some(alloc::format!("{e}")),
                    },
                }
            }
            Exchange::OAuthBearerError(document) => AuthOutcome::Failed {
                // The broker should have failed the exchange by now.
                failure: AuthenticationFailure::Refused,
                message: Some(core::mem::take(document)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, SecurityProtocol};
    use crate::time::Instant;

    fn sasl(mechanism: Mechanism) -> Sasl {
        let mut b = Config::builder();
        b.bootstrap_servers("k:9092")
            .security_protocol(SecurityProtocol::SaslPlaintext)
            .sasl_mechanism(mechanism);
        if mechanism.uses_password() {
            b.sasl_credentials("alice", "secret");
        }
        b.build().unwrap().sasl().unwrap().clone()
    }

    fn run<'a>(
        a: &mut Authentication,
        sasl: &Sasl,
        token: Option<&OAuthBearerToken>,
        input: AuthInput<'a>,
    ) -> AuthOutcome {
        let mut rng = Rng::new(1);
        #[cfg(feature = "scram")]
        let mut cache = SaltCache::default();
        let mut cx = Context {
            now: Instant::ZERO,
            sasl,
            rng: &mut rng,
            #[cfg(feature = "scram")]
            salt_cache: &mut cache,
            token,
        };
        a.on(input, &mut cx)
    }

    fn ok_handshake() -> AuthInput<'static> {
        AuthInput::Handshake {
            code: KafkaCode::None,
            mechanisms: &[],
        }
    }

    fn answer(code: KafkaCode, bytes: &[u8], lifetime: i64) -> AuthInput<'_> {
        AuthInput::Authenticate {
            code,
            message: None,
            bytes,
            session_lifetime_ms: lifetime,
        }
    }

    #[test]
    fn plain_sends_one_token_and_keeps_the_session_lifetime() {
        let sasl = sasl(Mechanism::Plain);
        let mut a = Authentication::new(Mechanism::Plain, false);
        assert!(a.has_request());
        assert_eq!(
            run(&mut a, &sasl, None, AuthInput::HandshakeSent),
            AuthOutcome::Continue
        );
        assert!(!a.has_request());
        assert_eq!(
            run(&mut a, &sasl, None, ok_handshake()),
            AuthOutcome::Continue
        );
        assert_eq!(a.step, Step::Send(b"\0alice\0secret".to_vec()));
        run(&mut a, &sasl, None, AuthInput::TokenSent);
        assert_eq!(
            run(&mut a, &sasl, None, answer(KafkaCode::None, b"", 60_000)),
            AuthOutcome::Done {
                session_lifetime_ms: 60_000
            }
        );
    }

    #[test]
    fn a_refusal_and_an_unknown_mechanism_fail_with_what_the_broker_said() {
        let sasl = sasl(Mechanism::Plain);
        let mut a = Authentication::new(Mechanism::Plain, false);
        run(&mut a, &sasl, None, AuthInput::HandshakeSent);
        let enabled = [String::from("SCRAM-SHA-256")];
        let out = run(
            &mut a,
            &sasl,
            None,
            AuthInput::Handshake {
                code: KafkaCode::UnsupportedSaslMechanism,
                mechanisms: &enabled,
            },
        );
        assert_eq!(
            out,
            AuthOutcome::Failed {
                failure: AuthenticationFailure::UnsupportedMechanism {
                    enabled: enabled.to_vec()
                },
                message: None
            }
        );
        let mut a = Authentication::new(Mechanism::Plain, false);
        run(&mut a, &sasl, None, AuthInput::HandshakeSent);
        run(&mut a, &sasl, None, ok_handshake());
        run(&mut a, &sasl, None, AuthInput::TokenSent);
        let out = run(
            &mut a,
            &sasl,
            None,
            AuthInput::Authenticate {
                code: KafkaCode::SaslAuthenticationFailed,
                message: Some("Invalid username or password"),
                bytes: b"",
                session_lifetime_ms: 0,
            },
        );
        assert_eq!(
            out,
            AuthOutcome::Failed {
                failure: AuthenticationFailure::Refused,
                message: Some("Invalid username or password".into())
            }
        );
    }

    #[test]
    fn oauthbearer_waits_for_its_token_and_acknowledges_a_refusal() {
        let sasl = sasl(Mechanism::OAuthBearer);
        let token = OAuthBearerToken::new("t.k.", Instant::from_millis(60_000));
        let mut a = Authentication::new(Mechanism::OAuthBearer, false);
        run(&mut a, &sasl, None, AuthInput::HandshakeSent);
        run(&mut a, &sasl, None, ok_handshake());
        assert!(a.awaits_token());
        assert!(!a.has_request());
        run(&mut a, &sasl, Some(&token), AuthInput::Token);
        assert_eq!(a.step, Step::Send(oauthbearer::initial_response(&token)));
        run(&mut a, &sasl, None, AuthInput::TokenSent);
        let doc = br#"{"status":"invalid_token"}"#;
        assert_eq!(
            run(&mut a, &sasl, None, answer(KafkaCode::None, doc, 0)),
            AuthOutcome::Continue
        );
        assert_eq!(a.step, Step::Send(b"\x01".to_vec()));
        run(&mut a, &sasl, None, AuthInput::TokenSent);
        assert_eq!(
            run(
                &mut a,
                &sasl,
                None,
                answer(KafkaCode::SaslAuthenticationFailed, b"", 0)
            ),
            AuthOutcome::Failed {
                failure: AuthenticationFailure::Refused,
                message: Some(String::from_utf8(doc.to_vec()).unwrap())
            }
        );
    }

    #[test]
    fn an_expired_oauthbearer_token_is_not_sent() {
        let sasl = sasl(Mechanism::OAuthBearer);
        // `run` says it is Instant::ZERO: a token expiring then is spent.
        let spent = OAuthBearerToken::new("t.k.", Instant::ZERO);
        let mut a = Authentication::new(Mechanism::OAuthBearer, false);
        run(&mut a, &sasl, Some(&spent), AuthInput::HandshakeSent);
        run(&mut a, &sasl, Some(&spent), ok_handshake());
        assert!(a.awaits_token());
        assert_eq!(a.token_expires_at, None);
        let fresh = OAuthBearerToken::new("t.k.", Instant::from_millis(1));
        run(&mut a, &sasl, Some(&fresh), AuthInput::Token);
        assert_eq!(a.step, Step::Send(oauthbearer::initial_response(&fresh)));
        assert_eq!(a.token_expires_at, Some(Instant::from_millis(1)));
    }

    #[test]
    fn an_answer_out_of_turn_is_an_illegal_state() {
        let sasl = sasl(Mechanism::Plain);
        let mut a = Authentication::new(Mechanism::Plain, false);
        let out = run(&mut a, &sasl, None, answer(KafkaCode::None, b"", 0));
        assert!(matches!(
            out,
            AuthOutcome::Failed {
                failure: AuthenticationFailure::Broker {
                    code: KafkaCode::IllegalSaslState
                },
                ..
            }
        ));
    }
}
