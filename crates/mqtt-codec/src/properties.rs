//! MQTT 5 properties (spec 2.2.2): a length-prefixed list of identifier/value pairs
//! carried by most packets. One struct holds every property; which ones a packet may
//! carry is checked where the packet is decoded, not here. A property given twice is
//! a protocol error, except user properties and subscription identifiers, which may
//! repeat.

use crate::wire::{put_binary, put_string, put_varint, varint_len, Reader};
use crate::DecodeError;
use bytes::{BufMut, Bytes, BytesMut};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Properties {
    pub payload_format_indicator: Option<u8>,
    pub message_expiry_interval: Option<u32>,
    pub content_type: Option<String>,
    pub response_topic: Option<String>,
    pub correlation_data: Option<Bytes>,
    pub subscription_identifiers: Vec<u32>,
    pub session_expiry_interval: Option<u32>,
    pub assigned_client_identifier: Option<String>,
    pub server_keep_alive: Option<u16>,
    pub authentication_method: Option<String>,
    pub authentication_data: Option<Bytes>,
    pub request_problem_information: Option<u8>,
    pub will_delay_interval: Option<u32>,
    pub request_response_information: Option<u8>,
    pub response_information: Option<String>,
    pub server_reference: Option<String>,
    pub reason_string: Option<String>,
    pub receive_maximum: Option<u16>,
    pub topic_alias_maximum: Option<u16>,
    pub topic_alias: Option<u16>,
    pub maximum_qos: Option<u8>,
    pub retain_available: Option<u8>,
    pub user_properties: Vec<(String, String)>,
    pub maximum_packet_size: Option<u32>,
    pub wildcard_subscription_available: Option<u8>,
    pub subscription_identifier_available: Option<u8>,
    pub shared_subscription_available: Option<u8>,
}

fn once<T>(slot: &mut Option<T>, value: T) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DecodeError::Protocol("property given twice"));
    }
    *slot = Some(value);
    Ok(())
}

/// A byte property that only takes 0 or 1.
fn flag(r: &mut Reader) -> Result<u8, DecodeError> {
    match r.u8()? {
        v @ (0 | 1) => Ok(v),
        _ => Err(DecodeError::Protocol("property value out of range")),
    }
}

impl Properties {
    pub fn is_empty(&self) -> bool {
        *self == Properties::default()
    }

    /// Reads the property length and the properties it covers.
    pub fn decode(r: &mut Reader) -> Result<Properties, DecodeError> {
        let len = r.varint()? as usize;
        let mut r = Reader::new(r.take(len)?);
        let mut p = Properties::default();
        while !r.is_empty() {
            match r.varint()? {
                0x01 => once(&mut p.payload_format_indicator, flag(&mut r)?)?,
                0x02 => once(&mut p.message_expiry_interval, r.u32()?)?,
                0x03 => once(&mut p.content_type, r.string()?)?,
                0x08 => once(&mut p.response_topic, r.string()?)?,
                0x09 => once(&mut p.correlation_data, r.binary()?)?,
                0x0B => match r.varint()? {
                    0 => return Err(DecodeError::Protocol("subscription identifier 0")),
                    id => p.subscription_identifiers.push(id),
                },
                0x11 => once(&mut p.session_expiry_interval, r.u32()?)?,
                0x12 => once(&mut p.assigned_client_identifier, r.string()?)?,
                0x13 => once(&mut p.server_keep_alive, r.u16()?)?,
                0x15 => once(&mut p.authentication_method, r.string()?)?,
                0x16 => once(&mut p.authentication_data, r.binary()?)?,
                0x17 => once(&mut p.request_problem_information, flag(&mut r)?)?,
                0x18 => once(&mut p.will_delay_interval, r.u32()?)?,
                0x19 => once(&mut p.request_response_information, flag(&mut r)?)?,
                0x1A => once(&mut p.response_information, r.string()?)?,
                0x1C => once(&mut p.server_reference, r.string()?)?,
                0x1F => once(&mut p.reason_string, r.string()?)?,
                0x21 => match r.u16()? {
                    0 => return Err(DecodeError::Protocol("receive maximum 0")),
                    v => once(&mut p.receive_maximum, v)?,
                },
                0x22 => once(&mut p.topic_alias_maximum, r.u16()?)?,
                0x23 => match r.u16()? {
                    0 => return Err(DecodeError::Protocol("topic alias 0")),
                    v => once(&mut p.topic_alias, v)?,
                },
                0x24 => once(&mut p.maximum_qos, flag(&mut r)?)?,
                0x25 => once(&mut p.retain_available, flag(&mut r)?)?,
                0x26 => {
                    let key = r.string()?;
                    let value = r.string()?;
                    p.user_properties.push((key, value));
                }
                0x27 => match r.u32()? {
                    0 => return Err(DecodeError::Protocol("maximum packet size 0")),
                    v => once(&mut p.maximum_packet_size, v)?,
                },
                0x28 => once(&mut p.wildcard_subscription_available, flag(&mut r)?)?,
                0x29 => once(&mut p.subscription_identifier_available, flag(&mut r)?)?,
                0x2A => once(&mut p.shared_subscription_available, flag(&mut r)?)?,
                _ => return Err(DecodeError::Malformed("unknown property identifier")),
            }
        }
        Ok(p)
    }

