//! The conformance suite for `kafka-producer-blocking`.

use std::time::Duration;

use kafka_producer_blocking::{DeliveryHandle, Producer};
use kafka_producer_conformance::{CloseError, Config, DeliveryResult, Driver, Record, SendError};

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
}

kafka_producer_conformance::suite!(Blocking);
