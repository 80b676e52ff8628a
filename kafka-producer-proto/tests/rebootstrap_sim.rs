//! REBOOTSTRAP_REQUIRED (Metadata v13's top-level error, KIP-1102) against
//! the simulated cluster: the producer forgets the brokers it learned,
//! drains and closes its connections to them, asks the bootstrap servers
//! again after the retry backoff, and loses nothing on the way.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_producer_proto::sim::{SimCluster, SimNet};
use kafka_producer_proto::wire::ApiKey;
use kafka_producer_proto::{Config, Event, Instant, KafkaCode, Producer, Record};

const START: Instant = Instant::from_millis(1_700_000_000_000);
const BACKOFF: Duration = Duration::from_millis(100);

/// Three brokers; the topic's two partitions are led by nodes 0 and 1;
/// the only bootstrap server is node 2.
fn net() -> SimNet<u64> {
    let mut c = SimCluster::new(3);
    c.create_topic("t", 2);
    let b = &c.brokers()[2];
    let bootstrap = format!("{}:{}", b.host, b.port);
    let config = Config::builder()
        .bootstrap_servers(&bootstrap)
        .metadata_max_age(Duration::from_secs(2))
        .retry_backoff(BACKOFF)
        .build()
        .unwrap();
    SimNet::new(Producer::new(config, START), c, START)
}

fn send(n: &mut SimNet<u64>, i: u64) {
    let now = n.now;
    let r = Record::new("t")
        .value(format!("{i}"))
        .partition((i % 2) as i32)
        .user(i);
    n.producer.send(r, now).unwrap();
}

fn terminal(n: &SimNet<u64>) -> usize {
    n.events
        .iter()
        .filter(|e| matches!(e, Event::Delivered { .. } | Event::Failed { .. }))
        .count()
}

#[test]
fn rebootstrap_required_goes_back_to_the_bootstrap_servers() {
    let mut n = net();
    for i in 0..100 {
        send(&mut n, i);
    }
    assert!(n.run_until(Duration::from_secs(10), |n| terminal(n) == 100));
    let before = n.now;
    let connects_before = n.connects.len();
    // The next three Metadata answers (the refresh by age, and the two
    // after it) say: start again.
    n.cluster
        .inject(ApiKey::Metadata, &[KafkaCode::RebootstrapRequired; 3]);
    // Records keep coming meanwhile, so requests are in flight on the
    // connections being given up.
    for i in 100..400 {
        send(&mut n, i);
        n.run_for(Duration::from_millis(20));
    }
    assert!(n.run_until(Duration::from_secs(60), |n| terminal(n) == 400));
    assert_eq!(n.cluster.injected_left(ApiKey::Metadata), 0);

    // Nothing lost, nothing twice, send order kept per partition.
    let mut logs: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for p in 0..2 {
        for r in n.cluster.log("t", p) {
            let v = std::str::from_utf8(r.value.as_deref().unwrap()).unwrap();
            logs.entry(p).or_default().push(v.parse().unwrap());
        }
    }
    for (p, values) in &logs {
        let want: Vec<u64> = (0..400).filter(|i| (i % 2) as usize == *p).collect();
        assert_eq!(values, &want, "partition {p}");
    }
    assert!(n.events.iter().all(|e| !matches!(e, Event::Failed { .. })));

    // The Metadata requests after the first refusal went to the bootstrap
    // server (node 2) only, each after the retry backoff.
    let metadata: Vec<(Instant, i32)> = n
        .requests
        .iter()
        .filter(|(t, _, api)| *t > before && *api == ApiKey::Metadata)
        .map(|(t, node, _)| (*t, *node))
        .collect();
    assert!(metadata.len() >= 4, "{metadata:?}");
    for w in metadata[..4].windows(2) {
        assert_eq!(w[1].1, 2, "after a rebootstrap, only the bootstrap server");
        assert!(w[1].0 - w[0].0 >= BACKOFF, "{metadata:?}");
    }
    // Node 2 leads nothing: no batch went to it, not even while no leader
    // was known (a leaderless partition's -1 is not the first bootstrap
    // server's id).
    assert!(
        !n.requests
            .iter()
            .any(|(_, node, api)| *api == ApiKey::Produce && *node == 2)
    );
    // The leaders' connections were closed and opened again afresh.
    let reconnected: Vec<i32> = n.connects[connects_before..]
        .iter()
        .map(|(_, node)| *node)
        .collect();
    assert!(
        reconnected.contains(&0) && reconnected.contains(&1),
        "{reconnected:?}"
    );
}

#[test]
fn below_metadata_v13_there_is_no_rebootstrap() {
    // A broker speaking Metadata v12 cannot say REBOOTSTRAP_REQUIRED: the
    // simulated one answers normally, and the producer keeps its
    // connections.
    let mut n = net();
    n.cluster.cap_version(ApiKey::Metadata, 12);
    n.cluster
        .inject(ApiKey::Metadata, &[KafkaCode::RebootstrapRequired]);
    for i in 0..100 {
        send(&mut n, i);
    }
    assert!(n.run_until(Duration::from_secs(10), |n| terminal(n) == 100));
    // Bootstrap (node 2), then the two leaders: nothing reconnected.
    let nodes: Vec<i32> = n.connects.iter().map(|(_, node)| *node).collect();
    assert_eq!(n.cluster.injected_left(ApiKey::Metadata), 0);
    assert_eq!(nodes.len(), 3, "{nodes:?}");
}
