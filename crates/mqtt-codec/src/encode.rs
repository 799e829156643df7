//! Packets to bytes.

use crate::packets::*;
use crate::properties::Properties;
use crate::wire::{put_binary, put_string, put_varint};
use crate::Version;
use bytes::{BufMut, BytesMut};

/// Appends `packet` to `out`, laid out for `version` (3.x packets carry no
/// properties or reason codes; those fields are dropped).
pub fn encode(out: &mut BytesMut, packet: &Packet, version: Version) {
    let v5 = version.is_v5();
    let mut body = BytesMut::new();
    let first: u8 = match packet {
        Packet::Connect(c) => {
            connect(&mut body, c);
            0x10
        }
        Packet::ConnAck(c) => {
            body.put_u8(c.session_present as u8);
            body.put_u8(c.code);
            props(&mut body, &c.properties, v5);
            0x20
        }
        Packet::Publish(p) => {
            put_string(&mut body, &p.topic);
            if p.qos != QoS::AtMostOnce {
                body.put_u16(p.packet_id.unwrap_or(1));
            }
            props(&mut body, &p.properties, v5);
            body.put_slice(&p.payload);
            0x30 | (p.dup as u8) << 3 | (p.qos as u8) << 1 | p.retain as u8
        }
        Packet::PubAck(a) => {
            ack(&mut body, a, v5);
            0x40
        }
        Packet::PubRec(a) => {
            ack(&mut body, a, v5);
            0x50
        }
        Packet::PubRel(a) => {
            ack(&mut body, a, v5);
            0x62
        }
        Packet::PubComp(a) => {
            ack(&mut body, a, v5);
            0x70
        }
        Packet::Subscribe(s) => {
            body.put_u16(s.packet_id);
            props(&mut body, &s.properties, v5);
            for (filter, o) in &s.filters {
                put_string(&mut body, filter);
                let mut options = o.qos as u8;
                if v5 {
                    options |= (o.no_local as u8) << 2
                        | (o.retain_as_published as u8) << 3
                        | (o.retain_handling & 3) << 4;
                }
                body.put_u8(options);
            }
            0x82
        }
        Packet::SubAck(s) => {
            body.put_u16(s.packet_id);
            props(&mut body, &s.properties, v5);
            body.put_slice(&s.codes);
            0x90
        }
        Packet::Unsubscribe(u) => {
            body.put_u16(u.packet_id);
            props(&mut body, &u.properties, v5);
            for filter in &u.filters {
                put_string(&mut body, filter);
            }
            0xa2
        }
        Packet::UnsubAck(u) => {
            body.put_u16(u.packet_id);
            if v5 {
                u.properties.encode(&mut body);
                body.put_slice(&u.codes);
            }
            0xb0
        }
        Packet::PingReq => 0xc0,
        Packet::PingResp => 0xd0,
        Packet::Disconnect(d) => {
            if v5 && (d.reason != 0 || !d.properties.is_empty()) {
                body.put_u8(d.reason);
                d.properties.encode(&mut body);
            }
            0xe0
        }
        Packet::Auth(a) => {
            body.put_u8(a.reason);
            a.properties.encode(&mut body);
            0xf0
        }
    };
    out.reserve(5 + body.len());
    out.put_u8(first);
    put_varint(out, body.len() as u32);
    out.put_slice(&body);
}

fn props(out: &mut BytesMut, p: &Properties, v5: bool) {
    if v5 {
        p.encode(out);
    }
}

fn ack(out: &mut BytesMut, a: &Ack, v5: bool) {
    out.put_u16(a.packet_id);
    if v5 && (a.reason != 0 || !a.properties.is_empty()) {
        out.put_u8(a.reason);
        if !a.properties.is_empty() {
            a.properties.encode(out);
        }
    }
}

fn connect(out: &mut BytesMut, c: &Connect) {
    match c.version {
        Version::V3_1 => put_binary(out, b"MQIsdp"),
        _ => put_binary(out, b"MQTT"),
    }
    out.put_u8(c.version.level());
    let mut flags = (c.clean_start as u8) << 1;
    if let Some(w) = &c.will {
        flags |= 0x04 | (w.qos as u8) << 3 | (w.retain as u8) << 5;
    }
    if c.password.is_some() {
        flags |= 0x40;
    }
    if c.username.is_some() {
        flags |= 0x80;
    }
    out.put_u8(flags);
    out.put_u16(c.keep_alive);
    let v5 = c.version.is_v5();
    props(out, &c.properties, v5);
    put_string(out, &c.client_id);
    if let Some(w) = &c.will {
        props(out, &w.properties, v5);
        put_string(out, &w.topic);
        put_binary(out, &w.payload);
    }
    if let Some(u) = &c.username {
        put_string(out, u);
    }
    if let Some(p) = &c.password {
        put_binary(out, p);
    }
}
