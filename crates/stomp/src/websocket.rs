//! STOMP over WebSocket, as RabbitMQ's web-stomp plugin serves it: upgrades at
//! `/ws` with the subprotocols `v12.stomp`, `v11.stomp` and `v10.stomp`, then the
//! same sessions as over TCP. Each frame the server sends is one WebSocket message
//! (text when it is UTF-8), which is what browser clients such as stomp.js expect;
//! frames from the client may come several to a message or split across messages.

use crate::StompConfig;
use bytes::{Bytes, BytesMut};
use tokio::net::TcpListener;
use tokio::sync::watch;
use warren_core::BrokerRef;
use warren_websocket::{Endpoint, Outgoing};

pub const SUBPROTOCOLS: &[&str] = &["v12.stomp", "v11.stomp", "v10.stomp"];

/// Accepts STOMP-over-WebSocket connections on `listener` until `shutdown` turns true.
pub async fn serve_websocket(
    listener: TcpListener,
    broker: BrokerRef,
    config: StompConfig,
    shutdown: watch::Receiver<bool>,
) {
    let endpoint = Endpoint {
        name: "STOMP",
        path: "/ws".into(),
        subprotocols: SUBPROTOCOLS,
        outgoing: Outgoing::Frames(next_frame),
        // The largest frame the decoder takes, with room for its headers.
        max_message_size: config.limits.max_body + config.limits.max_header_bytes + 1024,
    };
    warren_websocket::serve(listener, endpoint, shutdown, move |ws| {
        let (broker, config) = (broker.clone(), config.clone());
        async move { crate::connection::run(ws.stream, ws.peer, ws.local, broker, config).await }
    })
    .await
}

/// Cuts the next complete frame the server wrote off the front of `buf`: a
/// heart-beat (one EOL), or a frame through its NUL. The server's own encoder
/// writes `content-length` for every body, so a body holding NULs is cut right.
pub fn next_frame(buf: &mut BytesMut) -> Option<Bytes> {
    match buf.first()? {
        b'\n' => return Some(buf.split_to(1).freeze()),
        b'\r' if buf.get(1) == Some(&b'\n') => return Some(buf.split_to(2).freeze()),
        _ => {}
    }
    let headers_end = find(buf, b"\n\n", 0)? + 2;
    let length = buf[..headers_end]
        .split(|&b| b == b'\n')
        .skip(1)
        .find_map(|line| line.strip_prefix(b"content-length:"))
        .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<usize>().ok());
    let nul = match length {
        Some(n) => {
            let at = headers_end.checked_add(n)?;
            if buf.len() <= at {
                return None;
            }
            at
        }
        None => find(buf, b"\0", headers_end)?,
    };
    Some(buf.split_to(nul + 1).freeze())
}

fn find(buf: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

#[cfg(test)]
mod tests {
    use super::next_frame;
    use bytes::BytesMut;

    #[test]
    fn cuts_frames_and_heartbeats_one_by_one() {
        let mut buf = BytesMut::from(
            &b"\nMESSAGE\ncontent-length:5\n\nhe\0lo\0RECEIPT\nreceipt-id:1\n\n\0CONN"[..],
        );
        assert_eq!(&next_frame(&mut buf).unwrap()[..], b"\n");
        assert_eq!(
            &next_frame(&mut buf).unwrap()[..],
            b"MESSAGE\ncontent-length:5\n\nhe\0lo\0"
        );
        assert_eq!(
            &next_frame(&mut buf).unwrap()[..],
            b"RECEIPT\nreceipt-id:1\n\n\0"
        );
        assert_eq!(next_frame(&mut buf), None);
        assert_eq!(&buf[..], b"CONN");
    }

    #[test]
    fn waits_for_a_whole_body() {
        let mut buf = BytesMut::from(&b"MESSAGE\ncontent-length:10\n\nhello"[..]);
        assert_eq!(next_frame(&mut buf), None);
        buf.extend_from_slice(b"world");
        assert_eq!(next_frame(&mut buf), None, "the NUL is still to come");
        buf.extend_from_slice(b"\0MORE");
        assert_eq!(
            &next_frame(&mut buf).unwrap()[..],
            b"MESSAGE\ncontent-length:10\n\nhelloworld\0"
        );
        assert_eq!(&buf[..], b"MORE");
    }
}
