use alloc::borrow::ToOwned;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use super::builder::resolve_idempotence;
use super::*;

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// A builder with the one required property set.
fn minimal() -> ConfigBuilder {
    let mut builder = Config::builder();
    builder.bootstrap_servers("k1:9092");
    builder
}

/// The error of building `minimal()` plus `settings`, which must fail.
fn refused(settings: &[(&str, &str)]) -> ConfigError {
    let mut builder = minimal();
    for (key, value) in settings {
        if let Err(e) = builder.set(key, value) {
            return e;
        }
    }
    match builder.build() {
        Ok(config) => panic!("{settings:?} was accepted: {config:?}"),
        Err(e) => e,
    }
}

fn accepted(settings: &[(&str, &str)]) -> Config {
    let mut builder = minimal();
    for (key, value) in settings {
        if let Err(e) = builder.set(key, value) {
            panic!("{key}={value} refused by set: {e}");
        }
    }
    builder
        .build()
        .unwrap_or_else(|e| panic!("{settings:?} refused: {e}"))
}

fn assert_mentions(error: &ConfigError, parts: &[&str]) {
    let text = error.to_string();
    for part in parts {
        assert!(text.contains(part), "`{text}` does not mention `{part}`");
    }
}

#[test]
fn every_default_is_kafkas() {
    let c = minimal().build().unwrap();
    assert_eq!(c.bootstrap_servers(), [("k1".to_owned(), 9092)]);
    assert_eq!(c.client_id(), "kafka-producer-proto");
    assert_eq!(c.acks(), Acks::All);
    assert_eq!(c.retries(), 2_147_483_647);
    assert_eq!(c.retry_backoff(), ms(100));
    assert_eq!(c.retry_backoff_max(), ms(1_000));
    assert_eq!(c.delivery_timeout(), ms(120_000));
    assert_eq!(c.request_timeout(), ms(30_000));
    assert_eq!(c.linger(), ms(5));
    assert_eq!(c.batch_size(), 16_384);
    assert_eq!(c.max_request_size(), 1_048_576);
    assert_eq!(c.buffer_memory(), 33_554_432);
    assert_eq!(c.max_in_flight_requests_per_connection(), 5);
    assert_eq!(c.metadata_max_age(), ms(300_000));
    assert_eq!(c.max_block(), ms(60_000));
    assert_eq!(c.reconnect_backoff(), ms(50));
    assert_eq!(c.reconnect_backoff_max(), ms(1_000));
    assert_eq!(c.socket_connection_setup_timeout(), ms(10_000));
    assert_eq!(c.receive_message_max_bytes(), 104_857_600);
    assert!(c.enable_idempotence(), "on by default since Kafka 3.0");
    assert_eq!(c.transactional_id(), None);
    assert_eq!(c.transaction_timeout(), ms(60_000));
    assert_eq!(c.compression_type(), Compression::None);
    assert!(!c.partitioner_ignore_keys());
    assert!(c.allow_auto_create_topics());
    assert_eq!(c.random_seed(), 0);
}

type Check = fn(&Config) -> bool;

