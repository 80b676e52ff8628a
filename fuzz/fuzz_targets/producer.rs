#![no_main]
//! The whole Producer driven by an arbitrary sequence of inputs: sends,
//! time jumps, flush, close, connects and disconnects, raw bytes on any
//! connection, and answers from the simulated cluster carrying any error
//! code. Checked: nothing panics; no record gets two terminal events or an
//! event it was never accepted for; and once the producer is closed and
//! time runs past every deadline, every accepted record has its terminal
//! event, `Closed` came last, and all buffer memory is free again.
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use kafka_producer_proto::sim::{SimCluster, request_api};
use kafka_producer_proto::wire::FrameDecoder;
use kafka_producer_proto::{
    Config, ConnectionId, Event, Instant, KafkaCode, Producer, Record, RecordId,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    Send {
        topic: u8,
        key: Option<u8>,
        value_len: u8,
        partition: Option<u8>,
        header: Option<Option<u8>>,
    },
    Advance {
        millis: u16,
    },
    Flush,
    Close,
    /// The driver's answer to the oldest unanswered Connect.
    ConnectResult {
        ok: bool,
    },
    Disconnect {
        conn: u8,
    },
    Raw {
        conn: u8,
        bytes: Vec<u8>,
    },
    /// The cluster answers the oldest unanswered request, optionally with
    /// an error code injected.
    Answer {
        error: Option<i16>,
    },
    /// The oldest unanswered request gets no answer, ever.
    Drop,
}

#[derive(Arbitrary, Debug)]
struct Input {
    seed: u64,
    linger_ms: u8,
    max_in_flight: u8,
    acks: u8,
    ops: Vec<Op>,
}

struct Harness {
    p: Producer<u64>,
    cluster: SimCluster,
    now: Instant,
    nodes: BTreeMap<ConnectionId, i32>,
    connecting: VecDeque<ConnectionId>,
    frames: BTreeMap<ConnectionId, FrameDecoder>,
    pending: VecDeque<(ConnectionId, Bytes)>,
    accepted: BTreeMap<u64, u64>,
    terminal: BTreeSet<u64>,
    closed: bool,
    next_user: u64,
}

impl Harness {
    fn drain(&mut self) {
        loop {
            let mut progress = false;
            while let Some(t) = self.p.poll_transmit(self.now) {
                progress = true;
                let dec = self.frames.entry(t.conn).or_default();
                dec.push(&t.data);
                while let Ok(Some(f)) = dec.next_frame() {
                    self.pending.push_back((t.conn, f));
                }
            }
            while let Some(e) = self.p.poll_event() {
                progress = true;
                match e {
                    Event::Connect { conn, host, port } => {
                        if let Some(node) = self.cluster.node_at(&host, port) {
                            self.nodes.insert(conn, node);
                        }
                        self.connecting.push_back(conn);
                    }
                    Event::Disconnect { conn } => {
                        self.nodes.remove(&conn);
                        self.frames.remove(&conn);
                        self.pending.retain(|(c, _)| *c != conn);
                        self.connecting.retain(|c| *c != conn);
                    }
                    Event::Delivered { id, user, .. } => self.terminal_event(id, user),
                    Event::Failed { id, record, .. } => self.terminal_event(id, record.user),
                    Event::Closed => {
                        assert!(!self.closed, "two Closed events");
                        self.closed = true;
                    }
                    _ => {}
                }
            }
            if !progress {
                break;
            }
        }
    }

    fn terminal_event(&mut self, id: RecordId, user: u64) {
        assert_eq!(
            self.accepted.get(&id.0),
            Some(&user),
            "terminal event for {id:?} (user {user}): not what send accepted"
        );
        assert!(
            self.terminal.insert(user),
            "two terminal events for record {user}"
        );
        assert!(!self.closed, "a terminal event after Closed");
    }

    fn answer(&mut self, error: Option<i16>) {
        let Some((conn, frame)) = self.pending.pop_front() else {
            return;
        };
        let Some(node) = self.nodes.get(&conn).copied() else {
            return;
        };
        if let (Some(code), Some(api)) = (error, request_api(&frame)) {
            self.cluster.inject(api, &[KafkaCode::from_i16(code)]);
        }
        if let Some(answer) = self.cluster.handle(node, frame) {
            self.p.handle_response(conn, &answer, self.now);
        }
    }

