//! SASL/PLAIN (RFC 4616): the client's one message is
//! `authzid NUL authcid NUL password`. Like Kafka's client, the producer
//! leaves the authorization id empty, so the broker authorizes the user it
//! authenticated.

use alloc::vec::Vec;

/// The client's message for `username` and `password`.
pub(crate) fn initial_response(username: &str, password: &str) -> Vec<u8> {
    let mut token = Vec::with_capacity(2 + username.len() + password.len());
    token.push(0);
    token.extend_from_slice(username.as_bytes());
    token.push(0);
    token.extend_from_slice(password.as_bytes());
    token
}

/// The broker's reading of a client message: authorization id, username
/// and password, or `None` when it is not three NUL-separated UTF-8 parts
/// (the simulated broker's side).
#[cfg(feature = "sim")]
pub(crate) fn parse(token: &[u8]) -> Option<(&str, &str, &str)> {
    let text = core::str::from_utf8(token).ok()?;
    let mut parts = text.split('\0');
    let (authzid, user, password) = (parts.next()?, parts.next()?, parts.next()?);
    parts.next().is_none().then_some((authzid, user, password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_has_an_empty_authzid_then_user_and_password() {
        assert_eq!(initial_response("alice", "s3cret"), b"\0alice\0s3cret");
        assert_eq!(
            parse(&initial_response("alice", "s3cret")),
            Some(("", "alice", "s3cret"))
        );
        assert_eq!(parse(b"\0alice"), None);
        assert_eq!(parse(b"a\0b\0c\0d"), None);
    }
}