/// Every property, a value other than its default, and how it shows.
const PROPERTIES: &[(&str, &str, Check)] = &[
    ("bootstrap.servers", "a:1,b:2", |c| {
        c.bootstrap_servers() == [("a".to_owned(), 1), ("b".to_owned(), 2)]
    }),
    ("client.id", "billing", |c| c.client_id() == "billing"),
    ("acks", "1", |c| c.acks() == Acks::Leader),
    ("retries", "7", |c| c.retries() == 7),
    ("retry.backoff.ms", "250", |c| c.retry_backoff() == ms(250)),
    ("retry.backoff.max.ms", "5000", |c| {
        c.retry_backoff_max() == ms(5_000)
    }),
    ("delivery.timeout.ms", "200000", |c| {
        c.delivery_timeout() == ms(200_000)
    }),
    ("request.timeout.ms", "20000", |c| {
        c.request_timeout() == ms(20_000)
    }),
    ("linger.ms", "0", |c| c.linger() == Duration::ZERO),
    ("batch.size", "65536", |c| c.batch_size() == 65_536),
    ("max.request.size", "2097152", |c| {
        c.max_request_size() == 2_097_152
    }),
    ("buffer.memory", "1024", |c| c.buffer_memory() == 1_024),
    ("max.in.flight.requests.per.connection", "1", |c| {
        c.max_in_flight_requests_per_connection() == 1
    }),
    ("metadata.max.age.ms", "60000", |c| {
        c.metadata_max_age() == ms(60_000)
    }),
    ("max.block.ms", "0", |c| c.max_block() == Duration::ZERO),
    ("reconnect.backoff.ms", "20", |c| {
        c.reconnect_backoff() == ms(20)
    }),
    ("reconnect.backoff.max.ms", "3000", |c| {
        c.reconnect_backoff_max() == ms(3_000)
    }),
    ("socket.connection.setup.timeout.ms", "2500", |c| {
        c.socket_connection_setup_timeout() == ms(2_500)
    }),
    ("receive.message.max.bytes", "1000", |c| {
        c.receive_message_max_bytes() == 1_000
    }),
    ("enable.idempotence", "true", |c| c.enable_idempotence()),
    ("transactional.id", "orders-1", |c| {
        c.transactional_id() == Some("orders-1")
    }),
    ("transaction.timeout.ms", "900000", |c| {
        c.transaction_timeout() == ms(900_000)
    }),
    ("compression.type", "zstd", |c| {
        c.compression_type() == Compression::Zstd
    }),
    ("compression.gzip.level", "9", |c| {
        c.compression_gzip_level() == 9
    }),
    ("compression.lz4.level", "17", |c| {
        c.compression_lz4_level() == 17
    }),
    ("compression.zstd.level", "-5", |c| {
        c.compression_zstd_level() == -5
    }),
    ("partitioner.ignore.keys", "true", |c| {
        c.partitioner_ignore_keys()
    }),
    ("allow.auto.create.topics", "false", |c| {
        !c.allow_auto_create_topics()
    }),
    ("random.seed", "18446744073709551615", |c| {
        c.random_seed() == u64::MAX
    }),
];

#[test]
fn the_property_parser_accepts_every_documented_key() {
    assert_eq!(PROPERTIES.len(), 29, "one row per property on Config");
    for (key, value, check) in PROPERTIES {
        let text = if *key == "bootstrap.servers" {
            ["bootstrap.servers=", value].concat()
        } else {
            ["bootstrap.servers=k1:9092\n", key, "=", value].concat()
        };
        let config =
            Config::from_properties(&text).unwrap_or_else(|e| panic!("{key}={value} refused: {e}"));
        assert!(check(&config), "{key}={value} gave {config:?}");
    }
}

#[test]
fn all_properties_at_once_through_set_and_through_text_agree() {
    // acks=1 would contradict enable.idempotence=true; its row alone
    // covers it.
    let together = || PROPERTIES.iter().filter(|(key, ..)| *key != "acks");
    let mut text = String::new();
    let mut builder = Config::builder();
    for (key, value, _) in together() {
        text.push_str(&[key, " = ", value, "\n"].concat());
        builder.set(key, value).unwrap();
    }
    let from_text = Config::from_properties(&text).unwrap();
    assert_eq!(from_text, builder.build().unwrap());
    for (key, value, check) in together() {
        assert!(
            check(&from_text),
            "{key}={value} lost among the others: {from_text:?}"
        );
    }
}

#[test]
fn builder_and_parser_make_equal_configs() {
    let typed = Config::builder()
        .bootstrap_servers("k1:9092,[::1]:9093")
        .client_id("billing")
        .acks(Acks::All)
        .retries(10)
        .retry_backoff(ms(200))
        .retry_backoff_max(ms(2_000))
        .delivery_timeout(ms(90_000))
        .request_timeout(ms(15_000))
        .linger(ms(50))
        .batch_size(131_072)
        .max_request_size(4_194_304)
        .buffer_memory(67_108_864)
        .max_in_flight_requests_per_connection(3)
        .metadata_max_age(ms(30_000))
        .max_block(ms(5_000))
        .reconnect_backoff(ms(100))
        .reconnect_backoff_max(ms(10_000))
        .socket_connection_setup_timeout(ms(3_000))
        .receive_message_max_bytes(50_000_000)
        .enable_idempotence(true)
        .transactional_id("orders")
        .transaction_timeout(ms(30_000))
        .compression_type(Compression::None)
        .partitioner_ignore_keys(true)
        .allow_auto_create_topics(false)
        .random_seed(42)
        .build()
        .unwrap();
    let parsed = Config::from_properties(
        "bootstrap.servers=k1:9092,[::1]:9093
         client.id=billing
         acks=all
         retries=10
         retry.backoff.ms=200
         retry.backoff.max.ms=2000
         delivery.timeout.ms=90000
         request.timeout.ms=15000
         linger.ms=50
         batch.size=131072
         max.request.size=4194304
         buffer.memory=67108864
         max.in.flight.requests.per.connection=3
         metadata.max.age.ms=30000
         max.block.ms=5000
         reconnect.backoff.ms=100
         reconnect.backoff.max.ms=10000
         socket.connection.setup.timeout.ms=3000
         receive.message.max.bytes=50000000
         enable.idempotence=true
         transactional.id=orders
         transaction.timeout.ms=30000
         compression.type=none
         partitioner.ignore.keys=true
         allow.auto.create.topics=false
         random.seed=42",
    )
    .unwrap();
    assert_eq!(typed, parsed);
    assert_eq!(typed.clone(), parsed);
}

