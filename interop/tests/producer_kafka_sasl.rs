//! SASL against Apache Kafka 4.1.1's SASL_PLAINTEXT listener (tokio driver):
//! PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 with users made at storage format
//! time, OAUTHBEARER with unsecured JWTs (made by the producer, and given by
//! the application when asked); a wrong password, a mechanism the listener
//! does not enable and an expired token, each failing every record with a
//! typed error that names the mechanism and carries the broker's words,
//! records handed back, without a reconnect storm; and KIP-368
//! re-authentication keeping connections alive. What was delivered is read
//! back with the rdkafka consumer (over PLAINTEXT, as another client).
//! Kafka must be installed (`scripts/kafka install`); without it the tests
//! fail and say so.

mod kafka_support;

use std::sync::OnceLock;
use std::time::Duration;

use kafka_producer_interop::kafka::{KafkaCluster, KafkaOptions, SASL_PASSWORD, SASL_USER};
use kafka_producer_proto::sasl::oauthbearer::unsecured_jwt;
use kafka_producer_proto::{
    AuthenticationFailure, Event, Mechanism, OAuthBearerToken, ProduceError,
};
use kafka_producer_tokio::{ConfigBuilder, Record, TokioDriver};
use kafka_support::{LogsOnFailure, config, numbered, runtime, send_all};

const PARTITIONS: i32 = 3;
const RECORDS: usize = 2_000;

/// A cluster whose SASL listener enables PLAIN and OAUTHBEARER only, and
/// ends sessions after 3 s (KIP-368; Kafka's default is never).
fn short_sessions() -> &'static KafkaCluster {
    static CLUSTER: OnceLock<KafkaCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        KafkaCluster::start(KafkaOptions {
            brokers: 1,
            sasl: true,
            ssl: false,
            authorizer: false,
            broker_configs: &[
                (
                    "listener.name.sasl_plaintext.sasl.enabled.mechanisms",
                    "PLAIN,OAUTHBEARER",
                ),
                ("connections.max.reauth.ms", "3000"),
            ],
        })
    })
}

fn sasl_config(cluster: &KafkaCluster, mechanism: &str) -> ConfigBuilder {
    let mut b = config(cluster.sasl_plaintext());
    b.set("security.protocol", "SASL_PLAINTEXT")
        .unwrap()
        .set("sasl.mechanism", mechanism)
        .unwrap();
    b
}

fn with_password(mut b: ConfigBuilder, password: &str) -> ConfigBuilder {
    b.set("sasl.username", SASL_USER)
        .unwrap()
        .set("sasl.password", password)
        .unwrap();
    b
}

/// The producer's own unsecured JWT, named as librdkafka names it.
fn with_unsecured_jwt(mut b: ConfigBuilder) -> ConfigBuilder {
    b.set("enable.sasl.oauthbearer.unsecure.jwt", "true")
        .unwrap()
        .set("sasl.oauthbearer.config", "principal=alice")
        .unwrap();
    b
}

fn records(topic: &str, n: usize) -> Vec<Record> {
    (0..n).map(|i| numbered(topic, i)).collect()
}

#[test]
fn every_mechanism_delivers_and_the_log_reads_back() {
    let cluster = KafkaCluster::shared();
    let _logs = LogsOnFailure(cluster);
    let rt = runtime();
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] {
        let topic = format!("sasl-{}", mechanism.to_lowercase());
        cluster.create_topic(&topic, PARTITIONS, 1, &[]);
        let b = sasl_config(cluster, mechanism);
        let b = if mechanism == "OAUTHBEARER" {
            with_unsecured_jwt(b)
        } else {
            with_password(b, SASL_PASSWORD)
        };
        let run = rt.block_on(send_all(b.build().unwrap(), records(&topic, RECORDS)));
        run.assert_all_delivered();
        let checked = run.check_log(cluster, &topic, PARTITIONS);
        assert_eq!(checked.in_log, RECORDS, "{mechanism}");
        run.report(&format!("SASL/{mechanism}"));
    }
}

