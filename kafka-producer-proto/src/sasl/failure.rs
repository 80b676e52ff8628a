//! [`AuthenticationError`]: a broker would not authenticate the producer.
//! Not retriable: the records that could only go through that broker fail
//! with it, each handed back, and the broker is tried again only after
//! `reconnect.backoff.max.ms`.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::Mechanism;
use crate::kafka_code::KafkaCode;

/// A broker refused to authenticate the producer, or the SASL exchange
/// could not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticationError {
    /// The broker, by node id (negative for a bootstrap server).
    pub node: i32,
    /// The host the producer connected to.
    pub host: String,
    /// The port.
    pub port: u16,
    /// The mechanism tried.
    pub mechanism: Mechanism,
    /// Whether it was a re-authentication (KIP-368) of a connection that
    /// had authenticated before.
    pub reauthentication: bool,
    /// What went wrong.
    pub failure: AuthenticationFailure,
    /// The broker's message, or what the producer found wrong with the
    /// broker's answer.
    pub message: Option<String>,
}

/// How a SASL exchange failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthenticationFailure {
    /// The broker refused the credentials or the token
    /// (SASL_AUTHENTICATION_FAILED).
    Refused,
    /// The broker does not enable the mechanism (UNSUPPORTED_SASL_MECHANISM).
    UnsupportedMechanism {
        /// The mechanisms it enables.
        enabled: Vec<String>,
    },
    /// The broker answered the handshake with another error (for example
    /// ILLEGAL_SASL_STATE).
    Broker {
        /// The code.
        code: KafkaCode,
    },
    /// The broker offers no SaslHandshake v1 or no SaslAuthenticate: it is
    /// older than Kafka 1.0, or its listener is not a SASL one.
    NotOffered,
    /// The broker's side of the exchange broke the mechanism's rules: for
    /// SCRAM a nonce that is not ours extended, too few iterations, or a
    /// server signature that proves it does not know the password.
    Mechanism,
}

impl AuthenticationError {
    /// The Kafka error code behind it, if the broker sent one.
    pub fn code(&self) -> Option<KafkaCode> {
        match &self.failure {
            AuthenticationFailure::Refused => Some(KafkaCode::SaslAuthenticationFailed),
            AuthenticationFailure::UnsupportedMechanism { .. } => {
                Some(KafkaCode::UnsupportedSaslMechanism)
            }
            AuthenticationFailure::Broker { code } => Some(*code),
            AuthenticationFailure::NotOffered | AuthenticationFailure::Mechanism => None,
        }
    }
}

impl fmt::Display for AuthenticationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.reauthentication {
            "re-authentication"
        } else {
            "authentication"
        };
        write!(
            f,
            "SASL/{} {what} with broker {} ({}:{}) failed: ",
            self.mechanism, self.node, self.host, self.port
        )?;
        match &self.failure {
            AuthenticationFailure::Refused => f.write_str("the broker refused it")?,
            AuthenticationFailure::UnsupportedMechanism { enabled } => write!(
                f,
                "the broker does not enable {}; it enables [{}]",
                self.mechanism,
                enabled.join(", ")
            )?,
            AuthenticationFailure::Broker { code } => write!(f, "{code}")?,
            AuthenticationFailure::NotOffered => f.write_str(
                "the broker offers no SaslHandshake v1/SaslAuthenticate (not a SASL listener, or older than Kafka 1.0)",
            )?,
            AuthenticationFailure::Mechanism => f.write_str("the broker's answer is invalid")?,
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

impl core::error::Error for AuthenticationError {}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn the_message_names_mechanism_broker_and_the_brokers_words() {
        let e = AuthenticationError {
            node: 2,
            host: "k2".into(),
            port: 9094,
            mechanism: Mechanism::ScramSha512,
            reauthentication: false,
            failure: AuthenticationFailure::Refused,
            message: Some("Authentication failed: Invalid user credentials".into()),
        };
        assert_eq!(
            e.to_string(),
            "SASL/SCRAM-SHA-512 authentication with broker 2 (k2:9094) failed: the broker refused it: Authentication failed: Invalid user credentials"
        );
        assert_eq!(e.code(), Some(KafkaCode::SaslAuthenticationFailed));
        let e = AuthenticationError {
            failure: AuthenticationFailure::UnsupportedMechanism {
                enabled: alloc::vec!["PLAIN".into(), "SCRAM-SHA-256".into()],
            },
            reauthentication: true,
            message: None,
            ..e
        };
        assert_eq!(
            e.to_string(),
            "SASL/SCRAM-SHA-512 re-authentication with broker 2 (k2:9094) failed: the broker does not enable SCRAM-SHA-512; it enables [PLAIN, SCRAM-SHA-256]"
        );
    }
}
