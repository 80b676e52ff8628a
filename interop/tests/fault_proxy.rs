//! The fault-injecting proxy (tests/support/fault_proxy.rs) against
//! librdkafka's mock cluster: it must be invisible when idle, and each
//! fault must do exactly what the idempotence tests will rely on. The last
//! test drives the real Producer through it and measures how many
//! duplicates cuts cause without idempotence: the baseline that the
//! idempotent producer has to bring to zero.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_producer_interop::fault_proxy::{FaultProxy, parse_addrs};
use kafka_producer_interop::wire_client::Connection;
use kafka_producer_interop::{fault_proxy, roundtrip};
use kafka_producer_proto::wire::Request;
use kafka_producer_proto::wire::header::encode_request;
use kafka_producer_proto::wire::messages::metadata::MetadataRequestTopic;
use kafka_producer_proto::wire::messages::produce::{PartitionProduceData, TopicProduceData};
use kafka_producer_proto::wire::messages::{
    ApiKey, ApiVersionsRequest, MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse,
};
use kafka_producer_proto::wire::record_batch::{BatchBuilder, ProducerState};
use kafka_producer_proto::{Config, Event, KafkaCode, Record};
use kafka_producer_tokio::TokioDriver;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;

type Mock = MockCluster<'static, rdkafka::producer::DefaultProducerContext>;

const PARTITIONS: i32 = 4;

fn mock(topic: &str) -> Mock {
    let cluster = MockCluster::new(3).expect("librdkafka mock cluster");
    cluster
        .create_topic(topic, PARTITIONS, 1)
        .expect("create topic");
    cluster
}

/// A proxy port for every broker of the mock cluster.
fn proxy_for(cluster: &Mock) -> FaultProxy {
    let upstreams = parse_addrs(&cluster.bootstrap_servers());
    assert_eq!(upstreams.len(), 3, "the mock lists every broker");
    FaultProxy::start_multi(&upstreams)
}

fn frame<R: Request>(correlation_id: i32, version: i16, request: &R) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode_request(
        &mut buf,
        correlation_id,
        Some("fault-proxy-test"),
        version,
        request,
    )
    .unwrap();
    buf.to_vec()
}

fn raw_connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// One whole response frame, size prefix included; `None` at end of stream.
fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut size = [0u8; 4];
    match s.read_exact(&mut size) {
        Ok(()) => {}
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
            ) =>
        {
            return None;
        }
        Err(e) => panic!("read: {e}"),
    }
    let mut out = size.to_vec();
    out.resize(4 + i32::from_be_bytes(size) as usize, 0);
    s.read_exact(&mut out[4..]).expect("the rest of the frame");
    Some(out)
}

/// Everything the peer sends until it closes. A timeout fails the test:
/// every fault here must end in a close, not in silence.
fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("waiting for the close: {e}"),
        }
    }
}

fn metadata_for(topic: &str) -> MetadataRequest {
    MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(topic.into())),
    ]))
}

fn addresses(m: &MetadataResponse) -> BTreeMap<i32, SocketAddr> {
    m.brokers
        .iter()
        .map(|b| (b.node_id, parse_addrs(&format!("{}:{}", b.host, b.port))[0]))
        .collect()
}

fn leader_of(m: &MetadataResponse, topic: &str, partition: i32) -> SocketAddr {
    let t = m
        .topics
        .iter()
        .find(|t| t.name.as_deref() == Some(topic))
        .expect("topic in metadata");
    let p = t
        .partitions
        .iter()
        .find(|p| p.partition_index == partition)
        .expect("partition in metadata");
    addresses(m)[&p.leader_id]
}

fn batch(values: impl IntoIterator<Item = String>) -> Bytes {
    let mut b = BatchBuilder::new(BytesMut::new(), ProducerState::NONE, false);
    for (i, v) in values.into_iter().enumerate() {
        let headers: [(&str, Option<&[u8]>); 0] = [];
        b.append(
            1_700_000_000_000 + i as i64,
            None,
            Some(v.as_bytes()),
            headers,
        )
        .unwrap();
    }
    b.finish()
}

fn produce_request(topic: &str, partition: i32, records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic.into())
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records)),
                ]),
        ])
}

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

