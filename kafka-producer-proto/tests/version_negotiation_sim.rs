//! ApiVersions negotiation against simulated brokers that claim older
//! versions: every API is chosen at min(ours, the broker's), on every
//! connection, and Produce requests go out at the version chosen. The
//! simulated brokers refuse (close on) any request above what they claim,
//! so a version chosen too high would also fail the run.

use std::time::Duration;

use kafka_producer_proto::sim::{SimCluster, SimNet};
use kafka_producer_proto::wire::ApiKey;
use kafka_producer_proto::wire::version_negotiation::choose_version;
use kafka_producer_proto::{Config, Event, Instant, Producer, Record};

const START: Instant = Instant::from_millis(1_700_000_000_000);

/// A small deterministic generator: the caps differ per trial, the same
/// on every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// What a broker capped at `cap` claims for `api`.
fn claimed(api: ApiKey, cap: i16) -> (i16, i16) {
    let (min, max) = api.versions();
    (min, max.min(cap))
}

#[test]
fn every_api_is_chosen_at_the_highest_version_both_sides_speak() {
    let mut rng = Lcg(7);
    for trial in 0..40 {
        let mut cluster = SimCluster::new(3);
        cluster.create_topic("t", 3);
        // Each API capped somewhere in its range (or not at all), the
        // ones a producer needs kept usable.
        let caps: Vec<(ApiKey, i16)> = ApiKey::ALL
            .iter()
            .map(|api| {
                let (min, max) = api.versions();
                let span = (max - min + 2) as u64;
                (*api, min + rng.below(span) as i16)
            })
            .collect();
        for (api, cap) in &caps {
            cluster.cap_version(*api, *cap);
        }
        let config = Config::builder()
            .bootstrap_servers(&cluster.bootstrap_servers())
            .build()
            .unwrap();
        let mut n = SimNet::new(Producer::<u64>::new(config, START), cluster, START);
        for i in 0..60u64 {
            let now = n.now;
            let r = Record::new("t")
                .value(format!("{i}"))
                .partition((i % 3) as i32)
                .user(i);
            n.producer.send(r, now).unwrap();
        }
        assert!(
            n.run_until(Duration::from_secs(30), |n| n.events.len() == 60),
            "trial {trial}: caps {caps:?}"
        );
        assert!(
            n.events
                .iter()
                .all(|e| matches!(e, Event::Delivered { .. })),
            "trial {trial}: caps {caps:?}"
        );
        let expected: Vec<(ApiKey, i16)> = caps
            .iter()
            .filter_map(|(api, cap)| {
                choose_version(api.client_versions(), claimed(*api, *cap)).map(|v| (*api, v))
            })
            .collect();
        // The three brokers, each a partition's leader.
        for node in 0..3 {
            assert_eq!(
                n.producer.api_versions(node),
                expected,
                "trial {trial}, node {node}: caps {caps:?}"
            );
        }
        let version_of = |api| expected.iter().find(|(a, _)| *a == api).map(|(_, v)| *v);
        // Produce v13 names topics by the ids Metadata gives from v10:
        // without them the producer stays at v12.
        let produce = version_of(ApiKey::Produce).map(|v| {
            if version_of(ApiKey::Metadata).is_some_and(|m| m < 10) {
                v.min(12)
            } else {
                v
            }
        });
        assert!(!n.attempts.batches.is_empty());
        for a in &n.attempts.batches {
            assert_eq!(Some(a.version), produce, "trial {trial}: caps {caps:?}");
        }
    }
}
