use alloc::string::ToString;
use alloc::vec;

use super::*;

fn props(text: &str) -> Result<Config, ConfigError> {
    Config::from_properties(&format!("bootstrap.servers=k:9092\n{text}"))
}

fn refused(text: &str) -> String {
    props(text).unwrap_err().to_string()
}

#[test]
fn plaintext_by_default_and_every_protocol_by_name_in_any_case() {
    let c = props("").unwrap();
    assert_eq!(c.security_protocol(), SecurityProtocol::Plaintext);
    assert!(c.sasl().is_none() && c.tls().is_none());
    let c = props("security.protocol=ssl").unwrap();
    assert_eq!(c.security_protocol(), SecurityProtocol::Ssl);
    let tls = c.tls().unwrap();
    assert!(tls.endpoint_identification());
    assert_eq!((tls.ca_location(), tls.client_certificate()), (None, None));
    assert_eq!(
        refused("security.protocol=TLS"),
        "security.protocol=TLS is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
    );
}

#[test]
fn librdkafka_style_scram_over_tls() {
    let c = props(
        "security.protocol=SASL_SSL\nsasl.mechanisms=SCRAM-SHA-512\nsasl.username=alice\n\
         sasl.password=alice-secret\nssl.ca.location=/ca.pem\n\
         ssl.endpoint.identification.algorithm=none",
    )
    .unwrap();
    let sasl = c.sasl().unwrap();
    assert_eq!(sasl.mechanism(), Mechanism::ScramSha512);
    assert_eq!(
        sasl.credentials(),
        &SaslCredentials::Password {
            username: "alice".into(),
            password: "alice-secret".into()
        }
    );
    let tls = c.tls().unwrap();
    assert_eq!(tls.ca_location(), Some("/ca.pem"));
    assert!(!tls.endpoint_identification());
    // Neither Debug output shows the password.
    assert!(!format!("{c:?}").contains("alice-secret"));
    let mut b = Config::builder();
    b.set("sasl.password", "alice-secret").unwrap();
    assert!(!format!("{b:?}").contains("alice-secret"));
}

#[test]
fn java_style_jaas_configs() {
    let c = props(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.jaas.config=\
         org.apache.kafka.common.security.plain.PlainLoginModule required username=\"bob\" password=\"pw\";",
    )
    .unwrap();
    assert_eq!(
        c.sasl().unwrap().credentials(),
        &SaslCredentials::Password {
            username: "bob".into(),
            password: "pw".into()
        }
    );
    let c = props(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=OAUTHBEARER\nsasl.jaas.config=\
         org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
         unsecuredLoginStringClaim_sub=\"alice\" unsecuredLoginLifetimeSeconds=\"60\" \
         unsecuredLoginListClaim_scope=\"|read|write\" unsecuredLoginExtension_traceId=\"t1\";",
    )
    .unwrap();
    assert_eq!(
        c.sasl().unwrap().credentials(),
        &SaslCredentials::UnsecuredJwt(UnsecuredJwt {
            principal: "alice".into(),
            lifetime: Duration::from_secs(60),
            scope: vec!["read".into(), "write".into()],
            extensions: vec![("traceId".into(), "t1".into())],
        })
    );
    // Without unsecured options, tokens come from the application.
    let c = props(
        "security.protocol=SASL_SSL\nsasl.mechanism=OAUTHBEARER\nsasl.jaas.config=\
         org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;",
    )
    .unwrap();
    assert_eq!(
        c.sasl().unwrap().credentials(),
        &SaslCredentials::OAuthBearer
    );
}

#[test]
fn librdkafka_style_unsecured_oauthbearer() {
    let c = props(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=OAUTHBEARER\n\
         enable.sasl.oauthbearer.unsecure.jwt=true\n\
         sasl.oauthbearer.config=principal=alice scope=a,b lifeSeconds=30 extension_tenant=t",
    )
    .unwrap();
    assert_eq!(
        c.sasl().unwrap().credentials(),
        &SaslCredentials::UnsecuredJwt(UnsecuredJwt {
            principal: "alice".into(),
            lifetime: Duration::from_secs(30),
            scope: vec!["a".into(), "b".into()],
            extensions: vec![("tenant".into(), "t".into())],
        })
    );
    let c = props("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=OAUTHBEARER").unwrap();
    assert_eq!(
        c.sasl().unwrap().credentials(),
        &SaslCredentials::OAuthBearer
    );
}

