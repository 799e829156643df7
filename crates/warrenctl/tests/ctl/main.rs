//! End-to-end tests of the `warrenctl` binary against a broker's management API
//! (see `harness` for which broker). Each test asserts what an operator sees:
//! stdout, stderr and the exit code, and where cheap the effect over AMQP.

mod harness;

mod definitions;
mod errors;
mod listing;
mod options;
mod permissions;
mod policies;
mod queues;
mod records;
mod sessions;
mod status;
mod tracing;
mod users;

/// Arguments for lapin, built from `(key, value)` pairs.
pub fn table(entries: &[(&str, lapin::types::AMQPValue)]) -> lapin::types::FieldTable {
    let mut t = lapin::types::FieldTable::default();
    for (k, v) in entries {
        t.insert((*k).into(), v.clone());
    }
    t
}
