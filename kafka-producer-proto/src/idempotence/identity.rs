//! The producer id and epoch, and the state of getting them: one state
//! machine, named after the Java client's states, whose transitions all
//! live in [`Identity::on`].

use core::time::Duration;

use crate::kafka_code::KafkaCode;
use crate::time::Instant;

/// Where the producer id stands. Named after the Java client's states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdState {
    /// No id yet: an InitProducerId is due (at `not_before`).
    Uninitialized { not_before: Instant },
    /// InitProducerId in flight.
    Initializing,
    /// An id and epoch are known; batches may flow.
    Ready,
    /// A bump was asked for: nothing new is sent; once nothing is in flight
    /// InitProducerId with the current id and epoch goes out.
    BumpPending,
    /// The bump's InitProducerId is in flight.
    Bumping,
}

/// What happens to the producer id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdInput {
    /// An InitProducerId (first or bump) went out.
    Sent,
    /// InitProducerId answered with an id and epoch.
    Granted { id: i64, epoch: i16 },
    /// InitProducerId failed in a way worth retrying after `retry_at`.
    Retry { retry_at: Instant },
    /// A partition's state can no longer be trusted: bump the epoch.
    BumpRequired,
    /// The broker would not bump this id (librdkafka's mock cluster, or a
    /// broker before KIP-360): get a new id instead, which restarts every
    /// sequence just as a bump does.
    BumpRefused,
    /// A transaction manager got this id and epoch for the producer (its
    /// own InitProducerId, or an EndTxn that bumped the epoch).
    Assigned { id: i64, epoch: i16 },
}

/// The producer id and epoch, and the state of getting them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    pub id: i64,
    pub epoch: i16,
    pub state: IdState,
    /// Bumps completed, for metrics and tests.
    pub bumps: u32,
    /// The next bump asks for a new id rather than a new epoch.
    fresh_id: bool,
}

impl Identity {
    pub fn new() -> Identity {
        Identity {
            id: -1,
            epoch: -1,
            state: IdState::Uninitialized {
                not_before: Instant::ZERO,
            },
            bumps: 0,
            fresh_id: false,
        }
    }

    /// Whether new batches may be sent.
    pub fn ready(&self) -> bool {
        self.state == IdState::Ready
    }

    /// The single place where the id's state changes.
    pub fn on(&mut self, input: IdInput) {
        self.state = match (self.state, input) {
            (IdState::Uninitialized { .. }, IdInput::Sent) => IdState::Initializing,
            (IdState::BumpPending, IdInput::Sent) => IdState::Bumping,
            (IdState::Initializing | IdState::Bumping, IdInput::Granted { id, epoch }) => {
                if self.id >= 0 {
                    self.bumps += 1;
                }
                self.id = id;
                self.epoch = epoch;
                self.fresh_id = false;
                IdState::Ready
            }
            // A failed bump is retried as a bump; a failed first request as
            // a first request.
            (IdState::Bumping, IdInput::Retry { .. }) => IdState::BumpPending,
            // A transactional producer's id comes from its transaction
            // manager, whatever this machine was doing.
            (_, IdInput::Assigned { id, epoch }) => {
                if self.id >= 0 {
                    self.bumps += 1;
                }
                self.id = id;
                self.epoch = epoch;
                self.fresh_id = false;
                IdState::Ready
            }
            (IdState::Bumping, IdInput::BumpRefused) => {
                self.fresh_id = true;
                IdState::BumpPending
            }
            (IdState::Initializing, IdInput::Retry { retry_at }) => IdState::Uninitialized {
                not_before: retry_at,
            },
            (IdState::Ready, IdInput::BumpRequired) => IdState::BumpPending,
            // A bump already on its way covers a second reason for one.
            (state @ (IdState::BumpPending | IdState::Bumping), IdInput::BumpRequired) => state,
            // Before any id exists there is nothing to bump.
            (
                state @ (IdState::Uninitialized { .. } | IdState::Initializing),
                IdInput::BumpRequired,
            ) => state,
            (state, _) => state,
        };
    }

    /// The id and epoch to ask InitProducerId to bump: the current ones,
    /// unless the epoch is exhausted, in which case a new id is needed
    /// (-1, -1).
    pub fn bump_request(&self) -> (i64, i16) {
        if self.state == IdState::BumpPending && self.epoch < i16::MAX && !self.fresh_id {
            (self.id, self.epoch)
        } else {
            (-1, -1)
        }
    }
}

