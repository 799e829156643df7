//! Hash maps for the maps a message passes through (channels by number, consumers
//! by tag, exchanges and queues by name, unacknowledged positions): std's SipHash
//! cost about a sixth of the broker's instructions per message there. foldhash is
//! several times cheaper and still seeded per map, so colliding names cannot be
//! prepared in advance; these maps hold only what an authenticated client declared.

pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
