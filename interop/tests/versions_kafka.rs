//! Version negotiation against Apache Kafka 4.1.1 (`scripts/kafka`): the
//! producer speaks every API at the broker's highest version capped by its
//! own, as the broker itself advertises it (asked independently, with the
//! codec-only wire client), and what it produced at those versions reads
//! back with the rdkafka consumer.
//!
//! Needs Kafka installed (`scripts/kafka install`); without it the test
//! fails saying so.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_producer_interop::kafka::KafkaCluster;
use kafka_producer_interop::roundtrip::{self, Sent};
use kafka_producer_interop::wire_client::Connection;
use kafka_producer_proto::wire::ApiKey;
use kafka_producer_proto::wire::version_negotiation::choose_version;
use kafka_producer_proto::{Config, Event, Record};
use kafka_producer_tokio::TokioDriver;

const TOPIC: &str = "kpp-versions";
const PARTITIONS: i32 = 2;
const RECORDS: usize = 500;

#[test]
fn every_api_is_negotiated_at_the_brokers_max_capped_by_ours() {
    let kafka = KafkaCluster::shared();
    kafka.create_topic(TOPIC, PARTITIONS, 1, &[]);
    let broker = Connection::connect(kafka.broker_address(1)).broker_versions;
    let want: Vec<(ApiKey, i16)> = ApiKey::ALL
        .iter()
        .filter_map(|api| {
            let theirs = *broker.get(&api.as_i16())?;
            choose_version(api.client_versions(), theirs).map(|v| (*api, v))
        })
        .collect();
    // The facts this run is about, as Kafka 4.1.1 advertises them: Produce
    // and Metadata at 13 (topic ids, the top-level error), InitProducerId
    // at 5 (v6 is unstable, not advertised), AddPartitionsToTxn at 3 for a
    // client although the broker speaks 5.
    let version = |api: ApiKey| want.iter().find(|(a, _)| *a == api).map(|(_, v)| *v);
    assert_eq!(version(ApiKey::Produce), Some(13), "{broker:?}");
    assert_eq!(version(ApiKey::Metadata), Some(13), "{broker:?}");
    assert_eq!(version(ApiKey::InitProducerId), Some(5), "{broker:?}");
    assert_eq!(broker[&ApiKey::AddPartitionsToTxn.as_i16()].1, 5);
    assert_eq!(version(ApiKey::AddPartitionsToTxn), Some(3));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let sent: Vec<Sent> = (0..RECORDS).map(roundtrip::record).collect();
    let (events, negotiated) = runtime.block_on(async {
        let config = Config::builder()
            .bootstrap_servers(kafka.bootstrap())
            .build()
            .unwrap();
        let mut d: TokioDriver<u64> = TokioDriver::from_config(config);
        for (i, s) in sent.iter().enumerate() {
            let mut r = Record::new(TOPIC)
                .timestamp(s.timestamp)
                .partition(i as i32 % PARTITIONS)
                .user(i as u64);
            r.key = s.key.clone().map(Bytes::from);
            r.value = s.value.clone().map(Bytes::from);
            for (k, v) in &s.headers {
                r = r.header(k.clone(), v.clone().map(Bytes::from));
            }
            d.send(r).await.unwrap();
        }
        d.flush().await;
        // The broker (node 1) leads both partitions; -1 is the same broker
        // as the bootstrap server.
        let negotiated = [1, -1].map(|node| (node, d.producer().api_versions(node)));
        d.close().await;
        (d.take_events(), negotiated)
    });
    for (node, versions) in negotiated {
        assert_eq!(versions, want, "node {node}");
    }
    let delivered: BTreeMap<u64, (i32, i64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Delivered {
                user,
                partition,
                offset,
                ..
            } => Some((*user, (*partition, offset.expect("acks=all gives offsets")))),
            Event::Failed { record, error, .. } => {
                panic!("record {} failed: {error}", record.user)
            }
            _ => None,
        })
        .collect();
    assert_eq!(delivered.len(), RECORDS);
    // Read back independently, field for field, in send order.
    let got = roundtrip::read_back(kafka.bootstrap(), TOPIC, PARTITIONS, RECORDS);
    for (partition, records) in &got {
        let mut expected = (0..RECORDS).filter(|i| *i as i32 % PARTITIONS == *partition);
        for (offset, record) in records {
            let i = expected.next().expect("no more records than sent");
            assert_eq!(record, &sent[i], "record {i}");
            assert_eq!(delivered[&(i as u64)], (*partition, *offset), "record {i}");
        }
        assert!(
            expected.next().is_none(),
            "partition {partition}: records missing"
        );
    }
}
