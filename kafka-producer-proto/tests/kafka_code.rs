//! `KafkaCode` against facts from Kafka's error table and the Java client.

use kafka_producer_proto::KafkaCode;

#[test]
fn codes_have_kafka_names_and_java_retriability() {
    // (code, name, retriable) straight from Kafka's table; the producer's
    // retry logic depends on every one of these flags.
    let facts = [
        (-1, "UNKNOWN_SERVER_ERROR", false),
        (0, "NONE", false),
        (2, "CORRUPT_MESSAGE", true),
        (3, "UNKNOWN_TOPIC_OR_PARTITION", true),
        (5, "LEADER_NOT_AVAILABLE", true),
        (6, "NOT_LEADER_OR_FOLLOWER", true),
        (7, "REQUEST_TIMED_OUT", true),
        (10, "MESSAGE_TOO_LARGE", false),
        (13, "NETWORK_EXCEPTION", true),
        (14, "COORDINATOR_LOAD_IN_PROGRESS", true),
        (17, "INVALID_TOPIC_EXCEPTION", false),
        (19, "NOT_ENOUGH_REPLICAS", true),
        (20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", true),
        (29, "TOPIC_AUTHORIZATION_FAILED", false),
        (35, "UNSUPPORTED_VERSION", false),
        (45, "OUT_OF_ORDER_SEQUENCE_NUMBER", false),
        (46, "DUPLICATE_SEQUENCE_NUMBER", false),
        (47, "INVALID_PRODUCER_EPOCH", false),
        (51, "CONCURRENT_TRANSACTIONS", true),
        (56, "KAFKA_STORAGE_ERROR", true),
        (59, "UNKNOWN_PRODUCER_ID", false),
        (87, "INVALID_RECORD", false),
        (89, "THROTTLING_QUOTA_EXCEEDED", true),
        (90, "PRODUCER_FENCED", false),
        (120, "TRANSACTION_ABORTABLE", false),
        (128, "INVALID_REGULAR_EXPRESSION", false),
        // Metadata v13's top-level code (KIP-1102): not retriable, the
        // client starts again from its bootstrap servers instead.
        (129, "REBOOTSTRAP_REQUIRED", false),
        (133, "SHARE_SESSION_LIMIT_REACHED", true),
    ];
    for (code, name, retriable) in facts {
        let k = KafkaCode::from_i16(code);
        assert_eq!(k.code(), code);
        assert_eq!(k.name(), name, "code {code}");
        assert_eq!(k.is_retriable(), retriable, "{name}");
        assert_eq!(k.to_string(), format!("{name} ({code})"));
    }
    assert_eq!(KafkaCode::from_i16(6), KafkaCode::NotLeaderOrFollower);
    assert_eq!(
        KafkaCode::NotLeaderOrFollower.java_exception(),
        Some("NotLeaderOrFollowerException")
    );
    assert!(!KafkaCode::None.is_error());
    assert!(KafkaCode::RequestTimedOut.is_error());
}

/// Kafka's error table as vendored in `spec/`: (code, name, retriable).
fn spec_table() -> Vec<(i16, String, bool)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/error-codes.tsv");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (the repo's spec/ is needed)", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("code\tname\texception\tretriable"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 4, "{l}");
            (
                cols[0].parse().unwrap(),
                cols[1].to_string(),
                cols[3] == "yes",
            )
        })
        .collect()
}

#[test]
fn every_code_of_the_spec_table_is_known_with_its_name_and_retriability() {
    let table = spec_table();
    assert_eq!(KafkaCode::ALL.len(), table.len());
    for (code, name, retriable) in &table {
        let k = KafkaCode::from_i16(*code);
        assert!(!matches!(k, KafkaCode::Unknown(_)), "{code} {name}");
        assert_eq!(k.name(), name);
        assert_eq!(k.is_retriable(), *retriable, "{name}");
    }
    assert_eq!(
        KafkaCode::ALL.iter().filter(|k| k.is_retriable()).count(),
        table.iter().filter(|(_, _, r)| *r).count()
    );
}

#[test]
fn every_known_code_round_trips_and_has_a_unique_name() {
    let mut names = std::collections::HashSet::new();
    let mut codes = std::collections::HashSet::new();
    for k in KafkaCode::ALL {
        assert_eq!(KafkaCode::from_i16(k.code()), k);
        assert!(names.insert(k.name()), "duplicate name {}", k.name());
        assert!(codes.insert(k.code()), "duplicate code {}", k.code());
        assert!(!matches!(k, KafkaCode::Unknown(_)));
    }
    // Kafka's table runs without gaps from -1 up.
    let max = KafkaCode::ALL.iter().map(|k| k.code()).max().unwrap();
    assert_eq!(KafkaCode::ALL.len(), usize::try_from(max + 2).unwrap());
}

#[test]
fn unknown_codes_are_kept_as_values() {
    // The first code above Kafka's table, and others far from it.
    let above = KafkaCode::ALL.iter().map(|k| k.code()).max().unwrap() + 1;
    for code in [above, 500, i16::MAX, -2, i16::MIN] {
        let k = KafkaCode::from_i16(code);
        assert_eq!(k, KafkaCode::Unknown(code));
        assert_eq!(k.code(), code);
        assert!(!k.is_retriable());
        assert!(k.is_error());
        assert_eq!(k.to_string(), format!("UNKNOWN ({code})"));
    }
}