#[test]
fn traffic_passes_through_unchanged() {
    let topic = "pass-through";
    let cluster = mock(topic);
    let direct = cluster.bootstrap_servers();
    let upstreams = parse_addrs(&direct);
    let proxy = proxy_for(&cluster);

    // Byte for byte: the same request gets the same answer either way.
    let request = frame(7, 0, &ApiVersionsRequest::default());
    let mut d = raw_connect(upstreams[0]);
    d.write_all(&request).unwrap();
    let want = read_frame(&mut d).expect("direct answer");
    let mut p = raw_connect(proxy.addr());
    p.write_all(&request).unwrap();
    assert_eq!(read_frame(&mut p).expect("proxied answer"), want);

    // Negotiation and Metadata: same versions and topics, but every broker
    // address is now a proxy port, so a client never leaves the proxy.
    let mut direct_conn = Connection::connect(&upstreams[0].to_string());
    let mut proxied_conn = Connection::connect(&proxy.addr().to_string());
    assert_eq!(proxied_conn.broker_versions, direct_conn.broker_versions);
    let direct_md = direct_conn.call(&metadata_for(topic));
    let proxied_md = proxied_conn.call(&metadata_for(topic));
    assert_eq!(proxied_md.topics, direct_md.topics);
    assert_eq!(
        addresses(&direct_md)
            .values()
            .copied()
            .collect::<BTreeSet<_>>(),
        upstreams.iter().copied().collect::<BTreeSet<_>>()
    );
    for (node, addr) in addresses(&proxied_md) {
        let upstream = addresses(&direct_md)[&node];
        assert_eq!(Some(addr), proxy.proxy_for(upstream), "broker {node}");
    }

    // Produce to every leader through the proxy; the independent consumer,
    // reading directly, sees exactly what was sent.
    let before = proxy.stats();
    let produced = roundtrip::produce(&proxy.bootstrap(), topic, 1200);
    assert_eq!(produced.brokers, 3);
    let got = roundtrip::read_back(&direct, topic, PARTITIONS, 1200);
    for (partition, sent) in &produced.sent {
        let log: Vec<&roundtrip::Sent> = got[partition].iter().map(|(_, r)| r).collect();
        assert_eq!(
            log,
            sent.iter().collect::<Vec<_>>(),
            "partition {partition}"
        );
    }
    let stats = proxy.stats();
    assert!(
        stats.requests - before.requests >= produced.requests as u64,
        "every Produce went through the proxy: {stats:?}"
    );
    assert!(
        stats.connections >= 4,
        "the bootstrap connection and one per leader: {stats:?}"
    );
    assert_eq!(stats.requests, stats.responses, "{stats:?}");
    assert!(stats.rewritten >= 2, "{stats:?}");
    assert_eq!((stats.cuts, stats.held, stats.mid_frame_drops), (0, 0, 0));
}

#[test]
fn a_cut_request_is_applied_but_never_answered() {
    let topic = "cut";
    let cluster = mock(topic);
    let direct = cluster.bootstrap_servers();
    let proxy = proxy_for(&cluster);
    let mut conn = Connection::connect(&proxy.addr().to_string());
    let leader = leader_of(&conn.call(&metadata_for(topic)), topic, 0);
    assert!(
        proxy.addrs().contains(&leader),
        "leader {leader} is proxied"
    );
    let version = conn.version_for(ApiKey::Produce);
    drop(conn);

    // Two pipelined requests; the first is cut. The client sees the
    // connection close with no byte of a response.
    let mut s = raw_connect(leader);
    let cut = frame(
        1,
        version,
        &produce_request(topic, 0, batch(values("cut", 10))),
    );
    let after = frame(
        2,
        version,
        &produce_request(topic, 0, batch(values("after", 5))),
    );
    proxy.cut_after_next_request();
    let started = Instant::now();
    s.write_all(&[cut, after].concat()).unwrap();
    assert_eq!(read_until_closed(&mut s), Vec::<u8>::new());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the cut follows the broker's answer, not the grace period"
    );
    assert!(proxy.wait_for(Duration::from_secs(5), |s| s.cuts == 1));

    // The broker applied the cut request and nothing after it: the next
    // batch lands at offset 10. The cut was one-shot: this one is answered.
    let mut conn = Connection::connect(&leader.to_string());
    let response: ProduceResponse = conn.call_version(
        version,
        &produce_request(topic, 0, batch(values("next", 3))),
    );
    let p = &response.responses[0].partition_responses[0];
    assert_eq!(KafkaCode::from_i16(p.error_code), KafkaCode::None);
    assert_eq!(p.base_offset, 10, "the cut batch is in the log, once");

    let log: Vec<String> = roundtrip::read_back(&direct, topic, 1, 13)[&0]
        .iter()
        .map(|(_, r)| String::from_utf8(r.value.clone().unwrap()).unwrap())
        .collect();
    let want: Vec<String> = values("cut", 10)
        .into_iter()
        .chain(values("next", 3))
        .collect();
    assert_eq!(log, want);
    assert_eq!(proxy.stats().cuts, 1);
}