/// Every record failed with a refusal by `mechanism` carrying the broker's
/// message, came back as sent, and the producer did not hammer the broker.
fn assert_refused(
    run: &kafka_support::Run,
    mechanism: Mechanism,
    failure: impl Fn(&AuthenticationFailure) -> bool,
    says: &str,
) {
    assert_eq!(run.delivered(), 0);
    for (i, e) in run.failures() {
        let ProduceError::Authentication(a) = &e.error else {
            panic!("record {i}: {} is not an authentication error", e.error);
        };
        assert_eq!(a.mechanism, mechanism, "record {i}: {a}");
        assert!(failure(&a.failure), "record {i}: {a}");
        let text = e.error.to_string();
        assert!(text.contains(says), "record {i}: {text:?} lacks {says:?}");
        assert!(text.contains(&mechanism.to_string()), "{text}");
    }
    run.assert_failures_hand_records_back();
    // One connection to the bootstrap server and maybe one more: a storm
    // would be a connection per backoff.
    assert!(
        run.driver.connects <= 3,
        "{} connections for one refusal",
        run.driver.connects
    );
    // Refused at once, not after the delivery timeout (two minutes).
    assert!(run.elapsed < Duration::from_secs(30), "{:?}", run.elapsed);
}

#[test]
fn a_wrong_password_fails_every_record_with_the_brokers_words() {
    let cluster = KafkaCluster::shared();
    let _logs = LogsOnFailure(cluster);
    let rt = runtime();
    for (mechanism, name, says) in [
        (
            Mechanism::Plain,
            "PLAIN",
            "Authentication failed: Invalid username or password",
        ),
        (
            Mechanism::ScramSha512,
            "SCRAM-SHA-512",
            "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512",
        ),
    ] {
        let topic = format!("sasl-wrong-{}", name.to_lowercase());
        cluster.create_topic(&topic, PARTITIONS, 1, &[]);
        let b = with_password(sasl_config(cluster, name), "not-the-password");
        let run = rt.block_on(send_all(b.build().unwrap(), records(&topic, 50)));
        assert_refused(
            &run,
            mechanism,
            |f| *f == AuthenticationFailure::Refused,
            says,
        );
    }
}

#[test]
fn a_mechanism_the_listener_does_not_enable_is_named_with_those_it_does() {
    let cluster = short_sessions();
    let _logs = LogsOnFailure(cluster);
    cluster.create_topic("sasl-unknown", PARTITIONS, 1, &[]);
    let b = with_password(sasl_config(cluster, "SCRAM-SHA-256"), SASL_PASSWORD);
    let run = runtime().block_on(send_all(b.build().unwrap(), records("sasl-unknown", 50)));
    assert_refused(
        &run,
        Mechanism::ScramSha256,
        |f| {
            matches!(f, AuthenticationFailure::UnsupportedMechanism { enabled }
                if enabled.iter().any(|m| m == "PLAIN") && enabled.iter().any(|m| m == "OAUTHBEARER"))
        },
        "does not enable SCRAM-SHA-256",
    );
}