#[test]
fn unknown_property_is_an_error_naming_it() {
    let mut builder = minimal();
    let e = builder.set("linger.sm", "10").unwrap_err();
    assert_eq!(
        e,
        ConfigError::UnknownProperty {
            key: "linger.sm".to_owned()
        }
    );
    assert_eq!(e.to_string(), "unknown property linger.sm");
    // Kafka's names are case-sensitive, and Java properties this producer
    // has no use for are not silently accepted either.
    for key in [
        "Linger.ms",
        "LINGER_MS",
        "key.serializer",
        "Security.Protocol",
        "",
    ] {
        assert!(
            matches!(
                builder.set(key, "1"),
                Err(ConfigError::UnknownProperty { .. })
            ),
            "{key}"
        );
    }
    let e = Config::from_properties("bootstrap.servers=k:1\nbatch.szie=100").unwrap_err();
    assert_mentions(&e, &["batch.szie"]);
}

#[test]
fn set_trims_whitespace_around_key_and_value() {
    let mut builder = Config::builder();
    builder
        .set("  bootstrap.servers ", " k1:9092 , k2:9093 ")
        .unwrap();
    builder.set("\tlinger.ms", "  10\t").unwrap();
    builder.set("enable.idempotence", " TRUE ").unwrap();
    let c = builder.build().unwrap();
    assert_eq!(
        c.bootstrap_servers(),
        [("k1".to_owned(), 9092), ("k2".to_owned(), 9093)]
    );
    assert_eq!(c.linger(), ms(10));
    assert!(c.enable_idempotence());
}

#[test]
fn bootstrap_servers_is_required() {
    let e = Config::builder().build().unwrap_err();
    assert_eq!(
        e,
        ConfigError::MissingProperty {
            key: "bootstrap.servers"
        }
    );
    assert_eq!(e.to_string(), "bootstrap.servers is required");
    for empty in ["", "   "] {
        let e = Config::builder()
            .bootstrap_servers(empty)
            .build()
            .unwrap_err();
        assert!(matches!(
            e,
            ConfigError::InvalidValue {
                key: "bootstrap.servers",
                ..
            }
        ));
        assert_mentions(&e, &["bootstrap.servers", "at least one host:port"]);
    }
}

#[test]
fn bad_bootstrap_entries_are_rejected_with_the_entry() {
    let cases = [
        ("localhost", "no port"),
        ("k1:9092,", "empty"),
        ("k1:9092,,k2:9092", "empty"),
        ("k1:", "no port"),
        ("k1:0", "1 to 65535"),
        ("k1:65536", "1 to 65535"),
        ("k1:+9092", "1 to 65535"),
        ("k1:port", "1 to 65535"),
        (":9092", "host name"),
        ("k 1:9092", "host name"),
        ("k1:9092,k1:9092", "listed twice"),
        ("::1:9092", "brackets"),
        ("[::1]", "no port"),
        ("[::1:9092", "`]`"),
        ("[localhost]:9092", "not an IPv6 address"),
        ("[]:9092", "not an IPv6 address"),
        ("http://k1:9092", "brackets"),
    ];
    for (list, why) in cases {
        let e = Config::builder()
            .bootstrap_servers(list)
            .build()
            .unwrap_err();
        assert!(
            matches!(
                e,
                ConfigError::InvalidValue {
                    key: "bootstrap.servers",
                    ..
                }
            ),
            "{list}: {e:?}"
        );
        assert_mentions(&e, &["bootstrap.servers", why]);
    }
}