#[test]
fn every_nth_response_cuts_the_next_request() {
    let cluster = mock("every-n");
    let proxy = proxy_for(&cluster);
    proxy.cut_every_n_responses(3);
    // One request at a time, reconnecting after each cut: responses 3, 6,
    // 9, ... arm a cut of the request that follows them.
    let request = frame(1, 0, &ApiVersionsRequest::default());
    let mut s = raw_connect(proxy.addr());
    let mut cut = Vec::new();
    for i in 1..=20 {
        s.write_all(&request).unwrap();
        if read_frame(&mut s).is_none() {
            cut.push(i);
            s = raw_connect(proxy.addr());
        }
    }
    assert_eq!(cut, vec![4, 8, 12, 16, 20]);
    let counted = |s: &fault_proxy::ProxyStats| (s.cuts, s.responses, s.requests) == (5, 15, 20);
    assert!(
        proxy.wait_for(Duration::from_secs(5), counted),
        "{:?}",
        proxy.stats()
    );

    proxy.cut_every_n_responses(0);
    let mut s = raw_connect(proxy.addr());
    for _ in 0..10 {
        s.write_all(&request).unwrap();
        assert!(read_frame(&mut s).is_some(), "0 turns cutting off");
    }
}

#[test]
fn held_responses_arrive_no_sooner_than_the_hold() {
    let topic = "hold";
    let cluster = mock(topic);
    let proxy = proxy_for(&cluster);
    let mut conn = Connection::connect(&proxy.addr().to_string());
    let hold = Duration::from_millis(400);
    proxy.hold_responses(hold);

    let started = Instant::now();
    conn.call(&metadata_for(topic));
    assert!(started.elapsed() >= hold, "{:?}", started.elapsed());

    // Pipelined responses are each held from their own arrival, not one
    // after another: five of them take about one hold, not five.
    let mut s = raw_connect(proxy.addr());
    let requests: Vec<u8> = (1..=5)
        .flat_map(|c| frame(c, 0, &ApiVersionsRequest::default()))
        .collect();
    let started = Instant::now();
    s.write_all(&requests).unwrap();
    for c in 1..=5 {
        let f = read_frame(&mut s).expect("held, not dropped");
        assert_eq!(i32::from_be_bytes(f[4..8].try_into().unwrap()), c, "order");
    }
    let took = started.elapsed();
    assert!(took >= hold && took < hold * 4, "{took:?}");

    // Release lets a response that is being held go at once.
    proxy.hold_responses(Duration::from_secs(60));
    let started = Instant::now();
    s.write_all(&frame(6, 0, &ApiVersionsRequest::default()))
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    proxy.release();
    read_frame(&mut s).expect("released");
    assert!(started.elapsed() < Duration::from_secs(5));

    let started = Instant::now();
    conn.call(&metadata_for(topic));
    assert!(started.elapsed() < hold, "no hold after release");
    assert_eq!(proxy.stats().held, 1 + 5 + 1);
}

#[test]
fn a_mid_frame_drop_leaves_a_partial_frame_then_eof() {
    let cluster = mock("mid-frame");
    let upstreams = parse_addrs(&cluster.bootstrap_servers());
    let proxy = proxy_for(&cluster);
    let request = frame(9, 0, &ApiVersionsRequest::default());
    let mut d = raw_connect(upstreams[0]);
    d.write_all(&request).unwrap();
    let full = read_frame(&mut d).unwrap();

    proxy.drop_mid_frame_next_response();
    let mut s = raw_connect(proxy.addr());
    s.write_all(&request).unwrap();
    let partial = read_until_closed(&mut s);
    assert!(
        partial.len() > 4 && partial.len() < full.len(),
        "{} of {} bytes",
        partial.len(),
        full.len()
    );
    assert_eq!(&full[..partial.len()], &partial[..], "a true prefix");
    assert!(proxy.wait_for(Duration::from_secs(5), |s| s.mid_frame_drops == 1));

    // One-shot: the next connection is answered whole.
    let mut s = raw_connect(proxy.addr());
    s.write_all(&request).unwrap();
    assert_eq!(read_frame(&mut s), Some(full));
}

