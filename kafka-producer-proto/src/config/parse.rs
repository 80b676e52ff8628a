//! Property values from text: one function per kind of value, each refusing
//! with an [`InvalidValue`](ConfigError::InvalidValue) that says why.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::num::{IntErrorKind, ParseIntError};
use core::str::FromStr;
use core::time::Duration;

use super::{Acks, ConfigError, key};
use crate::wire::record_batch::Compression;

/// The error for `key=value`, with `reason` phrased to follow it.
pub(super) fn invalid(
    key: &'static str,
    value: impl fmt::Display,
    reason: impl Into<String>,
) -> ConfigError {
    ConfigError::InvalidValue {
        key,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// A non-negative whole number, as Java's `Integer.parseInt` and
/// `Long.parseLong` read them (a leading `+` is allowed).
pub(super) fn number<T: FromStr<Err = ParseIntError>>(
    key: &'static str,
    value: &str,
) -> Result<T, ConfigError> {
    let value = value.trim();
    value.parse().map_err(|e: ParseIntError| {
        let negative = value
            .strip_prefix('-')
            .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
        let reason = match e.kind() {
            IntErrorKind::Empty => "is empty, not a number",
            IntErrorKind::PosOverflow => "is too large",
            _ if negative => "must not be negative",
            _ => "is not a whole number",
        };
        invalid(key, value, reason)
    })
}

/// A whole number that may be negative, as Java's `Integer.parseInt`
/// reads it.
pub(super) fn integer(key: &'static str, value: &str) -> Result<i32, ConfigError> {
    let value = value.trim();
    value.parse().map_err(|e: ParseIntError| {
        let reason = match e.kind() {
            IntErrorKind::Empty => "is empty, not a number",
            IntErrorKind::PosOverflow => "is too large",
            IntErrorKind::NegOverflow => "is too small",
            _ => "is not a whole number",
        };
        invalid(key, value, reason)
    })
}

/// A duration property, in whole milliseconds as every Kafka `*.ms` is.
pub(super) fn millis(key: &'static str, value: &str) -> Result<Duration, ConfigError> {
    number(key, value).map(Duration::from_millis)
}

/// `true` or `false`, in any case, as Java's boolean properties.
pub(super) fn boolean(key: &'static str, value: &str) -> Result<bool, ConfigError> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(invalid(key, value, "is not true or false"))
    }
}

/// `acks`: the exact spellings Java accepts.
pub(super) fn acks(value: &str) -> Result<Acks, ConfigError> {
    match value.trim() {
        "all" | "-1" => Ok(Acks::All),
        "1" => Ok(Acks::Leader),
        "0" => Ok(Acks::None),
        other => Err(invalid(key::ACKS, other, "is not one of all, -1, 1, 0")),
    }
}

/// `compression.type`: every codec Kafka names, spelled exactly (Java's
/// validator is case-sensitive), whether or not this build has it, so
/// that the refusal can say which is which.
pub(super) fn compression(value: &str) -> Result<Compression, ConfigError> {
    match value.trim() {
        "none" => Ok(Compression::None),
        "gzip" => Ok(Compression::Gzip),
        "snappy" => Ok(Compression::Snappy),
        "lz4" => Ok(Compression::Lz4),
        "zstd" => Ok(Compression::Zstd),
        other => Err(invalid(
            key::COMPRESSION_TYPE,
            other,
            "is not one of none, gzip, snappy, lz4, zstd",
        )),
    }
}

/// `bootstrap.servers`: comma-separated `host:port`, `[ipv6]:port` for
/// IPv6, whitespace around entries ignored.
pub(super) fn bootstrap_servers(list: &str) -> Result<Vec<(String, u16)>, ConfigError> {
    let list = list.trim();
    if list.is_empty() {
        return Err(invalid(
            key::BOOTSTRAP_SERVERS,
            list,
            "must list at least one host:port",
        ));
    }
    let mut servers: Vec<(String, u16)> = Vec::new();
    for entry in list.split(',').map(str::trim) {
        let why = |detail: String| {
            invalid(
                key::BOOTSTRAP_SERVERS,
                list,
                format!("is invalid: {detail}"),
            )
        };
        let (host, port) = host_port(entry).map_err(why)?;
        if servers.iter().any(|(h, p)| h == host && *p == port) {
            return Err(why(format!("`{entry}` is listed twice")));
        }
        servers.push((host.to_owned(), port));
    }
    Ok(servers)
}

/// One `host:port` or `[ipv6]:port`; the error says what is wrong with it.
fn host_port(entry: &str) -> Result<(&str, u16), String> {
    if entry.is_empty() {
        return Err("an entry is empty".to_owned());
    }
    let no_port = || format!("`{entry}` has no port (expected host:port)");
    let (host, port) = match entry.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("`{entry}` lacks the `]` closing its address"))?;
            let port = after.strip_prefix(':').ok_or_else(no_port)?;
            // Brackets exist for IPv6 (with an optional `%zone`); anything
            // else in them is a mistake rather than a host name.
            let ipv6 = host.contains(':')
                && host.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'%' | b'-' | b'_')
                });
            if !ipv6 {
                return Err(format!(
                    "`{entry}` has `{host}` in brackets, which is not an IPv6 address"
                ));
            }
            (host, port)
        }
        None => {
            let (host, port) = entry.rsplit_once(':').ok_or_else(no_port)?;
            if host.contains(':') {
                return Err(format!(
                    "`{entry}` looks like an IPv6 address without brackets (write [address]:port)"
                ));
            }
            let name = !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
            if !name {
                return Err(format!("`{entry}` has no valid host name"));
            }
            (host, port)
        }
    };
    if port.is_empty() {
        return Err(no_port());
    }
    // Digits only: `u16::from_str` would also take a sign.
    let number = if port.bytes().all(|b| b.is_ascii_digit()) {
        port.parse::<u16>().ok().filter(|&p| p != 0)
    } else {
        None
    };
    let number = number
        .ok_or_else(|| format!("`{entry}` has port `{port}`, not a number from 1 to 65535"))?;
    Ok((host, number))
}

/// One line of properties text: `None` for blank and comment lines, the
/// trimmed key and value otherwise.
pub(super) fn property_line(line: &str) -> Result<Option<(&str, &str)>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
        return Ok(None);
    }
    match line.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok(Some((key.trim(), value.trim()))),
        Some(_) => Err(format!("`{line}` has no key before `=`")),
        None => Err(format!("`{line}` is not key=value")),
    }
}
