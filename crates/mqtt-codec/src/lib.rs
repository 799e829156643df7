//! MQTT 3.1, 3.1.1 and 5.0 packets: bytes only, no I/O, no broker state.
//!
//! [`decode`] takes one packet off the front of a read buffer (or says more bytes are
//! needed); [`encode`] appends one. The protocol version is part of every call
//! because 3.x and 5.0 packets differ in layout (properties, reason codes); CONNECT
//! carries its own version, which the connection then uses for everything after it.
//!
//! Decoding is strict where the specs say a packet is malformed (reserved flags,
//! QoS 3, bad UTF-8, U+0000 in strings, trailing bytes, oversized packets) and never
//! panics: every error is a [`DecodeError`], which maps to the reason code the
//! server answers with before closing.

mod decode;
mod encode;
mod packets;
mod properties;
pub mod topic;
pub mod wire;

pub use decode::decode;
pub use encode::encode;
pub use packets::*;
pub use properties::Properties;

/// The protocol level in CONNECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// MQTT 3.1, protocol name `MQIsdp`, level 3.
    V3_1,
    /// MQTT 3.1.1, level 4.
    V3_1_1,
    /// MQTT 5.0, level 5.
    V5,
}

impl Version {
    pub fn level(self) -> u8 {
        match self {
            Version::V3_1 => 3,
            Version::V3_1_1 => 4,
            Version::V5 => 5,
        }
    }
    pub fn is_v5(self) -> bool {
        self == Version::V5
    }
}

/// Why bytes did not decode to a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a well-formed packet (reason code 0x81).
    Malformed(&'static str),
    /// Well-formed but breaks a protocol rule (0x82).
    Protocol(&'static str),
    /// A string is not valid UTF-8 or holds U+0000 (malformed, 0x81; a topic name
    /// with it is "topic name invalid" to the adapter).
    BadUtf8,
    /// Larger than the maximum packet size (0x95).
    TooLarge { size: usize, max: usize },
    /// CONNECT with a protocol name or level this codec does not speak (0x84; 3.1.1's
    /// CONNACK return code 1).
    UnsupportedVersion,
}

impl DecodeError {
    /// The MQTT 5 reason code for the DISCONNECT (or CONNACK) that reports it.
    pub fn reason_code(&self) -> u8 {
        match self {
            DecodeError::Malformed(_) | DecodeError::BadUtf8 => reason::MALFORMED_PACKET,
            DecodeError::Protocol(_) => reason::PROTOCOL_ERROR,
            DecodeError::TooLarge { .. } => reason::PACKET_TOO_LARGE,
            DecodeError::UnsupportedVersion => reason::UNSUPPORTED_PROTOCOL_VERSION,
        }
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Malformed(why) => write!(f, "malformed packet: {why}"),
            DecodeError::Protocol(why) => write!(f, "protocol error: {why}"),
            DecodeError::BadUtf8 => f.write_str("malformed packet: invalid UTF-8 string"),
            DecodeError::TooLarge { size, max } => {
                write!(f, "packet of {size} bytes exceeds the maximum of {max}")
            }
            DecodeError::UnsupportedVersion => f.write_str("unsupported protocol version"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// MQTT 5 reason codes (spec 2.4) the broker uses.
pub mod reason {
    pub const SUCCESS: u8 = 0x00;
    pub const GRANTED_QOS_1: u8 = 0x01;
    pub const GRANTED_QOS_2: u8 = 0x02;
    pub const DISCONNECT_WITH_WILL: u8 = 0x04;
    pub const NO_MATCHING_SUBSCRIBERS: u8 = 0x10;
    pub const NO_SUBSCRIPTION_EXISTED: u8 = 0x11;
    pub const UNSPECIFIED_ERROR: u8 = 0x80;
    pub const MALFORMED_PACKET: u8 = 0x81;
    pub const PROTOCOL_ERROR: u8 = 0x82;
    pub const IMPLEMENTATION_SPECIFIC_ERROR: u8 = 0x83;
    pub const UNSUPPORTED_PROTOCOL_VERSION: u8 = 0x84;
    pub const CLIENT_IDENTIFIER_NOT_VALID: u8 = 0x85;
    pub const BAD_USER_NAME_OR_PASSWORD: u8 = 0x86;
    pub const NOT_AUTHORIZED: u8 = 0x87;
    pub const SERVER_UNAVAILABLE: u8 = 0x88;
    pub const SERVER_BUSY: u8 = 0x89;
    pub const SERVER_SHUTTING_DOWN: u8 = 0x8B;
    pub const BAD_AUTHENTICATION_METHOD: u8 = 0x8C;
    pub const KEEP_ALIVE_TIMEOUT: u8 = 0x8D;
    pub const SESSION_TAKEN_OVER: u8 = 0x8E;
    pub const TOPIC_FILTER_INVALID: u8 = 0x8F;
    pub const TOPIC_NAME_INVALID: u8 = 0x90;
    pub const PACKET_IDENTIFIER_IN_USE: u8 = 0x91;
    pub const PACKET_IDENTIFIER_NOT_FOUND: u8 = 0x92;
    pub const RECEIVE_MAXIMUM_EXCEEDED: u8 = 0x93;
    pub const TOPIC_ALIAS_INVALID: u8 = 0x94;
    pub const PACKET_TOO_LARGE: u8 = 0x95;
    pub const QUOTA_EXCEEDED: u8 = 0x97;
    pub const ADMINISTRATIVE_ACTION: u8 = 0x98;
    pub const PAYLOAD_FORMAT_INVALID: u8 = 0x99;
    pub const RETAIN_NOT_SUPPORTED: u8 = 0x9A;
    pub const QOS_NOT_SUPPORTED: u8 = 0x9B;
    pub const SHARED_SUBSCRIPTIONS_NOT_SUPPORTED: u8 = 0x9E;
    pub const SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED: u8 = 0xA1;
    pub const WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED: u8 = 0xA2;
}

/// MQTT 3.1/3.1.1 CONNACK return codes.
pub mod connack_v3 {
    pub const ACCEPTED: u8 = 0;
    pub const UNACCEPTABLE_PROTOCOL_VERSION: u8 = 1;
    pub const IDENTIFIER_REJECTED: u8 = 2;
    pub const SERVER_UNAVAILABLE: u8 = 3;
    pub const BAD_USERNAME_OR_PASSWORD: u8 = 4;
    pub const NOT_AUTHORIZED: u8 = 5;
}

#[cfg(test)]
mod tests;
