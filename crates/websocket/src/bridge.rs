//! Moves bytes between a WebSocket and the protocol code's byte pipe, each
//! direction on its own so a blocked one does not stop the other.

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

/// How long one direction may go on after the other ended (a client that never
/// answers our close, a protocol task that lingers).
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// How the bytes the protocol code writes become WebSocket messages.
#[derive(Clone, Copy, Debug)]
pub enum Outgoing {
    /// Whatever was written, as one binary message (MQTT: packets may span
    /// messages and a message may hold several).
    Binary,
    /// One message per protocol frame: `next` cuts the next complete frame off the
    /// front of the buffer (None: not complete yet). A frame that is UTF-8 goes as
    /// a text message, another as binary (STOMP, whose clients expect one frame
    /// per message, and text where it can be).
    Frames(fn(&mut BytesMut) -> Option<Bytes>),
}

pub(crate) async fn run(ws: WebSocketStream<TcpStream>, pipe: DuplexStream, outgoing: Outgoing) {
    let (mut sink, mut source) = ws.split();
    let (mut from_protocol, mut to_protocol) = tokio::io::split(pipe);
    let inbound = async move {
        while let Some(message) = source.next().await {
            let bytes = match message {
                Ok(Message::Binary(b)) => b,
                Ok(Message::Text(t)) => Bytes::from(t),
                Ok(Message::Close(_)) => break,
                // Pings are answered by the WebSocket layer itself.
                Ok(_) => continue,
                Err(e) => {
                    tracing::debug!("WebSocket read ended: {e}");
                    break;
                }
            };
            if to_protocol.write_all(&bytes).await.is_err() {
                break;
            }
        }
        // The protocol code sees the end of its stream, as a closed socket.
        let _ = to_protocol.shutdown().await;
    };
    let outbound = async move {
        let mut buf = BytesMut::with_capacity(16 * 1024);
        loop {
            match from_protocol.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let sent = match outgoing {
                Outgoing::Binary => sink.send(Message::Binary(buf.split().freeze())).await,
                Outgoing::Frames(next) => send_frames(&mut sink, &mut buf, next).await,
            };
            if sent.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    };
    let mut inbound = std::pin::pin!(inbound);
    let mut outbound = std::pin::pin!(outbound);
    tokio::select! {
        _ = &mut inbound => { let _ = tokio::time::timeout(CLOSE_GRACE, outbound).await; }
        _ = &mut outbound => { let _ = tokio::time::timeout(CLOSE_GRACE, inbound).await; }
    }
}

async fn send_frames<S>(
    sink: &mut S,
    buf: &mut BytesMut,
    next: fn(&mut BytesMut) -> Option<Bytes>,
) -> Result<(), S::Error>
where
    S: futures_util::Sink<Message> + Unpin,
{
    while let Some(frame) = next(buf) {
        let message = match Utf8Bytes::try_from(frame.clone()) {
            Ok(text) => Message::Text(text),
            Err(_) => Message::Binary(frame),
        };
        sink.feed(message).await?;
    }
    sink.flush().await
}