/// 3 s sessions, records for 10 s: each connection re-authenticates
/// before its session ends (the broker closes a connection whose session
/// ended, silently, on its next request), so none is lost and the
/// producer never reconnects.
#[test]
fn reauthentication_keeps_connections_alive() {
    let cluster = short_sessions();
    let _logs = LogsOnFailure(cluster);
    let rt = runtime();
    for mechanism in ["PLAIN", "OAUTHBEARER"] {
        let topic = format!("sasl-reauth-{}", mechanism.to_lowercase());
        cluster.create_topic(&topic, PARTITIONS, 1, &[]);
        let b = sasl_config(cluster, mechanism);
        let b = if mechanism == "OAUTHBEARER" {
            with_unsecured_jwt(b)
        } else {
            with_password(b, SASL_PASSWORD)
        };
        let run = rt.block_on(async {
            let mut s = kafka_support::Sending::start(b.build().unwrap()).await;
            let started = tokio::time::Instant::now();
            let mut i = 0;
            while started.elapsed() < Duration::from_secs(10) {
                s.send(numbered(&topic, i)).await;
                i += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            s.finish().await
        });
        run.assert_all_delivered();
        run.check_log(cluster, &topic, PARTITIONS);
        assert_eq!(
            run.driver.disconnects + run.driver.peer_closes,
            0,
            "{mechanism}: connections were closed: {:?}",
            run.driver
        );
        assert!(run.driver.connects <= 2, "{mechanism}: {:?}", run.driver);
    }
}

/// OAUTHBEARER with the application's tokens: the producer asks for one
/// with an event and goes on when given it. A token whose `exp` has passed
/// (the application's clock thinks otherwise) is refused by the broker,
/// with its RFC 7628 document in the error.
#[test]
fn the_application_gives_tokens_and_an_expired_one_is_refused() {
    let cluster = KafkaCluster::shared();
    let _logs = LogsOnFailure(cluster);
    let rt = runtime();
    for expired in [false, true] {
        let topic = format!("sasl-app-token-{expired}");
        cluster.create_topic(&topic, PARTITIONS, 1, &[]);
        let b = sasl_config(cluster, "OAUTHBEARER");
        let outcome = rt.block_on(async {
            let mut d: TokioDriver<usize> = TokioDriver::from_config(b.build().unwrap());
            for i in 0..20 {
                d.send(numbered(&topic, i).user(i)).await.unwrap();
            }
            let mut events = Vec::new();
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            let mut asked = 0;
            while std::time::Instant::now() < deadline
                && events
                    .iter()
                    .filter(|e| matches!(e, Event::Delivered { .. } | Event::Failed { .. }))
                    .count()
                    < 20
            {
                d.drive_for(Duration::from_millis(20)).await;
                for e in d.take_events() {
                    if matches!(e, Event::OAuthBearerTokenRequired) {
                        asked += 1;
                        let now = d.now();
                        // The driver's clock counts from the Unix epoch.
                        let unix_ms = (now.as_nanos() / 1_000_000) as i64;
                        // Issued two hours ago for one hour, or now.
                        let issued = if expired {
                            unix_ms - 7_200_000
                        } else {
                            unix_ms
                        };
                        let value = unsecured_jwt("alice", &[], issued as u64, 3_600_000);
                        let token = OAuthBearerToken::new(value, now + Duration::from_secs(3600));
                        d.producer_mut().set_oauthbearer_token(token, now).unwrap();
                        d.settle();
                    }
                    events.push(e);
                }
            }
            (asked, events)
        });
        let (asked, events) = outcome;
        assert!(asked >= 1, "never asked for a token: {events:?}");
        let failed: Vec<&ProduceError> = events
            .iter()
            .filter_map(|e| match e {
                Event::Failed { error, .. } => Some(error),
                _ => None,
            })
            .collect();
        let delivered = events
            .iter()
            .filter(|e| matches!(e, Event::Delivered { .. }))
            .count();
        if expired {
            assert_eq!((delivered, failed.len()), (0, 20), "{events:?}");
            for e in failed {
                let ProduceError::Authentication(a) = e else {
                    panic!("{e}");
                };
                assert_eq!(a.failure, AuthenticationFailure::Refused, "{a}");
                assert!(
                    a.message
                        .as_deref()
                        .is_some_and(|m| m.contains("invalid_token")),
                    "{a}"
                );
            }
        } else {
            assert_eq!((delivered, failed.len()), (20, 0), "{failed:?}");
            assert_eq!(asked, 1, "asked more than once for a token lasting an hour");
        }
    }
}
