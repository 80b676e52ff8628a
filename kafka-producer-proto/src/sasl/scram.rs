//! SASL/SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), client side,
//! as Kafka speaks them: no channel binding (`n,,`), no authorization id,
//! the password used as UTF-8 without SASLprep (Kafka stores credentials
//! that way, so normalizing would break non-ASCII passwords).
//!
//! The client checks what the RFC asks and what Kafka's own client checks:
//! the server's nonce extends ours, the iteration count is at least 4096
//! (and, so that a hostile peer cannot make the producer burn seconds of
//! CPU, at most Kafka's own maximum of 16384), and the server's signature
//! proves it knew the password, compared in constant time.
//!
//! The salted password (PBKDF2, thousands of HMACs: the only costly step)
//! is kept per salt and iteration count, which a broker does not change
//! for a user, so reconnections and re-authentications skip it.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha512};

use crate::rng::Rng;

/// The fewest iterations accepted, as in Kafka (RFC 7677's minimum).
pub(crate) const MIN_ITERATIONS: u32 = 4096;
/// The most iterations accepted: Kafka's own maximum for its credentials.
pub(crate) const MAX_ITERATIONS: u32 = 16384;

/// The hash of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha256,
    Sha512,
}

/// Why a SCRAM exchange failed on the client's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScramError {
    /// A server message that is not what the RFC allows at this step.
    Malformed(&'static str),
    /// The server's nonce does not start with ours.
    NonceMismatch,
    /// The iteration count is outside what the client accepts.
    Iterations(u32),
    /// The server reported an error (`e=`).
    Server(String),
    /// The server's signature is wrong: it does not know the password.
    Signature,
    /// A message arrived after the exchange ended.
    Finished,
}

impl fmt::Display for ScramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScramError::Malformed(what) => write!(f, "invalid SCRAM server message: {what}"),
            ScramError::NonceMismatch => {
                f.write_str("invalid SCRAM server nonce: it does not extend the client's")
            }
            ScramError::Iterations(n) => write!(
                f,
                "SCRAM iteration count {n} is outside {MIN_ITERATIONS}..={MAX_ITERATIONS}"
            ),
            ScramError::Server(e) => write!(f, "SCRAM server error: {e}"),
            ScramError::Signature => f.write_str(
                "the SCRAM server signature is wrong: the broker did not prove it knows the password",
            ),
            ScramError::Finished => f.write_str("a SCRAM message after the exchange ended"),
        }
    }
}

/// The salted password of the last exchange, for the next one.
#[derive(Debug, Clone, Default)]
pub(crate) struct SaltCache {
    entry: Option<(Hash, Vec<u8>, u32, Vec<u8>)>,
}

impl SaltCache {
    fn salted(&mut self, hash: Hash, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        if let Some((h, s, i, salted)) = &self.entry
            && *h == hash
            && s == salt
            && *i == iterations
        {
            return salted.clone();
        }
        let salted = hi(hash, password, salt, iterations);
        self.entry = Some((hash, salt.to_vec(), iterations, salted.clone()));
        salted
    }
}

#[derive(Debug, Clone)]
enum Step {
    /// client-first sent; server-first awaited.
    First,
    /// client-final sent; server-final awaited, which must carry this.
    Final {
        server_signature: Vec<u8>,
    },
    Done,
}

/// One SCRAM exchange, client side.
#[derive(Debug, Clone)]
pub(crate) struct ScramClient {
    hash: Hash,
    nonce: String,
    client_first_bare: String,
    step: Step,
}

impl ScramClient {
    /// Starts an exchange for `username` with a nonce drawn from `rng`:
    /// the client and its client-first message.
    pub fn start(hash: Hash, username: &str, rng: &mut Rng) -> (ScramClient, Vec<u8>) {
        let nonce = nonce(rng);
        let client_first_bare = format!("n={},r={nonce}", sasl_name(username));
        let first = format!("n,,{client_first_bare}").into_bytes();
        let client = ScramClient {
            hash,
            nonce,
            client_first_bare,
            step: Step::First,
        };
        (client, first)
    }