/// How long to wait between InitProducerId attempts.
pub(crate) const INIT_RETRY: Duration = Duration::from_millis(100);

/// What an InitProducerId answer means for the producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InitAnswer {
    /// An id and epoch: feed [`IdInput::Granted`].
    Granted { id: i64, epoch: i16 },
    /// Worth asking again after a backoff.
    Retry,
    /// The producer cannot go on.
    Fatal(KafkaCode),
    /// The broker will not bump this id: feed [`IdInput::BumpRefused`].
    BumpRefused,
}

impl Identity {
    /// The rule for an InitProducerId answer with `code`, `id` and `epoch`.
    pub fn judge_init(&self, code: KafkaCode, id: i64, epoch: i16) -> InitAnswer {
        match code {
            KafkaCode::None if id >= 0 && epoch >= 0 => InitAnswer::Granted { id, epoch },
            code if code == KafkaCode::None || code.is_retriable() => InitAnswer::Retry,
            // Authorization is not ours to fix; a fenced bump means another
            // producer took our id.
            KafkaCode::ClusterAuthorizationFailed
            | KafkaCode::TransactionalIdAuthorizationFailed
            | KafkaCode::ProducerFenced => InitAnswer::Fatal(code),
            // A broker that will not bump this id: a new id restarts the
            // sequences just as well.
            _ if self.state == IdState::Bumping => InitAnswer::BumpRefused,
            code => InitAnswer::Fatal(code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_transitions() {
        let mut id = Identity::new();
        assert!(!id.ready());
        id.on(IdInput::BumpRequired);
        assert!(
            matches!(id.state, IdState::Uninitialized { .. }),
            "nothing to bump yet"
        );
        id.on(IdInput::Sent);
        id.on(IdInput::Granted { id: 7, epoch: 0 });
        assert!(id.ready());
        assert_eq!(id.bumps, 0);
        id.on(IdInput::BumpRequired);
        assert_eq!(id.state, IdState::BumpPending);
        assert_eq!(id.bump_request(), (7, 0));
        id.on(IdInput::Sent);
        id.on(IdInput::Retry {
            retry_at: Instant::ZERO,
        });
        assert_eq!(id.state, IdState::BumpPending, "a failed bump stays a bump");
        id.on(IdInput::Sent);
        id.on(IdInput::Granted { id: 7, epoch: 1 });
        assert_eq!((id.id, id.epoch, id.bumps), (7, 1, 1));
        let exhausted = Identity {
            epoch: i16::MAX,
            state: IdState::BumpPending,
            ..id
        };
        assert_eq!(
            exhausted.bump_request(),
            (-1, -1),
            "epoch 32767: a new producer id"
        );
        let mut refused = Identity {
            state: IdState::Bumping,
            ..id
        };
        refused.on(IdInput::BumpRefused);
        assert_eq!(
            (refused.state, refused.bump_request()),
            (IdState::BumpPending, (-1, -1)),
            "no bump: a new id"
        );
    }

    #[test]
    fn init_answers() {
        let first = Identity::new();
        assert_eq!(
            first.judge_init(KafkaCode::None, 7, 0),
            InitAnswer::Granted { id: 7, epoch: 0 }
        );
        assert_eq!(
            first.judge_init(KafkaCode::None, -1, -1),
            InitAnswer::Retry,
            "no error and no id: ask again"
        );
        assert_eq!(
            first.judge_init(KafkaCode::CoordinatorLoadInProgress, -1, -1),
            InitAnswer::Retry
        );
        assert_eq!(
            first.judge_init(KafkaCode::ClusterAuthorizationFailed, -1, -1),
            InitAnswer::Fatal(KafkaCode::ClusterAuthorizationFailed)
        );
        assert_eq!(
            first.judge_init(KafkaCode::InvalidRequest, -1, -1),
            InitAnswer::Fatal(KafkaCode::InvalidRequest),
            "a first request refused for good"
        );
        let bumping = Identity {
            state: IdState::Bumping,
            ..first
        };
        assert_eq!(
            bumping.judge_init(KafkaCode::InvalidRequest, -1, -1),
            InitAnswer::BumpRefused,
            "a bump refused: get a new id"
        );
        assert_eq!(
            bumping.judge_init(KafkaCode::ProducerFenced, -1, -1),
            InitAnswer::Fatal(KafkaCode::ProducerFenced)
        );
    }
}
