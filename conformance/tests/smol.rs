//! The conformance suite for `kafka-producer-smol`.

use std::time::Duration;

use kafka_producer_conformance::{CloseError, Config, DeliveryResult, Driver, Record, SendError};
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
}

kafka_producer_conformance::suite!(Smol);
