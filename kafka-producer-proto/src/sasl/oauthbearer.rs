//! SASL/OAUTHBEARER (RFC 7628): the client sends one message carrying a
//! bearer token, `n,,` `\x01auth=Bearer <token>` then its extensions, each
//! `\x01key=value`, and a closing `\x01\x01`.
//!
//! The token comes from the application ([`OAuthBearerToken`], given to
//! `Producer::set_oauthbearer_token` when the producer asks for one with
//! `Event::OAuthBearerTokenRequired`), or, with feature `unsecured-jwt`,
//! from [`unsecured_jwt`]: an unsigned JWT such as Kafka's default
//! validator accepts, for tests and development clusters.
//!
//! A broker that refuses the token first answers with error 0 and a JSON
//! document (`{"status":"invalid_token"}`); RFC 7628 then wants the client
//! to send a single `\x01`, after which the broker fails the exchange with
//! SASL_AUTHENTICATION_FAILED and that document as its message.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::time::Instant;

/// A bearer token for SASL/OAUTHBEARER.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthBearerToken {
    /// The token, in its compact form (for a JWT, `header.claims.signature`).
    pub value: String,
    /// When it expires, on the producer's time scale (the provided drivers
    /// measure `Instant` from the Unix epoch, so this is the JWT's `exp`).
    /// The producer asks for a new token before then.
    pub expires_at: Instant,
    /// SASL extensions sent with the token, `(key, value)`.
    pub extensions: Vec<(String, String)>,
}

impl OAuthBearerToken {
    /// A token without extensions.
    pub fn new(value: impl Into<String>, expires_at: Instant) -> OAuthBearerToken {
        OAuthBearerToken {
            value: value.into(),
            expires_at,
            extensions: Vec::new(),
        }
    }

    /// Adds a SASL extension.
    pub fn extension(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extensions.push((key.into(), value.into()));
        self
    }

    /// Checks what RFC 7628 and Kafka's broker allow: a token of
    /// `[-_~+/.A-Za-z0-9]+` and trailing `=`, extension keys of ASCII
    /// letters other than `auth`, values of printable ASCII, space, tab,
    /// CR or LF.
    pub fn validate(&self) -> Result<(), InvalidToken> {
        let body = self.value.trim_end_matches('=');
        if body.is_empty()
            || !body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_~+/.".contains(&b))
        {
            return Err(InvalidToken::Value);
        }
        for (key, value) in &self.extensions {
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphabetic()) || key == "auth" {
                return Err(InvalidToken::ExtensionKey(key.clone()));
            }
            if value.is_empty()
                || !value
                    .bytes()
                    .all(|b| (0x21..=0x7e).contains(&b) || b" \t\r\n".contains(&b))
            {
                return Err(InvalidToken::ExtensionValue(key.clone()));
            }
        }
        Ok(())
    }
}

/// The token is secret: its value is never printed.
impl fmt::Debug for OAuthBearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthBearerToken")
            .field("value", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("extensions", &self.extensions)
            .finish()
    }
}

/// Why an [`OAuthBearerToken`] cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidToken {
    /// The token holds a character a bearer token cannot have.
    #[error("the token is empty or holds a character outside [-_~+/.A-Za-z0-9] and trailing '='")]
    Value,
    /// An extension key that is not ASCII letters, or is `auth`.
    #[error("SASL extension key {0:?} must be ASCII letters and not \"auth\"")]
    ExtensionKey(String),
    /// An extension value with characters RFC 7628 does not allow.
    #[error("SASL extension {0:?} has an empty value or one with characters RFC 7628 forbids")]
    ExtensionValue(String),
    /// The token expired (as its `expires_at` says) before it was given.
    #[error("the token expired before it was given")]
    Expired,
}

/// The client's message for `token`.
pub(crate) fn initial_response(token: &OAuthBearerToken) -> Vec<u8> {
    let mut out = Vec::with_capacity(token.value.len() + 32);
    out.extend_from_slice(b"n,,\x01auth=Bearer ");
    out.extend_from_slice(token.value.as_bytes());
    out.push(1);
    for (key, value) in &token.extensions {
        out.extend_from_slice(key.as_bytes());
        out.push(b'=');
        out.extend_from_slice(value.as_bytes());
        out.push(1);
    }
    out.push(1);
    out
}

/// What the client sends after the broker's error document: one `\x01`.
pub(crate) const ERROR_ACK: &[u8] = b"\x01";

/// The broker's reading of a client message: the bearer token, or `None`
/// when the message is not RFC 7628's (the simulated broker's side).
#[cfg(feature = "sim")]
pub(crate) fn parse_initial_response(message: &[u8]) -> Option<&str> {
    let text = core::str::from_utf8(message).ok()?;
    let rest = text.strip_prefix("n,")?;
    let (_authzid, rest) = rest.split_once(",\x01")?;
    let rest = rest.strip_suffix("\x01\x01")?;
    rest.split('\x01').find_map(|kv| {
        let value = kv.strip_prefix("auth=")?;
        let (scheme, token) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("Bearer").then_some(token)
    })
}

