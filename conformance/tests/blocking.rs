//! The conformance suite for `kafka-producer-blocking`.

use std::time::Duration;

use kafka_producer_blocking::{DeliveryHandle, Producer};
use kafka_producer_conformance::{
    CloseError, Config, ConsumerGroupMetadata, DeliveryResult, Driver, OffsetCommit, Record,
    SendError, TransactionError, TransactionState,
};

struct Blocking;

impl Driver for Blocking {
    type Producer = Producer;
    type Pending = DeliveryHandle;

    fn connect(config: Config) -> Producer {
        Producer::connect(config).expect("connect")
    }

    fn send(p: &Producer, record: Record) -> Result<DeliveryHandle, SendError<()>> {
        p.send(record)
    }

    fn wait(pending: DeliveryHandle, timeout: Duration) -> Option<DeliveryResult> {
        pending.wait_timeout(timeout).ok()
    }

    fn try_result(pending: &mut DeliveryHandle) -> Option<DeliveryResult> {
        pending.try_result()
    }

    fn flush(p: &Producer) {
        p.flush();
    }

    fn close(p: &Producer, timeout: Duration) -> Result<(), CloseError> {
        p.close(timeout)
    }

    fn init_transactions(p: &Producer) -> Result<(), TransactionError> {
        p.init_transactions()
    }

    fn begin_transaction(p: &Producer) -> Result<(), TransactionError> {
        p.begin_transaction()
    }

    fn send_offsets_to_transaction(
        p: &Producer,
        offsets: Vec<OffsetCommit>,
        group: &ConsumerGroupMetadata,
    ) -> Result<(), TransactionError> {
        p.send_offsets_to_transaction(offsets, group)
    }

    fn commit_transaction(p: &Producer) -> Result<(), TransactionError> {
        p.commit_transaction()
    }

    fn abort_transaction(p: &Producer) -> Result<(), TransactionError> {
        p.abort_transaction()
    }

    fn transaction_state(p: &Producer) -> Option<TransactionState> {
        p.transaction_state()
    }
}

kafka_producer_conformance::suite!(Blocking);