#[test]
fn ipv6_bootstrap_servers_are_bracketed_and_stored_bare() {
    let c = Config::builder()
        .bootstrap_servers("[::1]:9092, [fe80::1%eth0]:9093 ,k1.example.com:9094,10.0.0.7:9095")
        .build()
        .unwrap();
    assert_eq!(
        c.bootstrap_servers(),
        [
            ("::1".to_owned(), 9092),
            ("fe80::1%eth0".to_owned(), 9093),
            ("k1.example.com".to_owned(), 9094),
            ("10.0.0.7".to_owned(), 9095),
        ]
    );
    let c = Config::from_properties("bootstrap.servers=[2001:db8::42]:65535").unwrap();
    assert_eq!(c.bootstrap_servers(), [("2001:db8::42".to_owned(), 65_535)]);
}

#[test]
fn numbers_that_do_not_parse_are_rejected_by_set() {
    let cases = [
        ("batch.size", "abc", "not a whole number"),
        ("batch.size", "16k", "not a whole number"),
        ("batch.size", "1.5", "not a whole number"),
        ("linger.ms", "-1", "must not be negative"),
        ("linger.ms", "", "empty"),
        ("retries", "4294967296", "too large"),
        ("random.seed", "18446744073709551616", "too large"),
        ("buffer.memory", "99999999999999999999999", "too large"),
        ("enable.idempotence", "yes", "not true or false"),
        ("partitioner.ignore.keys", "1", "not true or false"),
    ];
    for (key, value, why) in cases {
        let e = minimal().set(key, value).map(|_| ()).unwrap_err();
        assert!(
            matches!(e, ConfigError::InvalidValue { .. }),
            "{key}={value}: {e:?}"
        );
        assert_mentions(&e, &[key, why]);
    }
}

#[test]
fn out_of_range_values_are_rejected_by_build() {
    let cases = [
        ("batch.size", "0", "batch.size=0 must be at least 1"),
        (
            "max.request.size",
            "0",
            "max.request.size=0 must be at least 1",
        ),
        ("buffer.memory", "0", "buffer.memory=0 must be at least 1"),
        (
            "max.in.flight.requests.per.connection",
            "0",
            "max.in.flight.requests.per.connection=0 must be at least 1",
        ),
        (
            "request.timeout.ms",
            "0",
            "request.timeout.ms=0 must be at least 1",
        ),
        (
            "socket.connection.setup.timeout.ms",
            "0",
            "socket.connection.setup.timeout.ms=0 must be at least 1",
        ),
        (
            "transaction.timeout.ms",
            "0",
            "transaction.timeout.ms=0 must be at least 1",
        ),
        (
            "receive.message.max.bytes",
            "999",
            "receive.message.max.bytes=999 must be at least 1000",
        ),
        (
            "receive.message.max.bytes",
            "2147483648",
            "receive.message.max.bytes=2147483648 must be at most 2147483647",
        ),
        (
            "retries",
            "2147483648",
            "retries=2147483648 must be at most 2147483647",
        ),
        (
            "batch.size",
            "2147483648",
            "batch.size=2147483648 must be at most 2147483647",
        ),
        (
            "request.timeout.ms",
            "2147483648",
            "request.timeout.ms=2147483648 must be at most 2147483647",
        ),
        (
            "delivery.timeout.ms",
            "2147483648",
            "delivery.timeout.ms=2147483648 must be at most 2147483647",
        ),
        (
            "transaction.timeout.ms",
            "2147483648",
            "transaction.timeout.ms=2147483648 must be at most 2147483647",
        ),
    ];
    for (key, value, message) in cases {
        let e = refused(&[(key, value)]);
        assert!(
            matches!(e, ConfigError::InvalidValue { .. }),
            "{key}={value}: {e:?}"
        );
        assert_eq!(e.to_string(), message);
    }
}

#[test]
fn typed_setters_are_checked_like_text() {
    let e = minimal().batch_size(0).build().unwrap_err();
    assert_eq!(e.to_string(), "batch.size=0 must be at least 1");
    // Below a millisecond is no timeout at all on the wire.
    let e = minimal()
        .request_timeout(Duration::from_micros(500))
        .build()
        .unwrap_err();
    assert_eq!(e.to_string(), "request.timeout.ms=0 must be at least 1");
    let e = minimal()
        .request_timeout(Duration::MAX)
        .build()
        .unwrap_err();
    assert_mentions(&e, &["request.timeout.ms", "at most 2147483647"]);
    // Huge values of Java `long` properties are fine and do not overflow.
    let c = minimal()
        .linger(Duration::MAX)
        .max_block(Duration::MAX)
        .metadata_max_age(Duration::MAX)
        .build()
        .unwrap();
    assert_eq!(c.delivery_timeout(), Duration::MAX);
}