/// An unsecured JWT (`alg` `none`, no signature) for `principal`, issued at
/// `issued_at_ms` (Unix milliseconds) and valid for `lifetime_ms`, with a
/// `scope` claim when `scope` is not empty: what Kafka's default OAUTHBEARER
/// validator accepts on a broker without an OAuth server.
///
/// Kafka's validator reads the JWT's parts with the *standard* Base64
/// alphabet, so a part whose URL-safe encoding holds `-` or `_` would be
/// refused. In the base64 of ASCII text those come only from `>`, `?`, `~`
/// and DEL, and from bytes above 0x7F: every such character is written as a
/// JSON `\u` escape, so both alphabets give the same text.
#[cfg(feature = "unsecured-jwt")]
pub fn unsecured_jwt(
    principal: &str,
    scope: &[String],
    issued_at_ms: u64,
    lifetime_ms: u64,
) -> String {
    use alloc::format;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let iat = issued_at_ms / 1000;
    let exp = issued_at_ms.saturating_add(lifetime_ms) / 1000;
    let mut claims = format!(
        "{{\"sub\":{},\"iat\":{iat},\"exp\":{exp}",
        json_string(principal)
    );
    if !scope.is_empty() {
        let items: Vec<String> = scope.iter().map(|s| json_string(s)).collect();
        claims.push_str(&format!(",\"scope\":[{}]", items.join(",")));
    }
    claims.push('}');
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(claims.as_bytes())
    )
}

/// A JSON string literal of `s` with every character outside printable
/// ASCII, and `>`, `?` and `~`, escaped (see [`unsecured_jwt`]).
#[cfg(feature = "unsecured-jwt")]
fn json_string(s: &str) -> String {
    use core::fmt::Write;
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='=' | '@'..='}' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    // Writing to a String cannot fail.
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_initial_response_is_rfc_7628s() {
        let token = OAuthBearerToken::new("abc.def.", Instant::ZERO).extension("traceId", "x y");
        assert_eq!(
            initial_response(&token),
            b"n,,\x01auth=Bearer abc.def.\x01traceId=x y\x01\x01"
        );
        assert_eq!(
            parse_initial_response(&initial_response(&token)),
            Some("abc.def.")
        );
        assert_eq!(parse_initial_response(b"n,,\x01auth=Basic x\x01\x01"), None);
    }

    #[test]
    fn invalid_tokens_and_extensions_are_refused_and_never_printed() {
        let ok = OAuthBearerToken::new("a-b_c~d+e/f.g==", Instant::ZERO);
        assert_eq!(ok.validate(), Ok(()));
        assert!(!alloc::format!("{ok:?}").contains("a-b_c"));
        let bad = |t: OAuthBearerToken| t.validate().unwrap_err();
        assert_eq!(
            bad(OAuthBearerToken::new("a b", Instant::ZERO)),
            InvalidToken::Value
        );
        assert_eq!(
            bad(OAuthBearerToken::new("", Instant::ZERO)),
            InvalidToken::Value
        );
        assert_eq!(
            bad(ok.clone().extension("auth", "x")),
            InvalidToken::ExtensionKey("auth".into())
        );
        assert_eq!(
            bad(ok.clone().extension("k1", "x")),
            InvalidToken::ExtensionKey("k1".into())
        );
        assert_eq!(
            bad(ok.extension("k", "\u{1}")),
            InvalidToken::ExtensionValue("k".into())
        );
    }

    #[cfg(feature = "unsecured-jwt")]
    #[test]
    fn an_unsecured_jwt_reads_the_same_in_both_base64_alphabets() {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
        let jwt = unsecured_jwt("alice", &[], 1_700_000_000_123, 3_600_000);
        assert_eq!(
            jwt,
            "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAzNjAwfQ."
        );
        // Characters whose plain encoding would hold '-' or '_'.
        let awkward = "al?ice>~é\u{1F600}\"\\";
        let jwt = unsecured_jwt(awkward, &["a~b".into(), "c".into()], 0, 1000);
        let claims = jwt.split('.').nth(1).unwrap();
        assert!(!claims.contains(['-', '_']), "{claims}");
        let json = STANDARD_NO_PAD.decode(claims).unwrap();
        assert_eq!(json, URL_SAFE_NO_PAD.decode(claims).unwrap());
        let json = String::from_utf8(json).unwrap();
        assert!(
            json.starts_with(r#"{"sub":"al\u003fice\u003e\u007e\u00e9\ud83d\ude00\"\\","#),
            "{json}"
        );
        assert!(
            json.ends_with(r#""exp":1,"scope":["a\u007eb","c"]}"#),
            "{json}"
        );
    }
}
