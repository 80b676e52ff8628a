//! Security properties: `security.protocol`, the `sasl.*` properties that
//! say how the producer authenticates (SASL runs in the core, on every
//! connection), and the `ssl.*` properties that say how drivers set up TLS
//! (the core only carries them: it sees bytes after TLS).
//!
//! Kafka's Java names and librdkafka's are both read, so a configuration
//! ports from either: `sasl.jaas.config` (Java) or `sasl.username` and
//! `sasl.password` (librdkafka); `sasl.mechanism` (Java) or
//! `sasl.mechanisms` (librdkafka); `enable.sasl.oauthbearer.unsecure.jwt`
//! and `sasl.oauthbearer.config` (librdkafka) or the unsecured options of
//! Java's `OAuthBearerLoginModule`.
//!
//! Settings that would be ignored are refused instead: a `sasl.*` property
//! under a protocol without SASL, an `ssl.*` one under a protocol without
//! TLS, both `sasl.username` and `sasl.jaas.config`. Passwords and JAAS
//! lines are never printed, in errors or in `Debug`.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use super::jaas::{self, Jaas};
use super::parse::{self, invalid};
use super::{Config, ConfigBuilder, ConfigError};
use crate::sasl::Mechanism;

const SECURITY_PROTOCOL: &str = "security.protocol";
const SASL_MECHANISM: &str = "sasl.mechanism";
const SASL_MECHANISMS: &str = "sasl.mechanisms";
const SASL_USERNAME: &str = "sasl.username";
const SASL_PASSWORD: &str = "sasl.password";
const SASL_JAAS_CONFIG: &str = "sasl.jaas.config";
const SASL_OAUTHBEARER_CONFIG: &str = "sasl.oauthbearer.config";
const UNSECURE_JWT: &str = "enable.sasl.oauthbearer.unsecure.jwt";
const SSL_CA_LOCATION: &str = "ssl.ca.location";
const SSL_CERTIFICATE_LOCATION: &str = "ssl.certificate.location";
const SSL_KEY_LOCATION: &str = "ssl.key.location";
const SSL_ENDPOINT_IDENTIFICATION: &str = "ssl.endpoint.identification.algorithm";

/// The security properties this producer implements, by name.
pub const PROPERTIES: [&str; 12] = [
    SECURITY_PROTOCOL,
    SASL_MECHANISM,
    SASL_MECHANISMS,
    SASL_USERNAME,
    SASL_PASSWORD,
    SASL_JAAS_CONFIG,
    SASL_OAUTHBEARER_CONFIG,
    UNSECURE_JWT,
    SSL_CA_LOCATION,
    SSL_CERTIFICATE_LOCATION,
    SSL_KEY_LOCATION,
    SSL_ENDPOINT_IDENTIFICATION,
];

/// How long an unsecured JWT lasts unless told otherwise: Java's
/// `unsecuredLoginLifetimeSeconds` and librdkafka's `lifeSeconds` default.
const DEFAULT_JWT_LIFETIME: Duration = Duration::from_secs(3600);