    fn connect_result(&mut self, ok: bool) {
        let Some(conn) = self.connecting.pop_front() else {
            return;
        };
        if ok && self.nodes.contains_key(&conn) {
            self.p.handle_connected(conn, self.now);
        } else {
            self.nodes.remove(&conn);
            self.p.handle_disconnected(conn, self.now);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };
    let mut cluster = SimCluster::new(2);
    cluster.create_topic("t0", 2);
    cluster.create_topic("t1", 3);
    cluster.max_log_records = 10_000;
    let acks = ["0", "1", "all"][input.acks as usize % 3];
    let mut b = Config::builder();
    b.bootstrap_servers(&cluster.bootstrap_servers())
        .linger(Duration::from_millis(u64::from(input.linger_ms % 20)))
        .request_timeout(Duration::from_millis(500))
        .delivery_timeout(Duration::from_secs(3))
        .max_block(Duration::from_secs(1))
        .retry_backoff(Duration::from_millis(10))
        .retry_backoff_max(Duration::from_millis(200))
        .batch_size(512)
        .buffer_memory(64 * 1024)
        .max_in_flight_requests_per_connection(1 + input.max_in_flight as usize % 5)
        .allow_auto_create_topics(false)
        .random_seed(input.seed);
    b.set("acks", acks).expect("acks");
    let config = b.build().expect("valid config");
    let start = Instant::from_millis(1_700_000_000_000);
    let mut h = Harness {
        p: Producer::new(config, start),
        cluster,
        now: start,
        nodes: BTreeMap::new(),
        connecting: VecDeque::new(),
        frames: BTreeMap::new(),
        pending: VecDeque::new(),
        accepted: BTreeMap::new(),
        terminal: BTreeSet::new(),
        closed: false,
        next_user: 0,
    };
    for op in input.ops.into_iter().take(500) {
        match op {
            Op::Send {
                topic,
                key,
                value_len,
                partition,
                header,
            } => {
                let name = ["t0", "t1", "missing", "bad name"][topic as usize % 4];
                let user = h.next_user;
                h.next_user += 1;
                let mut r = Record::new(name)
                    .value(vec![b'v'; value_len as usize])
                    .user(user);
                if let Some(k) = key {
                    r = r.key(vec![k]);
                }
                if let Some(p) = partition {
                    r = r.partition(i32::from(p % 5) - 1);
                }
                if let Some(v) = header {
                    r = r.header("h", v.map(|b| vec![b]));
                }
                if let Ok(id) = h.p.send(r, h.now) {
                    assert!(
                        h.accepted.insert(id.0, user).is_none(),
                        "send returned {id:?} twice"
                    );
                }
            }
            Op::Advance { millis } => {
                h.now += Duration::from_millis(u64::from(millis));
                h.p.handle_timeout(h.now);
            }
            Op::Flush => h.p.flush(h.now),
            Op::Close => h.p.close(h.now),
            Op::ConnectResult { ok } => h.connect_result(ok),
            Op::Disconnect { conn } => {
                let id = h
                    .nodes
                    .keys()
                    .nth(conn as usize % (h.nodes.len() + 1))
                    .copied();
                if let Some(id) = id {
                    h.nodes.remove(&id);
                    h.frames.remove(&id);
                    h.pending.retain(|(c, _)| *c != id);
                    h.p.handle_disconnected(id, h.now);
                }
            }
            Op::Raw { conn, bytes } => {
                let id = h
                    .nodes
                    .keys()
                    .nth(conn as usize % (h.nodes.len() + 1))
                    .copied();
                h.p.handle_response(id.unwrap_or(ConnectionId(u64::from(conn))), &bytes, h.now);
            }
            Op::Answer { error } => h.answer(error),
            Op::Drop => {
                h.pending.pop_front();
            }
        }
        h.drain();
    }
    // Close, then let time run out with every connection and request
    // answered honestly: every record must reach its end.
    h.p.close(h.now);
    h.drain();
    for _ in 0..20_000 {
        if h.closed {
            break;
        }
        while !h.connecting.is_empty() {
            h.connect_result(true);
            h.drain();
        }
        while !h.pending.is_empty() {
            h.answer(None);
            h.drain();
        }
        if let Some(t) = h.p.poll_timeout() {
            h.now = h.now.max(t);
        } else {
            h.now += Duration::from_millis(100);
        }
        h.p.handle_timeout(h.now);
        h.drain();
    }
    assert!(
        h.closed,
        "no Closed event after closing and running past every deadline"
    );
    let missing: Vec<_> = h
        .accepted
        .values()
        .filter(|u| !h.terminal.contains(u))
        .collect();
    assert!(
        missing.is_empty(),
        "records without a terminal event: {missing:?}"
    );
    let m = h.p.metrics();
    assert_eq!(
        m.buffer_available_bytes, m.buffer_total_bytes,
        "buffer memory leaked"
    );
});
