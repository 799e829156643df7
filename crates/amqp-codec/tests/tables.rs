//! Field tables: every RabbitMQ type tag, byte for byte, both ways.

use amqp_codec::*;
use bytes::{Bytes, BytesMut};

/// One entry per tag, in the order written, with the bytes each must produce.
fn every_tag() -> (FieldTable, Vec<u8>) {
    let mut inner = FieldTable::new();
    inner.insert("n", FieldValue::I8(-1));
    let entries: Vec<(&str, FieldValue, Vec<u8>)> = vec![
        ("t", FieldValue::Bool(true), vec![b't', 1]),
        ("b", FieldValue::I8(-2), vec![b'b', 0xFE]),
        ("B", FieldValue::U8(200), vec![b'B', 200]),
        ("s", FieldValue::I16(-2), vec![b's', 0xFF, 0xFE]),
        ("u", FieldValue::U16(0xBEEF), vec![b'u', 0xBE, 0xEF]),
        ("I", FieldValue::I32(-3), vec![b'I', 0xFF, 0xFF, 0xFF, 0xFD]),
        (
            "i",
            FieldValue::U32(0xDEADBEEF),
            vec![b'i', 0xDE, 0xAD, 0xBE, 0xEF],
        ),
        (
            "l",
            FieldValue::I64(-4),
            [vec![b'l'], (-4i64).to_be_bytes().to_vec()].concat(),
        ),
        (
            "f",
            FieldValue::F32(1.5),
            [vec![b'f'], 1.5f32.to_be_bytes().to_vec()].concat(),
        ),
        (
            "d",
            FieldValue::F64(-0.25),
            [vec![b'd'], (-0.25f64).to_be_bytes().to_vec()].concat(),
        ),
        (
            "D",
            FieldValue::Decimal(2, 12345),
            vec![b'D', 2, 0, 0, 0x30, 0x39],
        ),
        (
            "S",
            FieldValue::LongStr(Bytes::from_static(b"hi\xff")),
            vec![b'S', 0, 0, 0, 3, b'h', b'i', 0xFF],
        ),
        (
            "T",
            FieldValue::Timestamp(1_700_000_000),
            [vec![b'T'], 1_700_000_000u64.to_be_bytes().to_vec()].concat(),
        ),
        (
            "F",
            FieldValue::Table(inner),
            vec![b'F', 0, 0, 0, 4, 1, b'n', b'b', 0xFF],
        ),
        (
            "A",
            FieldValue::Array(vec![
                FieldValue::U8(1),
                FieldValue::Void,
                FieldValue::Array(vec![]),
            ]),
            vec![b'A', 0, 0, 0, 8, b'B', 1, b'V', b'A', 0, 0, 0, 0],
        ),
        ("V", FieldValue::Void, vec![b'V']),
        (
            "x",
            FieldValue::Bytes(Bytes::from_static(&[0, 1])),
            vec![b'x', 0, 0, 0, 2, 0, 1],
        ),
    ];
    let mut table = FieldTable::new();
    let mut body = Vec::new();
    for (key, value, bytes) in entries {
        table.0.push((ShortStr::from(key), value));
        body.push(key.len() as u8);
        body.extend_from_slice(key.as_bytes());
        body.extend_from_slice(&bytes);
    }
    let mut encoded = (body.len() as u32).to_be_bytes().to_vec();
    encoded.extend_from_slice(&body);
    (table, encoded)
}

#[test]
fn every_tag_encodes_to_the_expected_bytes_and_back() {
    let (table, bytes) = every_tag();
    let mut buf = BytesMut::new();
    encode_table(&mut buf, &table);
    assert_eq!(&buf[..], &bytes[..]);
    assert_eq!(decode_table(&bytes).unwrap(), table);
    assert_eq!(
        decode_table_bytes(&Bytes::from(bytes.clone())).unwrap(),
        table
    );
}

#[test]
fn decode_then_encode_gives_back_identical_bytes() {
    let (_, bytes) = every_tag();
    let mut again = BytesMut::new();
    encode_table(&mut again, &decode_table(&bytes).unwrap());
    assert_eq!(&again[..], &bytes[..]);
}

#[test]
fn key_order_and_duplicate_keys_are_kept() {
    let body = [1, b'z', b'V', 1, b'a', b'V', 1, b'z', b'B', 3];
    let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(&body);
    let t = decode_table(&bytes).unwrap();
    let keys: Vec<_> = t.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["z", "a", "z"]);
    let mut again = BytesMut::new();
    encode_table(&mut again, &t);
    assert_eq!(&again[..], &bytes[..]);
}

#[test]
fn rabbitmq_leniencies_read_as_rabbitmq_reads_them() {
    // 'L' is read as a signed 64-bit integer, like RabbitMQ; a bool octet of 2 is true.
    let body = [
        1, b'a', b'L', 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, b'b', b't', 2,
    ];
    let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(&body);
    let t = decode_table(&bytes).unwrap();
    assert_eq!(t.get("a"), Some(&FieldValue::I64(-1)));
    assert_eq!(t.get("b"), Some(&FieldValue::Bool(true)));
}

#[test]
fn malformed_tables_are_syntax_errors() {
    let cases: Vec<Vec<u8>> = vec![
        vec![0, 0, 0],                               // short length prefix
        vec![0, 0, 0, 5, 1, b'k'],                   // body shorter than its length
        vec![0, 0, 0, 3, 1, b'k', b'?'],             // unknown tag
        vec![0, 0, 0, 3, 1, 0xFF, b'V'],             // key not UTF-8
        vec![0, 0, 0, 4, 1, b'k', b'I', 0],          // value cut short
        vec![0, 0, 0, 0, 0],                         // trailing byte after the table
        vec![0, 0, 0, 7, 1, b'k', b'A', 0, 0, 0, 1], // array longer than the table
    ];
    for case in cases {
        let e = decode_table(&case).unwrap_err();
        assert_eq!(e.code, reply_code::SYNTAX_ERROR, "{case:?}");
        assert!(e.text.starts_with("SYNTAX_ERROR - invalid field table"));
    }
    assert_eq!(decode_table(&[0, 0, 0, 0]).unwrap(), FieldTable::new());
}

#[test]
fn strings_in_a_decoded_table_share_its_memory() {
    let mut buf = BytesMut::new();
    let mut t = FieldTable::new();
    t.insert("key", FieldValue::long_string("value"));
    encode_table(&mut buf, &t);
    let encoded = buf.freeze();
    let decoded = decode_table_bytes(&encoded).unwrap();
    let FieldValue::LongStr(v) = decoded.get("key").unwrap() else {
        panic!()
    };
    let range = encoded.as_ptr() as usize..encoded.as_ptr() as usize + encoded.len();
    assert!(range.contains(&(v.as_ptr() as usize)));
}
