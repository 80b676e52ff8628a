//! SASL against the simulated cluster's SASL listener, in virtual time:
//! every mechanism authenticates each connection before anything else;
//! a refusal fails the records it strands, once, with the mechanism and the
//! broker's words, and no reconnect storm follows; KIP-368
//! re-authentication keeps sessions alive with no request lost or retried;
//! OAUTHBEARER tokens are asked for and refreshed; runs replay exactly.

use std::time::Duration;

use kafka_producer_proto::config::SecurityProtocol;
use kafka_producer_proto::sim::{Chance, Entropy};
use kafka_producer_proto::sim::{Latency, SaslFaults, SimCluster, SimNet, SimSasl};
use kafka_producer_proto::wire::ApiKey;
use kafka_producer_proto::{
    AuthenticationFailure, Config, ConfigBuilder, Event, Instant, Mechanism, OAuthBearerToken,
    ProduceError, Producer, Record,
};

const START: Instant = Instant::from_millis(1_700_000_000_000);
const USER: &str = "alice";
const PASSWORD: &str = "alice-secret";

fn cluster(mechanisms: &[Mechanism], lifetime: Option<Duration>) -> SimCluster {
    let mut c = SimCluster::new(3);
    c.create_topic("t", 6);
    c.sasl = Some(
        SimSasl::new(mechanisms)
            .user(USER, PASSWORD)
            .session_lifetime(lifetime),
    );
    c
}

fn config(c: &SimCluster, mechanism: Mechanism, password: &str) -> ConfigBuilder {
    let mut b = Config::builder();
    b.bootstrap_servers(&c.bootstrap_servers())
        .security_protocol(SecurityProtocol::SaslPlaintext)
        .sasl_mechanism(mechanism)
        .linger(Duration::from_millis(5));
    if mechanism.uses_password() {
        b.sasl_credentials(USER, password);
    }
    b
}

fn net(c: SimCluster, b: &ConfigBuilder) -> SimNet<u64> {
    SimNet::new(Producer::new(b.build().unwrap(), START), c, START)
}

fn delivered(n: &SimNet<u64>) -> usize {
    n.events
        .iter()
        .filter(|e| matches!(e, Event::Delivered { .. }))
        .count()
}

fn stored(n: &SimNet<u64>) -> usize {
    (0..6).map(|p| n.cluster.log("t", p).len()).sum()
}

fn send_many(n: &mut SimNet<u64>, count: u64) {
    for i in 0..count {
        let r = Record::new("t").value(format!("v{i}")).user(i);
        n.producer.send(r, n.now).unwrap();
    }
}

/// Every mechanism authenticates every connection, then records flow; the
/// brokers saw no other request before authentication.
#[test]
fn every_mechanism_authenticates_each_connection_first() {
    for mechanism in Mechanism::ALL {
        let c = cluster(&Mechanism::ALL, None);
        let mut n = net(c.clone(), &config(&c, mechanism, PASSWORD));
        send_many(&mut n, 300);
        assert!(
            n.run_until(Duration::from_secs(30), |n| delivered(n) == 300),
            "{mechanism}: {:?}",
            n.events
                .iter()
                .find(|e| !matches!(e, Event::Delivered { .. }))
        );
        assert_eq!(stored(&n), 300, "{mechanism}");
        let stats = &n.cluster.sasl.as_ref().unwrap().stats;
        assert!(stats.authentications >= 2, "{mechanism}: {stats:?}");
        assert_eq!(stats.unauthenticated_requests, 0, "{mechanism}");
        assert_eq!(stats.refusals, 0, "{mechanism}");
        // Per connection: ApiVersions, SaslHandshake, then SaslAuthenticate
        // (two for SCRAM), before Metadata or Produce.
        let auths = n
            .requests
            .iter()
            .filter(|(_, _, api)| *api == ApiKey::SaslAuthenticate)
            .count() as u64;
        let per = match mechanism {
            Mechanism::ScramSha256 | Mechanism::ScramSha512 => 2,
            _ => 1,
        };
        assert_eq!(auths, per * stats.authentications, "{mechanism}");
    }
}

