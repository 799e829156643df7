//! Bytes to packets.

use crate::packets::*;
use crate::properties::Properties;
use crate::wire::{decode_varint, Reader};
use crate::{DecodeError, Version};
use bytes::{Buf, BytesMut};

/// Takes one packet off the front of `buf`. `Ok(None)`: the packet is not complete
/// yet (nothing is consumed). `version` is the connection's (ignored for CONNECT,
/// which names its own); `max_size` bounds the whole packet, fixed header included,
/// and is checked as soon as the length is known, before the body arrives.
pub fn decode(
    buf: &mut BytesMut,
    version: Version,
    max_size: usize,
) -> Result<Option<Packet>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let Some((len, used)) = decode_varint(&buf[1..])? else {
        return Ok(None);
    };
    let size = 1 + used + len as usize;
    if size > max_size {
        return Err(DecodeError::TooLarge {
            size,
            max: max_size,
        });
    }
    if buf.len() < size {
        return Ok(None);
    }
    buf.advance(1 + used);
    let body = buf.split_to(len as usize).freeze();
    let mut r = Reader::new(body);
    let packet = decode_body(first, &mut r, version)?;
    if !r.is_empty() {
        return Err(DecodeError::Malformed(
            "bytes left after the packet's fields",
        ));
    }
    Ok(Some(packet))
}

fn flags(first: u8, expected: u8) -> Result<(), DecodeError> {
    if first & 0x0f != expected {
        return Err(DecodeError::Malformed("reserved fixed header flags"));
    }
    Ok(())
}

fn props_of(r: &mut Reader, version: Version) -> Result<Properties, DecodeError> {
    if version.is_v5() {
        Properties::decode(r)
    } else {
        Ok(Properties::default())
    }
}

fn packet_id(r: &mut Reader) -> Result<u16, DecodeError> {
    match r.u16()? {
        0 => Err(DecodeError::Protocol("packet identifier 0")),
        id => Ok(id),
    }
}

fn decode_body(first: u8, r: &mut Reader, version: Version) -> Result<Packet, DecodeError> {
    let kind = first >> 4;
    Ok(match kind {
        1 => {
            flags(first, 0)?;
            Packet::Connect(Box::new(connect(r)?))
        }
        2 => {
            flags(first, 0)?;
            let ack_flags = r.u8()?;
            if ack_flags & 0xfe != 0 {
                return Err(DecodeError::Malformed("reserved CONNACK flags"));
            }
            let code = r.u8()?;
            let properties = props_of(r, version)?;
            Packet::ConnAck(ConnAck {
                session_present: ack_flags & 1 != 0,
                code,
                properties,
            })
        }
        3 => Packet::Publish(publish(first, r, version)?),
        4 => {
            flags(first, 0)?;
            Packet::PubAck(ack(r, version)?)
        }
        5 => {
            flags(first, 0)?;
            Packet::PubRec(ack(r, version)?)
        }
        6 => {
            flags(first, 2)?;
            Packet::PubRel(ack(r, version)?)
        }
        7 => {
            flags(first, 0)?;
            Packet::PubComp(ack(r, version)?)
        }
        8 => {
            flags(first, 2)?;
            Packet::Subscribe(subscribe(r, version)?)
        }
        9 => {
            flags(first, 0)?;
            let packet_id = packet_id(r)?;
            let properties = props_of(r, version)?;
            let codes = r.rest().to_vec();
            Packet::SubAck(SubAck {
                packet_id,
                properties,
                codes,
            })
        }
        10 => {
            flags(first, 2)?;
            let packet_id = packet_id(r)?;
            let properties = props_of(r, version)?;
            let mut filters = Vec::new();
            while !r.is_empty() {
                filters.push(r.string()?);
            }
            if filters.is_empty() {
                return Err(DecodeError::Protocol("UNSUBSCRIBE without a topic filter"));
            }
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                properties,
                filters,
            })
        }
        11 => {
            flags(first, 0)?;
            let packet_id = packet_id(r)?;
            let properties = props_of(r, version)?;
            let codes = if version.is_v5() {
                r.rest().to_vec()
            } else {
                Vec::new()
            };
            Packet::UnsubAck(UnsubAck {
                packet_id,
                properties,
                codes,
            })
        }
        12 => {
            flags(first, 0)?;
            Packet::PingReq
        }
        13 => {
            flags(first, 0)?;
            Packet::PingResp
        }
        14 => {
            flags(first, 0)?;
            let mut d = Disconnect::default();
            if version.is_v5() && !r.is_empty() {
                d.reason = r.u8()?;
                if !r.is_empty() {
                    d.properties = Properties::decode(r)?;
                }
            }
            Packet::Disconnect(d)
        }
        15 if version.is_v5() => {
            flags(first, 0)?;
            let mut a = Auth::default();
            if !r.is_empty() {
                a.reason = r.u8()?;
                a.properties = Properties::decode(r)?;
            }
            Packet::Auth(a)
        }
        _ => return Err(DecodeError::Malformed("reserved packet type")),
    })
}