    /// Takes the server's message and gives the next one to send, if any:
    /// client-final after server-first, nothing after a verified
    /// server-final.
    pub fn next(
        &mut self,
        message: &[u8],
        password: &str,
        cache: &mut SaltCache,
    ) -> Result<Option<Vec<u8>>, ScramError> {
        let text = core::str::from_utf8(message).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        match core::mem::replace(&mut self.step, Step::Done) {
            Step::First => {
                let (final_message, server_signature) =
                    self.client_final(text, password.as_bytes(), cache)?;
                self.step = Step::Final { server_signature };
                Ok(Some(final_message))
            }
            Step::Final { server_signature } => {
                let first = text.split(',').next().unwrap_or("");
                if let Some(error) = first.strip_prefix("e=") {
                    return Err(ScramError::Server(String::from(error)));
                }
                let signature = first
                    .strip_prefix("v=")
                    .and_then(|v| STANDARD.decode(v).ok())
                    .ok_or(ScramError::Malformed("server-final has no verifier"))?;
                if !constant_time_eq(&signature, &server_signature) {
                    return Err(ScramError::Signature);
                }
                Ok(None)
            }
            Step::Done => Err(ScramError::Finished),
        }
    }

    /// Whether the server's signature was verified.
    #[cfg(test)]
    pub fn is_done(&self) -> bool {
        matches!(self.step, Step::Done)
    }

    fn client_final(
        &self,
        server_first: &str,
        password: &[u8],
        cache: &mut SaltCache,
    ) -> Result<(Vec<u8>, Vec<u8>), ScramError> {
        let mut attrs = server_first.split(',');
        let mut attr = |key: &'static str, missing: &'static str| {
            attrs
                .next()
                .and_then(|a| a.strip_prefix(key))
                .ok_or(ScramError::Malformed(missing))
        };
        let nonce = if server_first.starts_with("m=") {
            Err(ScramError::Malformed(
                "the server requires an extension this client lacks",
            ))
        } else {
            attr("r=", "server-first has no nonce")
        }?;
        let salt = attr("s=", "server-first has no salt")?;
        let iterations = attr("i=", "server-first has no iteration count")?;
        if !nonce.starts_with(self.nonce.as_str())
            || nonce.len() == self.nonce.len()
            || !nonce
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
        {
            return Err(ScramError::NonceMismatch);
        }
        let salt = STANDARD
            .decode(salt)
            .ok()
            .filter(|s| !s.is_empty())
            .ok_or(ScramError::Malformed("the salt is not base64"))?;
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| ScramError::Malformed("the iteration count is not a number"))?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(ScramError::Iterations(iterations));
        }
        let salted = cache.salted(self.hash, password, &salt, iterations);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let keys = Keys::from_salted(self.hash, &salted);
        let signature = hmac(self.hash, &keys.stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = keys
            .client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_signature = hmac(self.hash, &keys.server_key, auth_message.as_bytes());
        let message = format!("{without_proof},p={}", STANDARD.encode(proof)).into_bytes();
        Ok((message, server_signature))
    }
}

/// The keys RFC 5802 derives from a salted password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Keys {
    pub client_key: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl Keys {
    pub fn from_salted(hash: Hash, salted: &[u8]) -> Keys {
        let client_key = hmac(hash, salted, b"Client Key");
        Keys {
            stored_key: h(hash, &client_key),
            server_key: hmac(hash, salted, b"Server Key"),
            client_key,
        }
    }
}

/// `Hi()`: PBKDF2 with HMAC-H, as long as the hash's output.
pub(crate) fn hi(hash: Hash, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
    match hash {
        Hash::Sha256 => {
            let mut out = alloc::vec![0u8; 32];
            pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
            out
        }
        Hash::Sha512 => {
            let mut out = alloc::vec![0u8; 64];
            pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
            out
        }
    }
}

/// `HMAC(key, data)`.
pub(crate) fn hmac(hash: Hash, key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length (a long one is hashed first): the
    // InvalidLength error cannot happen, and an empty result would fail
    // every comparison rather than pass one.
    match hash {
        Hash::Sha256 => <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .map(|m| m.chain_update(data).finalize().into_bytes().to_vec())
            .unwrap_or_default(),
        Hash::Sha512 => <Hmac<Sha512> as KeyInit>::new_from_slice(key)
            .map(|m| m.chain_update(data).finalize().into_bytes().to_vec())
            .unwrap_or_default(),
    }
}

/// `H(data)`.
pub(crate) fn h(hash: Hash, data: &[u8]) -> Vec<u8> {
    match hash {
        Hash::Sha256 => Sha256::digest(data).to_vec(),
        Hash::Sha512 => Sha512::digest(data).to_vec(),
    }
}

/// Equal bytes, in time that depends only on their length.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// RFC 5802's saslname: `=` and `,` escaped (`=` first).
pub(crate) fn sasl_name(username: &str) -> String {
    username.replace('=', "=3D").replace(',', "=2C")
}