#[test]
fn settings_that_would_be_ignored_or_are_incomplete_are_refused() {
    let sasl = "security.protocol=SASL_SSL\n";
    let jaas_plain = "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"a\" password=\"secret-pw\";";
    for (text, why) in [
        (
            "sasl.mechanism=PLAIN".to_string(),
            "sasl.mechanism is set, but security.protocol=PLAINTEXT does not use SASL",
        ),
        (
            "security.protocol=SASL_PLAINTEXT\nssl.ca.location=/ca.pem".into(),
            "ssl.ca.location is set, but security.protocol=SASL_PLAINTEXT does not use TLS",
        ),
        (
            sasl.into(),
            "security.protocol=SASL_SSL needs sasl.mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER (Kafka's default, GSSAPI, is not supported)",
        ),
        (
            format!("{sasl}sasl.mechanism=GSSAPI"),
            "sasl.mechanism=GSSAPI is not supported (Kerberos)",
        ),
        (
            format!("{sasl}sasl.mechanism=scram-sha-256"),
            "is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER",
        ),
        (
            format!("{sasl}sasl.mechanism=PLAIN\nsasl.username=a"),
            "SASL/PLAIN needs sasl.username and sasl.password",
        ),
        (
            format!("{sasl}sasl.mechanism=PLAIN\nsasl.username=a\nsasl.password=b\n{jaas_plain}"),
            "not both",
        ),
        (
            format!("{sasl}sasl.mechanism=SCRAM-SHA-256\n{jaas_plain}"),
            "logs in with org.apache.kafka.common.security.scram.ScramLoginModule",
        ),
        (
            format!(
                "{sasl}sasl.mechanism=SCRAM-SHA-256\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=a password=\"secret-pw\" tokenauth=true;"
            ),
            "has option tokenauth, which this producer does not support",
        ),
        (
            format!(
                "{sasl}sasl.mechanism=PLAIN\nsasl.jaas.config=PlainLoginModule password=\"secret-pw\""
            ),
            "sasl.jaas.config=<redacted> has no control flag",
        ),
        (
            format!("{sasl}sasl.mechanism=OAUTHBEARER\nsasl.username=a"),
            "sasl.username is for PLAIN and SCRAM",
        ),
        (
            format!(
                "{sasl}sasl.mechanism=PLAIN\nenable.sasl.oauthbearer.unsecure.jwt=true\nsasl.username=a\nsasl.password=b"
            ),
            "enable.sasl.oauthbearer.unsecure.jwt is for OAUTHBEARER",
        ),
        (
            format!("{sasl}sasl.mechanism=OAUTHBEARER\nenable.sasl.oauthbearer.unsecure.jwt=true"),
            "needs sasl.oauthbearer.config=principal=NAME",
        ),
        (
            format!("{sasl}sasl.mechanism=OAUTHBEARER\nsasl.oauthbearer.config=principal=a"),
            "is read only with enable.sasl.oauthbearer.unsecure.jwt=true",
        ),
        (
            format!(
                "{sasl}sasl.mechanism=OAUTHBEARER\nenable.sasl.oauthbearer.unsecure.jwt=true\nsasl.oauthbearer.config=principal=a extension_auth=x"
            ),
            "is refused: SASL extension key \"auth\"",
        ),
        (
            format!(
                "{sasl}sasl.mechanism=OAUTHBEARER\nenable.sasl.oauthbearer.unsecure.jwt=true\nsasl.oauthbearer.config=principal=a lifeSeconds=0"
            ),
            "sets a token lifetime of 0 seconds",
        ),
        (
            format!(
                "{sasl}sasl.mechanism=PLAIN\nsasl.username=a\nsasl.password=b\nssl.certificate.location=/c.pem"
            ),
            "ssl.certificate.location and ssl.key.location go together",
        ),
        (
            "security.protocol=SSL\nssl.endpoint.identification.algorithm=dns".into(),
            "ssl.endpoint.identification.algorithm=dns is not https or none",
        ),
    ] {
        let error = refused(&text);
        assert!(
            error.contains(why),
            "{text}\n  gave: {error}\n  want: {why}"
        );
        assert!(!error.contains("secret-pw"), "{error}");
    }
}

#[test]
fn typed_setters_match_the_properties() {
    let mut b = Config::builder();
    b.bootstrap_servers("k:9092")
        .security_protocol(SecurityProtocol::SaslSsl)
        .sasl_mechanism(Mechanism::Plain)
        .sasl_credentials("alice", "pw")
        .ssl_ca_location("/ca.pem")
        .ssl_client_certificate("/c.pem", "/k.pem")
        .ssl_endpoint_identification(false);
    let typed = b.build().unwrap();
    let text = props(
        "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.username=alice\nsasl.password=pw\n\
         ssl.ca.location=/ca.pem\nssl.certificate.location=/c.pem\nssl.key.location=/k.pem\n\
         ssl.endpoint.identification.algorithm=",
    )
    .unwrap();
    assert_eq!(typed, text);
    assert_eq!(
        typed.tls().unwrap().client_certificate(),
        Some(("/c.pem", "/k.pem"))
    );
    for key in PROPERTIES {
        assert!(
            !matches!(
                Config::builder().set(key, "x"),
                Err(ConfigError::UnknownProperty { .. })
            ),
            "{key}"
        );
    }
}