/// `security.protocol`: whether connections use TLS, SASL, both or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SecurityProtocol {
    /// `PLAINTEXT` (the default): neither.
    #[default]
    Plaintext,
    /// `SSL`: TLS, and a client certificate if one is configured.
    Ssl,
    /// `SASL_PLAINTEXT`: SASL without TLS.
    SaslPlaintext,
    /// `SASL_SSL`: SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// The property value: `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`.
    pub const fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Whether the driver wraps connections in TLS.
    pub const fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether the producer authenticates each connection with SASL.
    pub const fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the producer authenticates, under `SASL_PLAINTEXT` and `SASL_SSL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sasl {
    mechanism: Mechanism,
    credentials: SaslCredentials,
}

impl Sasl {
    /// `sasl.mechanism`.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// What it authenticates with.
    pub fn credentials(&self) -> &SaslCredentials {
        &self.credentials
    }
}

/// What a SASL mechanism authenticates with.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SaslCredentials {
    /// PLAIN and SCRAM: `sasl.username` and `sasl.password`, or the
    /// `username` and `password` options of `sasl.jaas.config`.
    Password {
        /// The user.
        username: String,
        /// The password (never printed).
        password: String,
    },
    /// OAUTHBEARER with tokens from the application: the producer asks for
    /// one with `Event::OAuthBearerTokenRequired` and takes it in
    /// `Producer::set_oauthbearer_token`.
    OAuthBearer,
    /// OAUTHBEARER with an unsecured JWT the producer makes itself.
    UnsecuredJwt(UnsecuredJwt),
}

impl fmt::Debug for SaslCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaslCredentials::Password { username, .. } => f
                .debug_struct("Password")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            SaslCredentials::OAuthBearer => f.write_str("OAuthBearer"),
            SaslCredentials::UnsecuredJwt(jwt) => f.debug_tuple("UnsecuredJwt").field(jwt).finish(),
        }
    }
}

/// The unsecured JWT (`alg` `none`) the producer makes for OAUTHBEARER:
/// from librdkafka's `enable.sasl.oauthbearer.unsecure.jwt=true` with
/// `sasl.oauthbearer.config=principal=NAME [scope=A,B] [lifeSeconds=N]
/// [extension_KEY=VALUE]...`, or from Java's `OAuthBearerLoginModule`
/// options `unsecuredLoginStringClaim_sub`, `unsecuredLoginListClaim_scope`,
/// `unsecuredLoginLifetimeSeconds` and `unsecuredLoginExtension_KEY`.
/// Only a broker that accepts unsecured tokens (Kafka's default
/// validator) takes it: for tests and development clusters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsecuredJwt {
    /// The `sub` claim: the principal the broker sees.
    pub principal: String,
    /// How long each token lasts (default one hour).
    pub lifetime: Duration,
    /// The `scope` claim, when not empty.
    pub scope: Vec<String>,
    /// SASL extensions sent with the token.
    pub extensions: Vec<(String, String)>,
}

/// How a driver sets up TLS, under `SSL` and `SASL_SSL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    ca_location: Option<String>,
    certificate_location: Option<String>,
    key_location: Option<String>,
    endpoint_identification: bool,
}

impl Tls {
    /// `ssl.ca.location`: a PEM file of the certificate authorities that
    /// sign the brokers' certificates. Unset: the platform's (webpki's)
    /// roots.
    pub fn ca_location(&self) -> Option<&str> {
        self.ca_location.as_deref()
    }

    /// `ssl.certificate.location` and `ssl.key.location`: the client's
    /// certificate chain and its private key (PEM), for mutual TLS. Both or
    /// neither.
    pub fn client_certificate(&self) -> Option<(&str, &str)> {
        self.certificate_location
            .as_deref()
            .zip(self.key_location.as_deref())
    }

    /// `ssl.endpoint.identification.algorithm`, default `https`: whether the
    /// broker's certificate must name the host connected to. `none` turns
    /// the check off (the chain is still verified).
    pub fn endpoint_identification(&self) -> bool {
        self.endpoint_identification
    }
}

/// The checked security settings a [`Config`] holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Security {
    protocol: SecurityProtocol,
    sasl: Option<Sasl>,
    tls: Option<Tls>,
}

impl Config {
    /// `security.protocol`, default `PLAINTEXT`: `PLAINTEXT`, `SSL`,
    /// `SASL_PLAINTEXT` or `SASL_SSL` (in any case, as in Java).
    pub fn security_protocol(&self) -> SecurityProtocol {
        self.security.protocol
    }

    /// The SASL settings, under `SASL_PLAINTEXT` and `SASL_SSL`.
    ///
    /// `sasl.mechanism` (or librdkafka's `sasl.mechanisms`) is required
    /// there: `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` (feature `scram`) or
    /// `OAUTHBEARER`. Kafka's default, GSSAPI (Kerberos), is not
    /// supported. PLAIN and SCRAM need a username and a password:
    /// `sasl.username` and `sasl.password`, or a `sasl.jaas.config` of
    /// Kafka's `PlainLoginModule` or `ScramLoginModule` with `username` and
    /// `password` options. OAUTHBEARER takes tokens from the application,
    /// or makes unsecured ones ([`UnsecuredJwt`], feature `unsecured-jwt`).
    pub fn sasl(&self) -> Option<&Sasl> {
        self.security.sasl.as_ref()
    }

    /// The TLS settings, under `SSL` and `SASL_SSL`: `ssl.ca.location`,
    /// `ssl.certificate.location` with `ssl.key.location`, and
    /// `ssl.endpoint.identification.algorithm` (`https`, the default, or
    /// `none`).
    pub fn tls(&self) -> Option<&Tls> {
        self.security.tls.as_ref()
    }
}

