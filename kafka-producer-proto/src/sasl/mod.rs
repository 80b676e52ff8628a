//! SASL, the authentication a broker asks of every new connection on a
//! SASL_PLAINTEXT or SASL_SSL listener: the client side of each mechanism,
//! as pure functions and small state machines that know nothing of
//! connections or of the producer. Which mechanism runs when, on which
//! connection, and what a failure means for the records, is the business of
//! `cluster::authentication` and the producer.
//!
//! - PLAIN (RFC 4616): one token, `\0user\0password`.
//! - SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677; feature `scram`):
//!   client-first, server-first, client-final, server-final, with the
//!   server's signature checked.
//! - OAUTHBEARER (RFC 7628): one token carrying a bearer token the
//!   application supplies ([`OAuthBearerToken`]), or, with feature
//!   `unsecured-jwt`, an unsecured JWT the producer makes itself.

use core::fmt;

mod failure;
pub mod oauthbearer;
pub(crate) mod plain;
#[cfg(feature = "scram")]
pub(crate) mod scram;

pub use failure::{AuthenticationError, AuthenticationFailure};
pub use oauthbearer::{InvalidToken, OAuthBearerToken};

/// A SASL mechanism this producer speaks, by the name Kafka's
/// `sasl.mechanism` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Mechanism {
    /// `PLAIN`: username and password in clear (use it over TLS).
    Plain,
    /// `SCRAM-SHA-256`.
    ScramSha256,
    /// `SCRAM-SHA-512`.
    ScramSha512,
    /// `OAUTHBEARER`.
    OAuthBearer,
}

impl Mechanism {
    /// Every mechanism, in the order Kafka lists them.
    pub const ALL: [Mechanism; 4] = [
        Mechanism::Plain,
        Mechanism::ScramSha256,
        Mechanism::ScramSha512,
        Mechanism::OAuthBearer,
    ];

    /// The name on the wire and in `sasl.mechanism`.
    pub const fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// The mechanism of a name, spelled exactly as Kafka spells it
    /// (mechanism names are case-sensitive in SASL).
    pub fn from_name(name: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether it authenticates with a username and a password.
    pub const fn uses_password(self) -> bool {
        !matches!(self, Mechanism::OAuthBearer)
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for m in Mechanism::ALL {
            assert_eq!(Mechanism::from_name(m.name()), Some(m));
        }
        assert_eq!(Mechanism::from_name("plain"), None);
        assert_eq!(Mechanism::from_name("GSSAPI"), None);
    }
}