    /// Writes the property length and the properties.
    pub fn encode(&self, out: &mut BytesMut) {
        let mut body = BytesMut::new();
        self.encode_body(&mut body);
        put_varint(out, body.len() as u32);
        out.put_slice(&body);
    }

    /// How many bytes `encode` writes.
    pub fn encoded_len(&self) -> usize {
        let mut body = BytesMut::new();
        self.encode_body(&mut body);
        varint_len(body.len() as u32) + body.len()
    }

    fn encode_body(&self, out: &mut BytesMut) {
        let byte = |out: &mut BytesMut, id: u8, v: Option<u8>| {
            if let Some(v) = v {
                out.put_u8(id);
                out.put_u8(v);
            }
        };
        let two = |out: &mut BytesMut, id: u8, v: Option<u16>| {
            if let Some(v) = v {
                out.put_u8(id);
                out.put_u16(v);
            }
        };
        let four = |out: &mut BytesMut, id: u8, v: Option<u32>| {
            if let Some(v) = v {
                out.put_u8(id);
                out.put_u32(v);
            }
        };
        let string = |out: &mut BytesMut, id: u8, v: &Option<String>| {
            if let Some(v) = v {
                out.put_u8(id);
                put_string(out, v);
            }
        };
        let binary = |out: &mut BytesMut, id: u8, v: &Option<Bytes>| {
            if let Some(v) = v {
                out.put_u8(id);
                put_binary(out, v);
            }
        };
        byte(out, 0x01, self.payload_format_indicator);
        four(out, 0x02, self.message_expiry_interval);
        string(out, 0x03, &self.content_type);
        string(out, 0x08, &self.response_topic);
        binary(out, 0x09, &self.correlation_data);
        for id in &self.subscription_identifiers {
            out.put_u8(0x0B);
            put_varint(out, *id);
        }
        four(out, 0x11, self.session_expiry_interval);
        string(out, 0x12, &self.assigned_client_identifier);
        two(out, 0x13, self.server_keep_alive);
        string(out, 0x15, &self.authentication_method);
        binary(out, 0x16, &self.authentication_data);
        byte(out, 0x17, self.request_problem_information);
        four(out, 0x18, self.will_delay_interval);
        byte(out, 0x19, self.request_response_information);
        string(out, 0x1A, &self.response_information);
        string(out, 0x1C, &self.server_reference);
        string(out, 0x1F, &self.reason_string);
        two(out, 0x21, self.receive_maximum);
        two(out, 0x22, self.topic_alias_maximum);
        two(out, 0x23, self.topic_alias);
        byte(out, 0x24, self.maximum_qos);
        byte(out, 0x25, self.retain_available);
        for (k, v) in &self.user_properties {
            out.put_u8(0x26);
            put_string(out, k);
            put_string(out, v);
        }
        four(out, 0x27, self.maximum_packet_size);
        byte(out, 0x28, self.wildcard_subscription_available);
        byte(out, 0x29, self.subscription_identifier_available);
        byte(out, 0x2A, self.shared_subscription_available);
    }
}