/// 32 printable characters from the producer's seeded generator: random
/// enough for a nonce (it only has to be fresh), and reproducible, so a
/// run replays exactly.
fn nonce(rng: &mut Rng) -> String {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..32)
        .map(|_| char::from(ALPHABET[rng.below(ALPHABET.len() as u64) as usize]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's example exchange (SCRAM-SHA-256, user "user", password
    /// "pencil"), with its client nonce put in place of ours.
    #[test]
    fn the_rfc_7677_example_exchange() {
        let mut rng = Rng::new(1);
        let (mut client, first) = ScramClient::start(Hash::Sha256, "user", &mut rng);
        assert!(first.starts_with(b"n,,n=user,r="));
        client.nonce = String::from("rOprNGfwEbeRWgbNEkqO");
        client.client_first_bare = String::from("n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let mut cache = SaltCache::default();
        let client_final = client.next(server_first, "pencil", &mut cache).unwrap();
        assert_eq!(
            core::str::from_utf8(&client_final.unwrap()).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        let server_final = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
        assert_eq!(client.next(server_final, "pencil", &mut cache), Ok(None));
        assert!(client.is_done());
        assert_eq!(
            client.next(server_final, "pencil", &mut cache),
            Err(ScramError::Finished)
        );
    }

    fn exchange_to_server_first(server_first: &str) -> Result<Option<Vec<u8>>, ScramError> {
        let mut rng = Rng::new(2);
        let (mut client, _) = ScramClient::start(Hash::Sha512, "u", &mut rng);
        let text = server_first.replace("NONCE", &client.nonce.clone());
        client.next(text.as_bytes(), "p", &mut SaltCache::default())
    }

    #[test]
    fn a_server_first_the_client_must_refuse() {
        let salt = "s=QSXCR+Q6sek8bf92";
        for (message, error) in [
            (
                format!("r=someone-else,{salt},i=4096"),
                ScramError::NonceMismatch,
            ),
            (format!("r=NONCE,{salt},i=4096"), ScramError::NonceMismatch),
            (
                format!("r=NONCEx,{salt},i=4095"),
                ScramError::Iterations(4095),
            ),
            (
                format!("r=NONCEx,{salt},i=2147483647"),
                ScramError::Iterations(2_147_483_647),
            ),
            (
                String::from("r=NONCEx,s=***,i=4096"),
                ScramError::Malformed("the salt is not base64"),
            ),
            (
                format!("r=NONCEx,{salt}"),
                ScramError::Malformed("server-first has no iteration count"),
            ),
            (
                format!("m=ext,r=NONCEx,{salt},i=4096"),
                ScramError::Malformed("the server requires an extension this client lacks"),
            ),
        ] {
            assert_eq!(exchange_to_server_first(&message), Err(error), "{message}");
        }
        assert!(exchange_to_server_first(&format!("r=NONCEx,{salt},i=4096")).is_ok());
    }

    #[test]
    fn a_wrong_server_signature_or_an_error_fails_the_exchange() {
        let mut rng = Rng::new(3);
        let mut cache = SaltCache::default();
        for (server_final, error) in [
            ("v=AAAA", ScramError::Signature),
            (
                "e=invalid-proof",
                ScramError::Server(String::from("invalid-proof")),
            ),
            ("x=1", ScramError::Malformed("server-final has no verifier")),
        ] {
            let (mut client, _) = ScramClient::start(Hash::Sha256, "u", &mut rng);
            let first = format!("r={}abc,s=c2FsdA==,i=4096", client.nonce);
            client.next(first.as_bytes(), "p", &mut cache).unwrap();
            assert_eq!(
                client.next(server_final.as_bytes(), "p", &mut cache),
                Err(error)
            );
        }
    }

    #[test]
    fn the_nonce_is_printable_and_follows_the_seed() {
        let a = nonce(&mut Rng::new(9));
        assert_eq!(a, nonce(&mut Rng::new(9)));
        assert_ne!(a, nonce(&mut Rng::new(10)));
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(sasl_name("a=b,c"), "a=3Db=2Cc");
    }

    #[test]
    fn the_salted_password_is_derived_once_per_salt() {
        let mut cache = SaltCache::default();
        let a = cache.salted(Hash::Sha256, b"p", b"salt", 4096);
        assert_eq!(a, hi(Hash::Sha256, b"p", b"salt", 4096));
        assert_eq!(cache.salted(Hash::Sha256, b"p", b"salt", 4096), a);
        assert_ne!(cache.salted(Hash::Sha256, b"p", b"pepper", 4096), a);
        assert_eq!(hi(Hash::Sha512, b"p", b"salt", 4096).len(), 64);
    }
}