/// A wrong password: every record fails once with the mechanism named and
/// the broker's message, and connections are retried at most once per
/// `reconnect.backoff.max.ms`.
#[test]
fn a_refused_password_fails_the_records_with_the_brokers_words_and_no_storm() {
    for mechanism in [
        Mechanism::Plain,
        Mechanism::ScramSha256,
        Mechanism::ScramSha512,
    ] {
        let c = cluster(&Mechanism::ALL, None);
        let mut b = config(&c, mechanism, "wrong");
        b.reconnect_backoff_max(Duration::from_millis(1_000));
        let mut n = net(c, &b);
        send_many(&mut n, 50);
        assert!(n.run_until(Duration::from_secs(5), |n| n.events.len() == 50));
        for e in &n.events {
            let Event::Failed {
                error: ProduceError::Authentication(a),
                ..
            } = e
            else {
                panic!("{mechanism}: {e:?}");
            };
            assert_eq!(a.mechanism, mechanism);
            assert_eq!(a.failure, AuthenticationFailure::Refused);
            assert!(
                a.message
                    .as_deref()
                    .unwrap()
                    .contains("Authentication failed")
            );
            let text = e_text(e);
            assert!(
                text.contains(mechanism.name()) && text.contains("broker"),
                "{text}"
            );
        }
        // Records keep coming for 20 s: connections every second at most.
        let before = n.connects.len();
        for s in 0..20u64 {
            n.producer
                .send(Record::new("t").value("x").user(1000 + s), n.now)
                .unwrap();
            n.run_for(Duration::from_secs(1));
        }
        let attempts = n.connects.len() - before;
        assert!(
            (5..=22).contains(&attempts),
            "{mechanism}: {attempts} connection attempts in 20 s"
        );
        assert_eq!(stored(&n), 0);
        assert_eq!(n.producer.pending_records(), 0, "every record ended");
    }
}

fn e_text(e: &Event<u64>) -> String {
    match e {
        Event::Failed { error, .. } => error.to_string(),
        other => format!("{other:?}"),
    }
}

/// The broker does not enable the producer's mechanism: the error lists
/// the ones it does.
#[test]
fn an_unknown_mechanism_names_the_ones_the_broker_enables() {
    let c = cluster(&[Mechanism::ScramSha512], None);
    let mut n = net(c.clone(), &config(&c, Mechanism::Plain, PASSWORD));
    send_many(&mut n, 3);
    assert!(n.run_until(Duration::from_secs(5), |n| n.events.len() == 3));
    let Event::Failed {
        error: ProduceError::Authentication(a),
        ..
    } = &n.events[0]
    else {
        panic!("{:?}", n.events[0]);
    };
    assert_eq!(
        a.failure,
        AuthenticationFailure::UnsupportedMechanism {
            enabled: vec!["SCRAM-SHA-512".into()]
        }
    );
    assert!(
        a.to_string()
            .contains("does not enable PLAIN; it enables [SCRAM-SHA-512]")
    );
}

/// KIP-368: sessions of 2 s, records flowing for 30 s with requests in
/// flight all the time. Each connection re-authenticates before its session
/// ends, no request is cut by an expired session, none is retried, and
/// every record is delivered once.
#[test]
fn reauthentication_keeps_sessions_alive_without_losing_a_request() {
    for mechanism in [Mechanism::Plain, Mechanism::ScramSha512] {
        let c = cluster(&Mechanism::ALL, Some(Duration::from_secs(2)));
        let mut b = config(&c, mechanism, PASSWORD);
        b.max_in_flight_requests_per_connection(5);
        let mut n = net(c, &b);
        n.faults.latency = Latency::fixed(Duration::from_millis(20));
        let mut sent = 0u64;
        for _ in 0..3_000 {
            let r = Record::new("t").value(format!("v{sent}")).user(sent);
            n.producer.send(r, n.now).unwrap();
            sent += 1;
            n.run_for(Duration::from_millis(10));
        }
        assert!(n.run_until(Duration::from_secs(30), |n| n.events.len() == sent as usize));
        assert_eq!(delivered(&n), sent as usize, "{mechanism}");
        assert_eq!(stored(&n), sent as usize, "{mechanism}");
        let stats = &n.cluster.sasl.as_ref().unwrap().stats;
        // 30 s of 2 s sessions on 3 connections (plus the bootstrap one).
        assert!(stats.reauthentications >= 30, "{mechanism}: {stats:?}");
        assert_eq!(stats.expired_sessions_closed, 0, "{mechanism}: {stats:?}");
        assert_eq!(stats.unauthenticated_requests, 0, "{mechanism}");
        let m = n.producer.metrics();
        assert_eq!(m.batch_retry_total, 0, "{mechanism}: a request was lost");
        assert_eq!(
            m.connection_close_total, 0,
            "{mechanism}: a connection closed"
        );
    }
}

/// OAUTHBEARER with the application's tokens: asked for once per token,
/// refreshed before expiry (tokens of 3 s, sessions capped by them), so a
/// run of 20 s never authenticates with an expired token.
#[test]
fn oauthbearer_tokens_are_asked_for_and_refreshed_before_they_expire() {
    let mut c = cluster(&Mechanism::ALL, None);
    c.sasl.as_mut().unwrap().token_lifetime = Duration::from_secs(3);
    let mut n = net(c.clone(), &config(&c, Mechanism::OAuthBearer, ""));
    let mut sent = 0u64;
    for _ in 0..200 {
        let r = Record::new("t").value(format!("v{sent}")).user(sent);
        n.producer.send(r, n.now).unwrap();
        sent += 1;
        n.run_for(Duration::from_millis(100));
    }
    assert!(n.run_until(Duration::from_secs(10), |n| n.events.len() == sent as usize));
    assert_eq!(delivered(&n), sent as usize);
    let stats = &n.cluster.sasl.as_ref().unwrap().stats;
    // Sessions end with their token: each connection re-authenticated
    // with a fresh one.
    assert!(stats.reauthentications >= 12, "{stats:?}");
    assert_eq!(stats.refusals, 0, "{stats:?}");
    assert_eq!(stats.expired_sessions_closed, 0, "{stats:?}");
}

