//! One file per scenario; `throughput` is publish/consume, the others exercise
//! connection and metadata handling.

pub mod churn;
pub mod declare;
pub mod idle;
pub mod million;
pub mod throughput;