/// The real Producer (tokio driver, idempotence off) through a proxy that
/// cuts a connection after every 5th response. Every record must end in
/// exactly one terminal event and every delivered record must be in the
/// log where the producer said; duplicates are allowed here and counted:
/// they are the baseline the idempotent producer must bring to zero.
#[test]
fn producer_through_cuts_every_5_responses_duplicate_baseline() {
    let topic = "producer-cuts";
    let cluster = mock(topic);
    let direct = cluster.bootstrap_servers();
    let proxy = proxy_for(&cluster);
    let count = 50_000u64;

    let mut b = Config::builder();
    b.bootstrap_servers(&proxy.bootstrap())
        .enable_idempotence(false)
        .linger(Duration::from_millis(5))
        // Small batches make many requests, so that cuts hit Produce
        // requests often rather than a handful of large ones.
        .batch_size(4096)
        .retry_backoff(Duration::from_millis(10))
        .retry_backoff_max(Duration::from_millis(50))
        .reconnect_backoff(Duration::from_millis(10))
        .reconnect_backoff_max(Duration::from_millis(100));
    let config = b.build().unwrap();
    proxy.cut_every_n_responses(5);

    let started = Instant::now();
    let events = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let mut d: TokioDriver<u64> = TokioDriver::from_config(config);
            for i in 0..count {
                let r = Record::new(topic)
                    .key(format!("k{i}"))
                    .value(format!("record-{i}"))
                    .user(i);
                d.send(r).await.unwrap_or_else(|e| panic!("send {i}: {e}"));
            }
            d.flush().await;
            d.take_events()
        });
    let elapsed = started.elapsed();
    proxy.cut_every_n_responses(0);

    let mut delivered: BTreeMap<u64, (i32, Option<i64>)> = BTreeMap::new();
    let mut failed = BTreeMap::new();
    for e in events {
        let (user, fresh) = match e {
            Event::Delivered {
                user,
                partition,
                offset,
                ..
            } => (user, delivered.insert(user, (partition, offset)).is_none()),
            Event::Failed { record, error, .. } => (
                record.user,
                failed.insert(record.user, error.to_string()).is_none(),
            ),
            _ => continue,
        };
        assert!(fresh, "record {user} has two terminal events");
    }
    for i in 0..count {
        assert!(
            delivered.contains_key(&i) ^ failed.contains_key(&i),
            "record {i}: exactly one terminal event"
        );
    }

    // Read the whole log, however long the duplicates made it.
    let watermarks: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &direct)
        .create()
        .unwrap();
    let total: i64 = (0..PARTITIONS)
        .map(|p| {
            let (low, high) = watermarks
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap();
            high - low
        })
        .sum();
    let log = roundtrip::read_back(&direct, topic, PARTITIONS, total as usize);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut at: BTreeMap<(i32, i64), String> = BTreeMap::new();
    for (p, records) in &log {
        for (offset, r) in records {
            let v = String::from_utf8(r.value.clone().unwrap()).unwrap();
            *seen.entry(v.clone()).or_default() += 1;
            at.insert((*p, *offset), v);
        }
    }
    for (user, (partition, offset)) in &delivered {
        let v = format!("record-{user}");
        assert!(
            seen.contains_key(&v),
            "delivered record {user} is in the log"
        );
        if let Some(o) = offset {
            assert_eq!(
                at.get(&(*partition, *o)),
                Some(&v),
                "record {user} at partition {partition} offset {o}"
            );
        }
    }
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    let stats = proxy.stats();
    println!(
        "baseline without idempotence: {count} records, {} delivered, {} failed, \
         {total} in the log, {duplicates} duplicates ({} records written more than once); \
         proxy {stats:?}; {elapsed:?}",
        delivered.len(),
        failed.len(),
        seen.values().filter(|n| **n > 1).count(),
    );
    if let Some((user, error)) = failed.iter().next() {
        println!("first failure: record {user}: {error}");
    }
    assert!(
        stats.cuts >= 3,
        "the proxy cut connections under the producer: {stats:?}"
    );
    for v in seen.keys() {
        let i: Option<u64> = v.strip_prefix("record-").and_then(|i| i.parse().ok());
        assert!(
            i.is_some_and(|i| i < count),
            "the log holds only our records: {v:?}"
        );
    }
}
