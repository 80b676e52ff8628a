//! Transactions on the async [`Producer`]: each call returns once its work
//! is done (or refused at once), with the core's [`TransactionError`],
//! whose [`class`](TransactionError::class) says what to do about it.

use kafka_producer_proto::{
    ConsumerGroupMetadata, OffsetCommit, TransactionError, TransactionState,
};

use crate::producer::Producer;

impl Producer {
    /// Finds the transaction coordinator of `transactional.id` and gets a
    /// producer id and epoch for it, fencing every earlier producer with
    /// the same id (and aborting what it left open). Call once, first.
    ///
    /// Cancelling the future leaves the work going on; calling it again
    /// waits for the same work.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use kafka_producer_proto::sim::SimServer;
    /// use kafka_producer_tokio::{Config, ConsumerGroupMetadata, OffsetCommit, Producer, Record};
    ///
    /// let server = SimServer::bind()?;
    /// let config = Config::builder()
    ///     .bootstrap_servers(&server.bootstrap_servers())
    ///     .transactional_id("billing")
    ///     .build()?;
    /// let producer = Producer::connect(config).await?;
    /// producer.init_transactions().await?;
    ///
    /// producer.begin_transaction()?;
    /// let delivery = producer.send(Record::new("invoices").value("42 EUR")).await?;
    /// let group = ConsumerGroupMetadata::new("billing-consumers");
    /// producer
    ///     .send_offsets_to_transaction(vec![OffsetCommit::new("orders", 0, 7)], &group)
    ///     .await?;
    /// producer.commit_transaction().await?;
    /// assert!(delivery.await.is_ok());
    /// # producer.close(std::time::Duration::from_secs(5)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn init_transactions(&self) -> Result<(), TransactionError> {
        let id = self.shared().with(|e| e.init_transactions())?;
        self.shared().transaction(id).await
    }

    /// Opens a transaction (local: no request). Records sent from now on,
    /// and offsets, belong to it until it is committed or aborted.
    pub fn begin_transaction(&self) -> Result<(), TransactionError> {
        self.shared().with(|e| e.begin_transaction())
    }

    /// Adds consumed offsets to the open transaction: they commit for the
    /// group if and only if the transaction commits. `group` is the
    /// consumer's group metadata (KIP-447), so that a consumer that lost
    /// its partitions cannot commit for them.
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: Vec<OffsetCommit>,
        group: &ConsumerGroupMetadata,
    ) -> Result<(), TransactionError> {
        let id = self
            .shared()
            .with(|e| e.send_offsets_to_transaction(offsets, group))?;
        self.shared().transaction(id).await
    }

    /// Commits the open transaction: sends every record at once, waits for
    /// all of them and the offsets, then commits. An abortable error means:
    /// call [`Producer::abort_transaction`], then go on.
    pub async fn commit_transaction(&self) -> Result<(), TransactionError> {
        let id = self.shared().with(|e| e.commit_transaction())?;
        self.shared().transaction(id).await
    }

    /// Aborts the open transaction, or gets past an abortable error:
    /// records not sent yet fail, those in flight are waited for, and
    /// nothing of the transaction becomes visible.
    pub async fn abort_transaction(&self) -> Result<(), TransactionError> {
        let id = self.shared().with(|e| e.abort_transaction())?;
        self.shared().transaction(id).await
    }

    /// The transaction state, with a `transactional.id`.
    pub fn transaction_state(&self) -> Option<TransactionState> {
        self.shared().with(|e| e.transaction_state())
    }
}
