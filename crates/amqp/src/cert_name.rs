//! The subject common name (CN) of an X.509 certificate, for the EXTERNAL mechanism.
//!
//! A certificate is DER: nested tag-length-value items. The subject is the sixth
//! item of the to-be-signed part; each of its attributes is an (OID, string) pair.
//! Reading just that path is a few lines, and saves a full X.509 parser.

/// The OID 2.5.4.3 (commonName), DER-encoded.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// The subject's common name. Several CNs are joined with commas (RabbitMQ's
/// `ssl_cert_login_from = common_name` does the same). None when the certificate
/// cannot be read or has no CN.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (0x30, cert, _) = tlv(der)? else {
        return None;
    };
    let (0x30, mut tbs, _) = tlv(cert)? else {
        return None;
    };
    // version [0] is optional; then serial, signature algorithm, issuer, validity.
    if tbs.first() == Some(&0xA0) {
        tbs = tlv(tbs)?.2;
    }
    for _ in 0..4 {
        tbs = tlv(tbs)?.2;
    }
    let (0x30, mut subject, _) = tlv(tbs)? else {
        return None;
    };
    let mut names = Vec::new();
    while !subject.is_empty() {
        let (tag, mut rdn, rest) = tlv(subject)?;
        subject = rest;
        if tag != 0x31 {
            return None;
        }
        while !rdn.is_empty() {
            let (_, attribute, rest) = tlv(rdn)?;
            rdn = rest;
            let (0x06, oid, value) = tlv(attribute)? else {
                return None;
            };
            if oid == COMMON_NAME {
                let (tag, text, _) = tlv(value)?;
                names.push(decode_string(tag, text)?);
            }
        }
    }
    (!names.is_empty()).then(|| names.join(","))
}

fn decode_string(tag: u8, bytes: &[u8]) -> Option<String> {
    match tag {
        // UTF8String, PrintableString, IA5String, TeletexString (ASCII in practice).
        0x0C | 0x13 | 0x16 | 0x14 => String::from_utf8(bytes.to_vec()).ok(),
        // BMPString: UCS-2, big-endian.
        0x1E => {
            let pairs = bytes.chunks_exact(2);
            if !pairs.remainder().is_empty() {
                return None;
            }
            let units: Vec<u16> = pairs.map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// One DER item: (tag, content, what follows).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7F) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| acc << 8 | *b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_has_no_name() {
        assert_eq!(common_name(b""), None);
        assert_eq!(common_name(&[0x30, 0x82, 0xFF]), None);
        assert_eq!(common_name(&[0x30, 0x03, 0x30, 0x01, 0x00]), None);
    }

    #[test]
    fn reads_lengths() {
        assert_eq!(
            tlv(&[0x04, 0x01, 0xAA, 0xBB]),
            Some((4, &[0xAA][..], &[0xBB][..]))
        );
        let long = [&[0x04, 0x81, 0x80][..], &[0u8; 128]].concat();
        assert_eq!(tlv(&long).map(|t| t.1.len()), Some(128));
    }
}