/// A token that has expired: one the application knows expired is refused
/// when given; one the identity provider let expire while the application
/// thinks it valid (their clocks differ) is refused by the broker, with
/// its RFC 7628 document as the message.
#[test]
fn an_expired_token_is_refused_with_the_brokers_document() {
    let c = cluster(&Mechanism::ALL, None);
    let mut n = net(c.clone(), &config(&c, Mechanism::OAuthBearer, ""));
    // The application has only this token to give.
    n.issue_tokens = false;
    let mut token = n
        .cluster
        .sasl
        .as_mut()
        .unwrap()
        .issue_token_for("sim", Instant::from_millis(1_699_999_999_000));
    assert_eq!(
        n.producer.set_oauthbearer_token(token.clone(), n.now),
        Err(kafka_producer_proto::sasl::InvalidToken::Expired)
    );
    token.expires_at = n.now + Duration::from_secs(3600);
    n.producer.set_oauthbearer_token(token, n.now).unwrap();
    send_many(&mut n, 2);
    let failed = |n: &SimNet<u64>| {
        n.events
            .iter()
            .filter_map(|e| match e {
                Event::Failed { error, .. } => Some(error.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert!(n.run_until(Duration::from_secs(5), |n| failed(n).len() == 2));
    let ProduceError::Authentication(a) = &failed(&n)[0] else {
        panic!("{:?}", n.events);
    };
    assert_eq!(a.failure, AuthenticationFailure::Refused);
    assert_eq!(a.message.as_deref(), Some(r#"{"status":"invalid_token"}"#));
}

/// Without a token, the producer asks once (not once per connection or
/// per wake-up), waits, and goes on when it comes; a token the broker
/// cannot take is refused before it is sent.
#[test]
fn the_producer_asks_for_a_token_once_and_waits_for_it() {
    let c = cluster(&Mechanism::ALL, None);
    let mut n = net(c.clone(), &config(&c, Mechanism::OAuthBearer, ""));
    n.issue_tokens = false;
    n.producer
        .send(Record::new("t").value("v").user(0), n.now)
        .unwrap();
    n.run_for(Duration::from_secs(1));
    let asks = n
        .events
        .iter()
        .filter(|e| matches!(e, Event::OAuthBearerTokenRequired))
        .count();
    assert_eq!(asks, 1);
    assert_eq!(n.cluster.sasl.as_ref().unwrap().stats.authentications, 0);
    let token = n.cluster.sasl.as_mut().unwrap().issue_token(n.now);
    n.producer.set_oauthbearer_token(token, n.now).unwrap();
    assert!(n.run_until(Duration::from_secs(5), |n| delivered(n) == 1));
    assert!(
        n.producer
            .set_oauthbearer_token(OAuthBearerToken::new("not a token", START), n.now)
            .is_err()
    );
}

/// SCRAM's client nonce comes from the producer's seeded generator: the
/// same seed gives the same bytes on the wire; another seed, others.
#[test]
fn scram_runs_replay_exactly() {
    let run = |seed: u64| {
        let c = cluster(&Mechanism::ALL, None);
        let mut b = config(&c, Mechanism::ScramSha256, PASSWORD);
        b.random_seed(seed);
        let mut n = net(c, &b);
        send_many(&mut n, 20);
        assert!(n.run_until(Duration::from_secs(5), |n| delivered(n) == 20));
        format!("{:?}", n.attempts.batches) + &format!("{:?}", n.requests)
    };
    assert_eq!(run(7), run(7));
}

/// Slow handshakes and connections dropped mid-handshake cost time, not
/// records.
#[test]
fn slow_and_dropped_handshakes_are_retried_to_success() {
    let c = cluster(&Mechanism::ALL, None);
    let mut n = net(c.clone(), &config(&c, Mechanism::ScramSha512, PASSWORD));
    n.sasl_faults = SaslFaults {
        slow: Chance::percent(30),
        slow_extra: Duration::from_millis(500),
        drop: Chance::percent(30),
        refuse: Chance::NEVER,
    };
    n.entropy = Entropy::seeded(3);
    for i in 0..500u64 {
        let r = Record::new("t").key(format!("k{i}")).value("v").user(i);
        n.producer.send(r, n.now).unwrap();
    }
    assert!(n.run_until(Duration::from_secs(120), |n| n.events.len() == 500));
    assert_eq!(delivered(&n), 500);
    assert!(
        n.tally.slow_handshakes > 0 && n.tally.handshakes_dropped > 0,
        "{:?}",
        n.tally
    );
}