fn connect(r: &mut Reader) -> Result<Connect, DecodeError> {
    let name = r.binary()?;
    let level = r.u8()?;
    let version = match (&name[..], level) {
        (b"MQIsdp", 3) => Version::V3_1,
        (b"MQTT", 4) => Version::V3_1_1,
        (b"MQTT", 5) => Version::V5,
        (b"MQTT" | b"MQIsdp", _) => return Err(DecodeError::UnsupportedVersion),
        _ => return Err(DecodeError::Protocol("unknown protocol name")),
    };
    let flags = r.u8()?;
    if flags & 0x01 != 0 {
        return Err(DecodeError::Malformed("reserved CONNECT flag set"));
    }
    let clean_start = flags & 0x02 != 0;
    let will_flag = flags & 0x04 != 0;
    let will_qos = (flags >> 3) & 0x03;
    let will_retain = flags & 0x20 != 0;
    let password_flag = flags & 0x40 != 0;
    let username_flag = flags & 0x80 != 0;
    if !will_flag && (will_qos != 0 || will_retain) {
        return Err(DecodeError::Malformed("will QoS or retain without a will"));
    }
    let will_qos = QoS::from_u8(will_qos).ok_or(DecodeError::Malformed("will QoS 3"))?;
    if password_flag && !username_flag && version != Version::V5 {
        return Err(DecodeError::Malformed("password without a user name"));
    }
    let keep_alive = r.u16()?;
    let properties = props_of(r, version)?;
    let client_id = r.string()?;
    let will = if will_flag {
        let properties = props_of(r, version)?;
        let topic = r.string()?;
        let payload = r.binary()?;
        Some(Will {
            topic,
            payload,
            qos: will_qos,
            retain: will_retain,
            properties,
        })
    } else {
        None
    };
    let username = if username_flag {
        Some(r.string()?)
    } else {
        None
    };
    let password = if password_flag {
        Some(r.binary()?)
    } else {
        None
    };
    Ok(Connect {
        version,
        clean_start,
        keep_alive,
        properties,
        client_id,
        will,
        username,
        password,
    })
}

fn publish(first: u8, r: &mut Reader, version: Version) -> Result<Publish, DecodeError> {
    let dup = first & 0x08 != 0;
    let qos = QoS::from_u8((first >> 1) & 0x03).ok_or(DecodeError::Malformed("PUBLISH QoS 3"))?;
    let retain = first & 0x01 != 0;
    if dup && qos == QoS::AtMostOnce {
        return Err(DecodeError::Malformed("DUP set on a QoS 0 PUBLISH"));
    }
    let topic = r.string()?;
    let packet_id = match qos {
        QoS::AtMostOnce => None,
        _ => Some(packet_id(r)?),
    };
    let properties = props_of(r, version)?;
    let payload = r.rest();
    Ok(Publish {
        dup,
        qos,
        retain,
        topic,
        packet_id,
        properties,
        payload,
    })
}

fn ack(r: &mut Reader, version: Version) -> Result<Ack, DecodeError> {
    let packet_id = packet_id(r)?;
    let mut a = Ack::new(packet_id);
    if version.is_v5() && !r.is_empty() {
        a.reason = r.u8()?;
        if !r.is_empty() {
            a.properties = Properties::decode(r)?;
        }
    }
    Ok(a)
}

fn subscribe(r: &mut Reader, version: Version) -> Result<Subscribe, DecodeError> {
    let packet_id = packet_id(r)?;
    let properties = props_of(r, version)?;
    let mut filters = Vec::new();
    while !r.is_empty() {
        let filter = r.string()?;
        let options = r.u8()?;
        let reserved = if version.is_v5() { 0xc0 } else { 0xfc };
        if options & reserved != 0 {
            return Err(DecodeError::Malformed("reserved subscription option bits"));
        }
        let qos =
            QoS::from_u8(options & 0x03).ok_or(DecodeError::Malformed("subscription QoS 3"))?;
        let retain_handling = (options >> 4) & 0x03;
        if retain_handling == 3 {
            return Err(DecodeError::Protocol("retain handling 3"));
        }
        filters.push((
            filter,
            SubOptions {
                qos,
                no_local: options & 0x04 != 0,
                retain_as_published: options & 0x08 != 0,
                retain_handling,
            },
        ));
    }
    if filters.is_empty() {
        return Err(DecodeError::Protocol("SUBSCRIBE without a topic filter"));
    }
    Ok(Subscribe {
        packet_id,
        properties,
        filters,
    })
}