/// The security properties as set, checked by [`SecurityBuilder::build`].
#[derive(Clone, Default)]
pub(super) struct SecurityBuilder {
    protocol: Option<SecurityProtocol>,
    mechanism: Option<Mechanism>,
    username: Option<String>,
    password: Option<String>,
    jaas: Option<String>,
    oauthbearer_config: Option<String>,
    unsecure_jwt: Option<bool>,
    ca_location: Option<String>,
    certificate_location: Option<String>,
    key_location: Option<String>,
    endpoint_identification: Option<bool>,
}

impl fmt::Debug for SecurityBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("SecurityBuilder")
            .field("protocol", &self.protocol)
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &hidden(&self.password))
            .field("jaas", &hidden(&self.jaas))
            .field("oauthbearer_config", &self.oauthbearer_config)
            .field("unsecure_jwt", &self.unsecure_jwt)
            .field("ca_location", &self.ca_location)
            .field("certificate_location", &self.certificate_location)
            .field("key_location", &self.key_location)
            .field("endpoint_identification", &self.endpoint_identification)
            .finish()
    }
}

impl SecurityBuilder {
    /// Sets a security property from text: `Ok(false)` when `key` is not
    /// one.
    pub(super) fn set(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        let text = || Some(value.to_owned());
        match key {
            SECURITY_PROTOCOL => self.protocol = Some(protocol(value)?),
            SASL_MECHANISM => self.mechanism = Some(mechanism(SASL_MECHANISM, value)?),
            SASL_MECHANISMS => self.mechanism = Some(mechanism(SASL_MECHANISMS, value)?),
            SASL_USERNAME => self.username = text(),
            SASL_PASSWORD => self.password = text(),
            SASL_JAAS_CONFIG => self.jaas = text(),
            SASL_OAUTHBEARER_CONFIG => self.oauthbearer_config = text(),
            UNSECURE_JWT => self.unsecure_jwt = Some(parse::boolean(UNSECURE_JWT, value)?),
            SSL_CA_LOCATION => self.ca_location = text(),
            SSL_CERTIFICATE_LOCATION => self.certificate_location = text(),
            SSL_KEY_LOCATION => self.key_location = text(),
            SSL_ENDPOINT_IDENTIFICATION => {
                self.endpoint_identification = Some(match value.to_ascii_lowercase().as_str() {
                    "https" => true,
                    // Java turns the check off with an empty value.
                    "none" | "" => false,
                    _ => {
                        return Err(invalid(
                            SSL_ENDPOINT_IDENTIFICATION,
                            value,
                            "is not https or none",
                        ));
                    }
                });
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks the settings together.
    pub(super) fn build(&self) -> Result<Security, ConfigError> {
        let protocol = self.protocol.unwrap_or_default();
        let unused = |key: &str, wants: &str| ConfigError::Conflict {
            reason: format!(
                "{key} is set, but {SECURITY_PROTOCOL}={protocol} does not use {wants}; \
                 set {SECURITY_PROTOCOL} to one that does, or remove {key}"
            ),
        };
        let sasl_keys = [
            (SASL_MECHANISM, self.mechanism.is_some()),
            (SASL_USERNAME, self.username.is_some()),
            (SASL_PASSWORD, self.password.is_some()),
            (SASL_JAAS_CONFIG, self.jaas.is_some()),
            (SASL_OAUTHBEARER_CONFIG, self.oauthbearer_config.is_some()),
            (UNSECURE_JWT, self.unsecure_jwt.is_some()),
        ];
        let tls_keys = [
            (SSL_CA_LOCATION, self.ca_location.is_some()),
            (
                SSL_CERTIFICATE_LOCATION,
                self.certificate_location.is_some(),
            ),
            (SSL_KEY_LOCATION, self.key_location.is_some()),
            (
                SSL_ENDPOINT_IDENTIFICATION,
                self.endpoint_identification.is_some(),
            ),
        ];
        if !protocol.uses_sasl()
            && let Some((key, _)) = sasl_keys.iter().find(|(_, set)| *set)
        {
            return Err(unused(key, "SASL (SASL_PLAINTEXT and SASL_SSL do)"));
        }
        if !protocol.uses_tls()
            && let Some((key, _)) = tls_keys.iter().find(|(_, set)| *set)
        {
            return Err(unused(key, "TLS (SSL and SASL_SSL do)"));
        }
        let sasl = if protocol.uses_sasl() {
            Some(self.sasl(protocol)?)
        } else {
            None
        };
        let tls = if protocol.uses_tls() {
            if self.certificate_location.is_some() != self.key_location.is_some() {
                return Err(ConfigError::Conflict {
                    reason: format!(
                        "{SSL_CERTIFICATE_LOCATION} and {SSL_KEY_LOCATION} go together (mutual TLS needs both)"
                    ),
                });
            }
            Some(Tls {
                ca_location: self.ca_location.clone(),
                certificate_location: self.certificate_location.clone(),
                key_location: self.key_location.clone(),
                endpoint_identification: self.endpoint_identification.unwrap_or(true),
            })
        } else {
            None
        };
        Ok(Security {
            protocol,
            sasl,
            tls,
        })
    }

    fn sasl(&self, protocol: SecurityProtocol) -> Result<Sasl, ConfigError> {
        let conflict = |reason: String| ConfigError::Conflict { reason };
        let mechanism = self.mechanism.ok_or_else(|| {
            conflict(format!(
                "{SECURITY_PROTOCOL}={protocol} needs {SASL_MECHANISM}: PLAIN, SCRAM-SHA-256, \
                 SCRAM-SHA-512 or OAUTHBEARER (Kafka's default, GSSAPI, is not supported)"
            ))
        })?;
        let jaas = match &self.jaas {
            Some(text) => Some(read_jaas(text, mechanism)?),
            None => None,
        };
        let credentials = if mechanism.uses_password() {
            for (key, set) in [
                (SASL_OAUTHBEARER_CONFIG, self.oauthbearer_config.is_some()),
                (UNSECURE_JWT, self.unsecure_jwt.is_some()),
            ] {
                if set {
                    return Err(conflict(format!(
                        "{key} is for OAUTHBEARER, not {SASL_MECHANISM}={mechanism}"
                    )));
                }
            }
            let (username, password) = match (&jaas, &self.username, &self.password) {
                (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                    return Err(conflict(format!(
                        "set {SASL_USERNAME} and {SASL_PASSWORD}, or {SASL_JAAS_CONFIG}, not both"
                    )));
                }
                (Some(j), None, None) => (j.option("username"), j.option("password")),
                (None, user, password) => (user.as_deref(), password.as_deref()),
            };
            let (Some(username), Some(password)) = (username, password) else {
                return Err(conflict(format!(
                    "SASL/{mechanism} needs {SASL_USERNAME} and {SASL_PASSWORD} \
                     (or the username and password options of {SASL_JAAS_CONFIG})"
                )));
            };
            if username.is_empty() || password.is_empty() {
                return Err(conflict(format!(
                    "SASL/{mechanism} needs a username and a password that are not empty"
                )));
            }
            if matches!(mechanism, Mechanism::ScramSha256 | Mechanism::ScramSha512)
                && !cfg!(feature = "scram")
            {
                return Err(conflict(format!(
                    "{SASL_MECHANISM}={mechanism} needs kafka-producer-proto's feature `scram`"
                )));
            }
            SaslCredentials::Password {
                username: username.to_owned(),
                password: password.to_owned(),
            }
        } else {
            for (key, set) in [
                (SASL_USERNAME, self.username.is_some()),
                (SASL_PASSWORD, self.password.is_some()),
            ] {
                if set {
                    return Err(conflict(format!(
                        "{key} is for PLAIN and SCRAM, not {SASL_MECHANISM}=OAUTHBEARER"
                    )));
                }
            }
            let unsecured = match (self.unsecure_jwt, &self.oauthbearer_config, &jaas) {
                (Some(true), _, Some(_)) => {
                    return Err(conflict(format!(
                        "set {UNSECURE_JWT} with {SASL_OAUTHBEARER_CONFIG}, or {SASL_JAAS_CONFIG}, not both"
                    )));
                }
                (Some(true), Some(config), None) => Some(librdkafka_jwt(config)?),
                (Some(true), None, None) => {
                    return Err(conflict(format!(
                        "{UNSECURE_JWT}=true needs {SASL_OAUTHBEARER_CONFIG}=principal=NAME"
                    )));
                }
                (_, Some(_), _) => {
                    return Err(conflict(format!(
                        "{SASL_OAUTHBEARER_CONFIG} is read only with {UNSECURE_JWT}=true"
                    )));
                }
                (_, None, Some(j)) => java_jwt(j)?,
                (_, None, None) => None,
            };
            match unsecured {
                Some(_) if !cfg!(feature = "unsecured-jwt") => {
                    return Err(conflict(String::from(
                        "an unsecured OAUTHBEARER token needs kafka-producer-proto's feature `unsecured-jwt`",
                    )));
                }
                Some(jwt) => SaslCredentials::UnsecuredJwt(jwt),
                None => SaslCredentials::OAuthBearer,
            }
        };
        Ok(Sasl {
            mechanism,
            credentials,
        })
    }
}

fn protocol(value: &str) -> Result<SecurityProtocol, ConfigError> {
    match value.to_ascii_uppercase().as_str() {
        "PLAINTEXT" => Ok(SecurityProtocol::Plaintext),
        "SSL" => Ok(SecurityProtocol::Ssl),
        "SASL_PLAINTEXT" => Ok(SecurityProtocol::SaslPlaintext),
        "SASL_SSL" => Ok(SecurityProtocol::SaslSsl),
        _ => Err(invalid(
            SECURITY_PROTOCOL,
            value,
            "is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL",
        )),
    }
}

fn mechanism(key: &'static str, value: &str) -> Result<Mechanism, ConfigError> {
    Mechanism::from_name(value).ok_or_else(|| {
        let reason = if value.eq_ignore_ascii_case("GSSAPI") {
            "is not supported (Kerberos); PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER are"
        } else {
            "is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (names are case-sensitive)"
        };
        invalid(key, value, reason)
    })
}

/// Parses `sasl.jaas.config` and checks that its module logs in with
/// `mechanism` and takes only options this producer reads.
fn read_jaas(text: &str, mechanism: Mechanism) -> Result<Jaas, ConfigError> {
    // The line may hold a password: errors show its module at most.
    let jaas =
        jaas::parse(text).map_err(|reason| invalid(SASL_JAAS_CONFIG, "<redacted>", reason))?;
    let expected = match mechanism {
        Mechanism::Plain => jaas::PLAIN_MODULE,
        Mechanism::ScramSha256 | Mechanism::ScramSha512 => jaas::SCRAM_MODULE,
        Mechanism::OAuthBearer => jaas::OAUTHBEARER_MODULE,
    };
    if jaas.module != expected {
        return Err(ConfigError::Conflict {
            reason: format!(
                "{SASL_JAAS_CONFIG} names {}, but {SASL_MECHANISM}={mechanism} logs in with {expected}",
                jaas.module
            ),
        });
    }
    for (key, _) in &jaas.options {
        let known = match mechanism {
            Mechanism::OAuthBearer => {
                key == "unsecuredLoginStringClaim_sub"
                    || key == "unsecuredLoginListClaim_scope"
                    || key == "unsecuredLoginLifetimeSeconds"
                    || key.starts_with("unsecuredLoginExtension_")
            }
            _ => key == "username" || key == "password",
        };
        if !known {
            return Err(invalid(
                SASL_JAAS_CONFIG,
                format!("<{} ... {key}=...>", jaas.module),
                format!("has option {key}, which this producer does not support"),
            ));
        }
    }
    Ok(jaas)
}

/// The unsecured JWT of Java's `OAuthBearerLoginModule` options, if they
/// ask for one (`unsecuredLoginStringClaim_sub`).
fn java_jwt(jaas: &Jaas) -> Result<Option<UnsecuredJwt>, ConfigError> {
    let Some(principal) = jaas.option("unsecuredLoginStringClaim_sub") else {
        if let Some((key, _)) = jaas.options.first() {
            return Err(invalid(
                SASL_JAAS_CONFIG,
                format!("<{} ... {key}=...>", jaas.module),
                "has unsecured-token options without unsecuredLoginStringClaim_sub",
            ));
        }
        return Ok(None);
    };
    let lifetime = match jaas.option("unsecuredLoginLifetimeSeconds") {
        Some(s) => seconds(SASL_JAAS_CONFIG, s)?,
        None => DEFAULT_JWT_LIFETIME,
    };
    // Java's list claims start with their own separator: `,a,b`.
    let scope = jaas
        .option("unsecuredLoginListClaim_scope")
        .map(|list| {
            let mut chars = list.chars();
            let separator = chars.next().unwrap_or(',');
            chars
                .as_str()
                .split(separator)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let extensions = jaas
        .options
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("unsecuredLoginExtension_")
                .map(|k| (k.to_owned(), v.clone()))
        })
        .collect();
    unsecured(principal, lifetime, scope, extensions, SASL_JAAS_CONFIG).map(Some)
}

/// librdkafka's `sasl.oauthbearer.config` for its unsecured token:
/// space-separated `principal=`, `scope=` (comma-separated),
/// `lifeSeconds=` and `extension_KEY=` settings.
fn librdkafka_jwt(config: &str) -> Result<UnsecuredJwt, ConfigError> {
    let mut principal = None;
    let mut lifetime = DEFAULT_JWT_LIFETIME;
    let mut scope = Vec::new();
    let mut extensions = Vec::new();
    for item in config.split_whitespace() {
        let Some((key, value)) = item.split_once('=') else {
            return Err(invalid(
                SASL_OAUTHBEARER_CONFIG,
                config,
                format!("has `{item}`, which is not key=value"),
            ));
        };
        match key {
            "principal" => principal = Some(value),
            "scope" => {
                scope = value
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            }
            "lifeSeconds" => lifetime = seconds(SASL_OAUTHBEARER_CONFIG, value)?,
            _ => match key.strip_prefix("extension_") {
                Some(k) => extensions.push((k.to_owned(), value.to_owned())),
                None => {
                    return Err(invalid(
                        SASL_OAUTHBEARER_CONFIG,
                        config,
                        format!(
                            "has `{key}`, not one of principal, scope, lifeSeconds, extension_NAME"
                        ),
                    ));
                }
            },
        }
    }
    let principal = principal
        .ok_or_else(|| invalid(SASL_OAUTHBEARER_CONFIG, config, "has no principal=NAME"))?;
    unsecured(
        principal,
        lifetime,
        scope,
        extensions,
        SASL_OAUTHBEARER_CONFIG,
    )
}

fn seconds(key: &'static str, value: &str) -> Result<Duration, ConfigError> {
    let n: u64 = parse::number(key, value)?;
    if n == 0 {
        return Err(invalid(key, value, "sets a token lifetime of 0 seconds"));
    }
    Ok(Duration::from_secs(n))
}

fn unsecured(
    principal: &str,
    lifetime: Duration,
    scope: Vec<String>,
    extensions: Vec<(String, String)>,
    key: &'static str,
) -> Result<UnsecuredJwt, ConfigError> {
    if principal.trim().is_empty() {
        return Err(invalid(key, principal, "names an empty principal"));
    }
    let token = crate::sasl::OAuthBearerToken {
        value: String::from("x"),
        expires_at: crate::time::Instant::ZERO,
        extensions: extensions.clone(),
    };
    if let Err(e) = token.validate() {
        return Err(invalid(key, "<extensions>", format!("is refused: {e}")));
    }
    Ok(UnsecuredJwt {
        principal: principal.to_owned(),
        lifetime,
        scope,
        extensions,
    })
}

/// Typed setters for the security properties.
impl ConfigBuilder {
    /// Sets `security.protocol` ([`Config::security_protocol`]).
    pub fn security_protocol(&mut self, protocol: SecurityProtocol) -> &mut Self {
        self.security.protocol = Some(protocol);
        self
    }

    /// Sets `sasl.mechanism` ([`Config::sasl`]).
    pub fn sasl_mechanism(&mut self, mechanism: Mechanism) -> &mut Self {
        self.security.mechanism = Some(mechanism);
        self
    }

    /// Sets `sasl.username` and `sasl.password` ([`Config::sasl`]).
    pub fn sasl_credentials(
        &mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> &mut Self {
        self.security.username = Some(username.into());
        self.security.password = Some(password.into());
        self
    }

    /// Sets `ssl.ca.location` ([`Tls::ca_location`]).
    pub fn ssl_ca_location(&mut self, path: impl Into<String>) -> &mut Self {
        self.security.ca_location = Some(path.into());
        self
    }

    /// Sets `ssl.certificate.location` and `ssl.key.location`
    /// ([`Tls::client_certificate`]).
    pub fn ssl_client_certificate(
        &mut self,
        certificate: impl Into<String>,
        key: impl Into<String>,
    ) -> &mut Self {
        self.security.certificate_location = Some(certificate.into());
        self.security.key_location = Some(key.into());
        self
    }

    /// Sets `ssl.endpoint.identification.algorithm`: `true` for `https`,
    /// `false` for `none` ([`Tls::endpoint_identification`]).
    pub fn ssl_endpoint_identification(&mut self, check: bool) -> &mut Self {
        self.security.endpoint_identification = Some(check);
        self
    }
}

#[cfg(test)]
mod tests;