#[test]
fn zero_is_accepted_where_java_accepts_it() {
    let c = accepted(&[
        ("linger.ms", "0"),
        ("retries", "0"),
        ("retry.backoff.ms", "0"),
        ("retry.backoff.max.ms", "0"),
        ("reconnect.backoff.ms", "0"),
        ("reconnect.backoff.max.ms", "0"),
        ("max.block.ms", "0"),
        ("metadata.max.age.ms", "0"),
        ("random.seed", "0"),
        ("client.id", ""),
    ]);
    assert_eq!(c.retries(), 0);
    assert_eq!(c.client_id(), "");
}

#[test]
fn buffer_memory_may_be_below_max_request_size() {
    let c = accepted(&[("buffer.memory", "1024"), ("max.request.size", "1048576")]);
    assert_eq!(c.buffer_memory(), 1_024);
}

#[test]
fn explicit_delivery_timeout_below_linger_plus_request_timeout_is_rejected() {
    let e = refused(&[("delivery.timeout.ms", "1000")]);
    assert!(matches!(e, ConfigError::Conflict { .. }));
    assert_eq!(
        e.to_string(),
        "delivery.timeout.ms (1000) must be at least linger.ms (5) + request.timeout.ms (30000)"
    );
    let e = refused(&[
        ("request.timeout.ms", "200000"),
        ("delivery.timeout.ms", "120000"),
    ]);
    assert_mentions(
        &e,
        &[
            "delivery.timeout.ms (120000)",
            "request.timeout.ms (200000)",
        ],
    );
    // Exactly the sum is enough.
    let c = accepted(&[("delivery.timeout.ms", "30005")]);
    assert_eq!(c.delivery_timeout(), ms(30_005));
}

#[test]
fn default_delivery_timeout_is_raised_to_linger_plus_request_timeout() {
    let c = accepted(&[("request.timeout.ms", "200000"), ("linger.ms", "100")]);
    assert_eq!(c.delivery_timeout(), ms(200_100));
}

#[test]
fn idempotence_requires_acks_all() {
    for acks in ["0", "1"] {
        let e = refused(&[("enable.idempotence", "true"), ("acks", acks)]);
        assert!(matches!(e, ConfigError::Conflict { .. }));
        assert_eq!(
            e.to_string(),
            ["enable.idempotence requires acks=all, got acks=", acks].concat()
        );
    }
    let c = accepted(&[("enable.idempotence", "true"), ("acks", "-1")]);
    assert!(c.enable_idempotence());
}

#[test]
fn idempotence_allows_at_most_five_in_flight() {
    let e = refused(&[
        ("enable.idempotence", "true"),
        ("max.in.flight.requests.per.connection", "6"),
    ]);
    assert_eq!(
        e.to_string(),
        "enable.idempotence requires max.in.flight.requests.per.connection <= 5, \
         got max.in.flight.requests.per.connection=6"
    );
    accepted(&[
        ("enable.idempotence", "true"),
        ("max.in.flight.requests.per.connection", "5"),
    ]);
    // Without idempotence there is no such limit.
    let c = accepted(&[
        ("enable.idempotence", "false"),
        ("max.in.flight.requests.per.connection", "100"),
    ]);
    assert_eq!(c.max_in_flight_requests_per_connection(), 100);
}

#[test]
fn idempotence_requires_retries() {
    let e = refused(&[("enable.idempotence", "true"), ("retries", "0")]);
    assert_eq!(
        e.to_string(),
        "enable.idempotence requires retries > 0, got retries=0"
    );
}

#[test]
fn explicitly_disabled_idempotence_permits_anything() {
    let c = accepted(&[
        ("enable.idempotence", "false"),
        ("acks", "1"),
        ("retries", "0"),
        ("max.in.flight.requests.per.connection", "10"),
    ]);
    assert!(!c.enable_idempotence());
}

