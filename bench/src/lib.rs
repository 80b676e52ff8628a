//! The side-by-side benchmark's shared parts: the client contract of
//! `peers/README.md` (command line, values, measures, result line), used by
//! the clients written here (`ours`, `rdkafka`) and read by the
//! orchestrator (`side-by-side`).

pub mod contract;
pub mod measure;
pub mod values;
