//! What each client is asked to do: the workloads of the side-by-side
//! command.

use kafka_producer_bench::contract::Codec;

use crate::clients::Client;

/// One workload: the same records for every client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// Its name on the command line and in the tables.
    pub name: &'static str,
    /// Records in each measured run.
    pub records: u64,
    /// Bytes per value.
    pub value_size: usize,
    /// `compression.type`.
    pub compression: Codec,
    /// Records per transaction, for a transactional run.
    pub transaction_records: Option<u64>,
    /// The clients it runs when `--clients` is not given.
    pub default_clients: &'static [Client],
}

const EVERY_CLIENT: &[Client] = &[Client::Ours, Client::Rdkafka, Client::Java, Client::FranzGo];
/// The compression runs compare us with librdkafka and the Java client
/// (issue 12); `--clients` adds franz-go.
const COMPRESSING_CLIENTS: &[Client] = &[Client::Ours, Client::Rdkafka, Client::Java];

/// Every workload, in the order they run.
pub const ALL: &[Workload] = &[
    Workload {
        name: "100B",
        records: 1_000_000,
        value_size: 100,
        compression: Codec::None,
        transaction_records: None,
        default_clients: EVERY_CLIENT,
    },
    Workload {
        name: "10KiB",
        records: 100_000,
        value_size: 10 * 1024,
        compression: Codec::None,
        transaction_records: None,
        default_clients: EVERY_CLIENT,
    },
    Workload {
        name: "lz4",
        records: 250_000,
        value_size: 1024,
        compression: Codec::Lz4,
        transaction_records: None,
        default_clients: COMPRESSING_CLIENTS,
    },
    Workload {
        name: "zstd",
        records: 250_000,
        value_size: 1024,
        compression: Codec::Zstd,
        transaction_records: None,
        default_clients: COMPRESSING_CLIENTS,
    },
    Workload {
        name: "txn",
        records: 1_000_000,
        value_size: 100,
        compression: Codec::None,
        transaction_records: Some(1000),
        default_clients: EVERY_CLIENT,
    },
];

/// The workloads run when none is named.
pub const DEFAULT: &[&str] = &["100B", "10KiB"];

/// The workload called `name`.
pub fn named(name: &str) -> Option<&'static Workload> {
    ALL.iter().find(|w| w.name.eq_ignore_ascii_case(name))
}

impl Workload {
    /// One line saying what it is.
    pub fn describe(&self, records: u64) -> String {
        let mut s = format!(
            "{} records of {} B, no key, 4 partitions, acks=all, idempotence on, linger.ms=5, compression {}",
            thousands(records),
            self.value_size,
            self.compression.name()
        );
        if let Some(m) = self.transaction_records {
            s.push_str(&format!(", transactions of {} records", thousands(m)));
        }
        s
    }
}

/// 1234567 as "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_are_found_by_name_and_defaults_exist() {
        assert_eq!(named("10kib").map(|w| w.value_size), Some(10_240));
        assert!(named("brotli").is_none());
        assert!(DEFAULT.iter().all(|n| named(n).is_some()));
        assert_eq!(named("txn").and_then(|w| w.transaction_records), Some(1000));
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