#[test]
fn transactional_id_implies_idempotence() {
    let c = accepted(&[("transactional.id", "orders")]);
    assert!(c.enable_idempotence());
    assert_eq!(c.transactional_id(), Some("orders"));
    let e = refused(&[("transactional.id", "orders"), ("acks", "1")]);
    assert_eq!(
        e.to_string(),
        "transactional.id implies enable.idempotence, which requires acks=all, got acks=1"
    );
    let e = refused(&[
        ("transactional.id", "orders"),
        ("max.in.flight.requests.per.connection", "6"),
    ]);
    assert_mentions(
        &e,
        &[
            "transactional.id",
            "max.in.flight.requests.per.connection=6",
        ],
    );
}

#[test]
fn transactional_id_with_idempotence_explicitly_off_is_an_error() {
    let e = refused(&[
        ("transactional.id", "orders"),
        ("enable.idempotence", "false"),
    ]);
    assert!(matches!(e, ConfigError::Conflict { .. }));
    assert_eq!(
        e.to_string(),
        "transactional.id requires enable.idempotence=true, but enable.idempotence=false was set"
    );
}

#[test]
fn transactional_id_must_not_be_empty() {
    let e = refused(&[("transactional.id", "  ")]);
    assert_eq!(e.to_string(), "transactional.id= must not be empty");
}

#[test]
fn identifiers_must_fit_a_kafka_string() {
    let long = "x".repeat(32_768);
    let e = minimal().client_id(long.as_str()).build().unwrap_err();
    assert_eq!(
        e.to_string(),
        "client.id=<32768 bytes> is longer than the 32767 bytes a Kafka string can carry"
    );
    let e = minimal().transactional_id(long).build().unwrap_err();
    assert_mentions(&e, &["transactional.id", "32767"]);
    let c = minimal().client_id("x".repeat(32_767)).build().unwrap();
    assert_eq!(c.client_id().len(), 32_767);
}

#[test]
fn idempotence_on_by_default_gives_way_as_in_java() {
    // The rule that applies once the default becomes true: a setting that
    // rules idempotence out turns it off instead of failing, except too
    // many requests in flight, which Java refuses.
    let on =
        |acks, retries, in_flight| resolve_idempotence(None, false, true, acks, retries, in_flight);
    assert_eq!(on(Acks::All, 3, 5), Ok(true));
    assert_eq!(on(Acks::Leader, 3, 5), Ok(false));
    assert_eq!(on(Acks::None, 3, 5), Ok(false));
    assert_eq!(on(Acks::All, 0, 5), Ok(false));
    let e = on(Acks::All, 3, 6).unwrap_err();
    assert_mentions(
        &e,
        &[
            "enable.idempotence",
            "max.in.flight.requests.per.connection=6",
            "enable.idempotence=false",
        ],
    );
    // Off by default, nothing is required.
    assert_eq!(
        resolve_idempotence(None, false, false, Acks::None, 0, 50),
        Ok(false)
    );
}

#[test]
fn backoff_above_its_maximum_becomes_a_constant_backoff() {
    let c = accepted(&[
        ("retry.backoff.ms", "5000"),
        ("retry.backoff.max.ms", "2000"),
    ]);
    assert_eq!(
        (c.retry_backoff(), c.retry_backoff_max()),
        (ms(2_000), ms(2_000))
    );
    let c = accepted(&[("retry.backoff.ms", "5000")]);
    assert_eq!(
        (c.retry_backoff(), c.retry_backoff_max()),
        (ms(1_000), ms(1_000))
    );
    let c = accepted(&[
        ("reconnect.backoff.ms", "500"),
        ("reconnect.backoff.max.ms", "200"),
    ]);
    assert_eq!(
        (c.reconnect_backoff(), c.reconnect_backoff_max()),
        (ms(200), ms(200))
    );
}

#[test]
fn reconnect_backoff_alone_turns_exponential_growth_off() {
    let c = accepted(&[("reconnect.backoff.ms", "300")]);
    assert_eq!(
        (c.reconnect_backoff(), c.reconnect_backoff_max()),
        (ms(300), ms(300))
    );
    let c = accepted(&[("reconnect.backoff.ms", "5000")]);
    assert_eq!(
        (c.reconnect_backoff(), c.reconnect_backoff_max()),
        (ms(5_000), ms(5_000))
    );
    let c = accepted(&[("reconnect.backoff.max.ms", "4000")]);
    assert_eq!(
        (c.reconnect_backoff(), c.reconnect_backoff_max()),
        (ms(50), ms(4_000))
    );
    // Retry backoff has no such rule in Java's producer.
    let c = accepted(&[("retry.backoff.ms", "300")]);
    assert_eq!(
        (c.retry_backoff(), c.retry_backoff_max()),
        (ms(300), ms(1_000))
    );
}

