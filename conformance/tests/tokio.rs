//! The conformance suite for `kafka-producer-tokio`, blocking on a
//! multi-thread runtime of two workers shared by every case.

use std::sync::OnceLock;
use std::time::Duration;

use kafka_producer_conformance::{
    CloseError, Config, ConsumerGroupMetadata, DeliveryResult, Driver, OffsetCommit, Record,
    SendError, TransactionError, TransactionState,
};
use kafka_producer_tokio::{DeliveryFuture, Producer};
use tokio::runtime::Runtime;

fn rt() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

struct Tokio;

impl Driver for Tokio {
    type Producer = Producer;
    type Pending = DeliveryFuture;

    fn connect(config: Config) -> Producer {
        rt().block_on(Producer::connect(config)).expect("connect")
    }

    fn send(p: &Producer, record: Record) -> Result<DeliveryFuture, SendError<()>> {
        rt().block_on(p.send(record))
    }

    fn wait(pending: DeliveryFuture, timeout: Duration) -> Option<DeliveryResult> {
        rt().block_on(async { tokio::time::timeout(timeout, pending).await.ok() })
    }

    fn try_result(pending: &mut DeliveryFuture) -> Option<DeliveryResult> {
        pending.try_result()
    }

    fn flush(p: &Producer) {
        rt().block_on(p.flush());
    }

    fn close(p: &Producer, timeout: Duration) -> Result<(), CloseError> {
        rt().block_on(p.close(timeout))
    }

    fn init_transactions(p: &Producer) -> Result<(), TransactionError> {
        rt().block_on(p.init_transactions())
    }

    fn begin_transaction(p: &Producer) -> Result<(), TransactionError> {
        p.begin_transaction()
    }

    fn send_offsets_to_transaction(
        p: &Producer,
        offsets: Vec<OffsetCommit>,
        group: &ConsumerGroupMetadata,
    ) -> Result<(), TransactionError> {
        rt().block_on(p.send_offsets_to_transaction(offsets, group))
    }

    fn commit_transaction(p: &Producer) -> Result<(), TransactionError> {
        rt().block_on(p.commit_transaction())
    }

    fn abort_transaction(p: &Producer) -> Result<(), TransactionError> {
        rt().block_on(p.abort_transaction())
    }

    fn transaction_state(p: &Producer) -> Option<TransactionState> {
        p.transaction_state()
    }
}

kafka_producer_conformance::suite!(Tokio);
