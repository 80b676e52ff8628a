//! The conformance suite for `kafka-producer-smol`.

use std::time::Duration;

use kafka_producer_conformance::{
    CloseError, Config, ConsumerGroupMetadata, DeliveryResult, Driver, OffsetCommit, Record,
    SendError, TransactionError, TransactionState,
};
use kafka_producer_smol::{DeliveryFuture, Producer};

struct Smol;

impl Driver for Smol {
    type Producer = Producer;
    type Pending = DeliveryFuture;

    fn connect(config: Config) -> Producer {
        smol::block_on(Producer::connect(config)).expect("connect")
    }

    fn send(p: &Producer, record: Record) -> Result<DeliveryFuture, SendError<()>> {
        smol::block_on(p.send(record))
    }

    fn wait(pending: DeliveryFuture, timeout: Duration) -> Option<DeliveryResult> {
        smol::block_on(smol::future::or(async { Some(pending.await) }, async {
            smol::Timer::after(timeout).await;
            None
        }))
    }

    fn try_result(pending: &mut DeliveryFuture) -> Option<DeliveryResult> {
        pending.try_result()
    }

    fn flush(p: &Producer) {
        smol::block_on(p.flush());
    }

    fn close(p: &Producer, timeout: Duration) -> Result<(), CloseError> {
        smol::block_on(p.close(timeout))
    }

    fn init_transactions(p: &Producer) -> Result<(), TransactionError> {
        smol::block_on(p.init_transactions())
    }

    fn begin_transaction(p: &Producer) -> Result<(), TransactionError> {
        p.begin_transaction()
    }

    fn send_offsets_to_transaction(
        p: &Producer,
        offsets: Vec<OffsetCommit>,
        group: &ConsumerGroupMetadata,
    ) -> Result<(), TransactionError> {
        smol::block_on(p.send_offsets_to_transaction(offsets, group))
    }

    fn commit_transaction(p: &Producer) -> Result<(), TransactionError> {
        smol::block_on(p.commit_transaction())
    }

    fn abort_transaction(p: &Producer) -> Result<(), TransactionError> {
        smol::block_on(p.abort_transaction())
    }

    fn transaction_state(p: &Producer) -> Option<TransactionState> {
        p.transaction_state()
    }
}

kafka_producer_conformance::suite!(Smol);