#[test]
fn acks_parsing() {
    let parsed: Vec<(Acks, i16)> = ["all", "-1", "1", "0", " all "]
        .iter()
        .map(|v| {
            let acks: Acks = v.parse().unwrap();
            (acks, acks.as_i16())
        })
        .collect();
    assert_eq!(
        parsed,
        vec![
            (Acks::All, -1),
            (Acks::All, -1),
            (Acks::Leader, 1),
            (Acks::None, 0),
            (Acks::All, -1)
        ]
    );
    for bad in ["2", "-2", "ALL", "leader", "", "01x"] {
        let e = bad.parse::<Acks>().unwrap_err();
        assert!(
            matches!(e, ConfigError::InvalidValue { key: "acks", .. }),
            "{bad}"
        );
        assert_mentions(&e, &["acks=", "all, -1, 1, 0"]);
        assert!(minimal().set("acks", bad).is_err(), "{bad}");
    }
    assert_eq!(Acks::default(), Acks::All);
    let shown: Vec<String> = [Acks::All, Acks::Leader, Acks::None]
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(shown, ["all", "1", "0"]);
    // What Display prints parses back.
    for acks in [Acks::All, Acks::Leader, Acks::None] {
        assert_eq!(acks.to_string().parse::<Acks>(), Ok(acks));
    }
}

#[test]
fn properties_text_skips_blank_lines_and_comments() {
    let text = "\u{20}
# a comment: linger.ms=999
! another comment = batch.size=0
   # an indented comment

bootstrap.servers = k1:9092\r
\tlinger.ms=20\r
client.id=a=b
linger.ms=30
client.id =
";
    let c = Config::from_properties(text).unwrap();
    assert_eq!(c.bootstrap_servers(), [("k1".to_owned(), 9092)]);
    // The last value of a repeated key wins, as in Java.
    assert_eq!(c.linger(), ms(30));
    assert_eq!(c.client_id(), "");
    let c = Config::from_properties("bootstrap.servers=k1:9092\nclient.id=a=b # not a comment")
        .unwrap();
    assert_eq!(c.client_id(), "a=b # not a comment");
    assert_eq!(
        Config::from_properties(""),
        Err(ConfigError::MissingProperty {
            key: "bootstrap.servers"
        })
    );
    assert_eq!(
        Config::from_properties("# bootstrap.servers=k1:9092"),
        Err(ConfigError::MissingProperty {
            key: "bootstrap.servers"
        })
    );
}

#[test]
fn properties_text_that_is_not_key_value_is_a_syntax_error() {
    let e = Config::from_properties("bootstrap.servers=k1:9092\n\nlinger.ms 10").unwrap_err();
    assert_eq!(
        e,
        ConfigError::Syntax {
            line: 3,
            reason: "`linger.ms 10` is not key=value".to_owned()
        }
    );
    assert_eq!(e.to_string(), "line 3: `linger.ms 10` is not key=value");
    let e = Config::from_properties("=10").unwrap_err();
    assert_eq!(e.to_string(), "line 1: `=10` has no key before `=`");
    // `:` separates key and value in Java's format but not here; the line
    // fails loudly instead of meaning something else.
    let e = Config::from_properties("bootstrap.servers: k1:9092").unwrap_err();
    assert!(matches!(e, ConfigError::Syntax { line: 1, .. }));
}

#[test]
fn set_properties_combines_text_with_typed_settings() {
    let c = Config::builder()
        .set_properties("bootstrap.servers=k1:9092\nlinger.ms=10")
        .unwrap()
        .random_seed(7)
        .build()
        .unwrap();
    assert_eq!((c.linger(), c.random_seed()), (ms(10), 7));
}

#[test]
fn settings_can_be_given_in_any_order() {
    // Idempotence with acks=1, then acks=all: only the end state counts.
    let c = accepted(&[
        ("enable.idempotence", "true"),
        ("acks", "1"),
        ("acks", "all"),
        ("bootstrap.servers", "k9:1"),
    ]);
    assert!(c.enable_idempotence());
    assert_eq!(c.bootstrap_servers(), [("k9".to_owned(), 1)]);
}
