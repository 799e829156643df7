//! The metadata journal: durable topology changes as records in the store's metadata log.

pub mod codec;
