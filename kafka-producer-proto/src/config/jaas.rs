//! `sasl.jaas.config`: Java's JAAS line for one login module, as Kafka's
//! Java client takes it, for example
//!
//! ```text
//! org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="alice-secret";
//! ```
//!
//! The module class, its control flag (`required`, `requisite`,
//! `sufficient` or `optional`), then `key=value` options up to a `;`.
//! Values are bare words or double-quoted strings with backslash escapes,
//! as Java's `StreamTokenizer` reads them. Exactly one module, as Kafka
//! requires.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Kafka's login module classes, and what each one logs in with.
pub(super) const PLAIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";
pub(super) const SCRAM_MODULE: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";
pub(super) const OAUTHBEARER_MODULE: &str =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule";

/// One login module: its class and its options, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Jaas {
    pub module: String,
    pub options: Vec<(String, String)>,
}

impl Jaas {
    /// The option named `key`, if given.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a `sasl.jaas.config` value; the error says what is wrong, phrased
/// to follow `sasl.jaas.config=...`.
pub(super) fn parse(text: &str) -> Result<Jaas, String> {
    let mut tokens = Tokens {
        rest: text.trim_start(),
    };
    let module = match tokens.next()? {
        Some(Token::Word(w)) => w,
        _ => return Err("does not start with a login module class".to_owned()),
    };
    match tokens.next()? {
        Some(Token::Word(flag))
            if matches!(
                flag.as_str(),
                "required" | "requisite" | "sufficient" | "optional"
            ) => {}
        _ => {
            return Err(format!(
                "has no control flag after {module} (required, requisite, sufficient or optional)"
            ));
        }
    }
    let mut options = Vec::new();
    loop {
        match tokens.next()? {
            Some(Token::Semicolon) => break,
            Some(Token::Word(key)) => {
                if tokens.next()? != Some(Token::Equals) {
                    return Err(format!("has option {key} without `=value`"));
                }
                let value = match tokens.next()? {
                    Some(Token::Word(v) | Token::Quoted(v)) => v,
                    _ => return Err(format!("has option {key}= without a value")),
                };
                options.push((key, value));
            }
            Some(_) => return Err("has an option that is not key=value".to_owned()),
            None => return Err("does not end with `;`".to_owned()),
        }
    }
    if tokens.next()?.is_some() {
        return Err("names more than one login module (Kafka takes exactly one)".to_owned());
    }
    Ok(Jaas { module, options })
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    Semicolon,
}

struct Tokens<'a> {
    rest: &'a str,
}

impl Tokens<'_> {
    fn next(&mut self) -> Result<Option<Token>, String> {
        self.rest = self.rest.trim_start();
        let mut chars = self.rest.char_indices();
        let Some((_, first)) = chars.next() else {
            return Ok(None);
        };
        let token = match first {
            '=' => {
                self.rest = &self.rest[1..];
                Token::Equals
            }
            ';' => {
                self.rest = &self.rest[1..];
                Token::Semicolon
            }
            '"' => {
                let mut value = String::new();
                let mut escaped = false;
                let mut end = None;
                for (i, c) in chars {
                    if escaped {
                        value.push(match c {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            other => other,
                        });
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        end = Some(i);
                        break;
                    } else {
                        value.push(c);
                    }
                }
                let end =
                    end.ok_or_else(|| "has a quoted value without its closing `\"`".to_owned())?;
                self.rest = &self.rest[end + 1..];
                Token::Quoted(value)
            }
            _ => {
                let end = self
                    .rest
                    .find(|c: char| c.is_whitespace() || c == '=' || c == ';' || c == '"')
                    .unwrap_or(self.rest.len());
                let word = self.rest[..end].to_owned();
                self.rest = &self.rest[end..];
                Token::Word(word)
            }
        };
        Ok(Some(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafkas_jaas_lines_are_read() {
        let jaas = parse(
            r#"org.apache.kafka.common.security.scram.ScramLoginModule required
               username="alice" password="al\"ice;secret" ;"#,
        )
        .unwrap();
        assert_eq!(jaas.module, SCRAM_MODULE);
        assert_eq!(jaas.option("username"), Some("alice"));
        assert_eq!(jaas.option("password"), Some("al\"ice;secret"));
        let jaas = parse(&format!(
            "{OAUTHBEARER_MODULE} optional unsecuredLoginStringClaim_sub=bob unsecuredLoginLifetimeSeconds=60;"
        ))
        .unwrap();
        assert_eq!(jaas.option("unsecuredLoginStringClaim_sub"), Some("bob"));
        assert_eq!(jaas.option("unsecuredLoginLifetimeSeconds"), Some("60"));
        assert_eq!(jaas.option("password"), None);
    }

    #[test]
    fn malformed_lines_are_refused_with_the_reason() {
        for (text, why) in [
            ("", "does not start with a login module class"),
            (PLAIN_MODULE, "has no control flag"),
            (
                &format!("{PLAIN_MODULE} required username=\"a\""),
                "does not end with `;`",
            ),
            (
                &format!("{PLAIN_MODULE} required username;"),
                "without `=value`",
            ),
            (
                &format!("{PLAIN_MODULE} required username=;"),
                "without a value",
            ),
            (&format!("{PLAIN_MODULE} required password=\"x;"), "closing"),
            (
                &format!("{PLAIN_MODULE} required; {SCRAM_MODULE} required;"),
                "more than one login module",
            ),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }
}
