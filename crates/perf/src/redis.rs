//! A minimal RESP2 client for Redis used as a list queue (LPUSH / RPOP on one key):
//! just what the million-message benchmark needs to put Redis beside the AMQP
//! brokers. Commands are encoded into one buffer and written with one call, so a
//! pipeline of N commands is one write and the N replies are read back in order.

use anyhow::{bail, Context, Result};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One reply. Bulk strings are reported by length only (the hot loop counts bodies, it
/// does not keep them); `Text` is kept for the few replies read as text (INFO).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status,
    Int(i64),
    /// A bulk string's length (its bytes are skipped).
    Bulk(usize),
    /// The null bulk string: RPOP on an empty list.
    Nil,
    Error(String),
    /// Arrays are not used by these commands; their element count.
    Array(i64),
}

pub struct Redis {
    stream: TcpStream,
    rbuf: BytesMut,
    pub wbuf: BytesMut,
}

/// Appends one command as a RESP array of bulk strings.
pub fn encode(buf: &mut BytesMut, args: &[&[u8]]) {
    buf.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        buf.extend_from_slice(a);
        buf.extend_from_slice(b"\r\n");
    }
}

/// Parses one reply at the front of `buf`, consuming it; `None` if it is incomplete.
/// With `keep_text`, a bulk string's bytes are returned as text (for INFO).
pub fn parse(buf: &mut BytesMut, keep_text: bool) -> Result<Option<(Reply, Option<String>)>> {
    let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    if eol == 0 {
        bail!("empty RESP line");
    }
    let line = std::str::from_utf8(&buf[1..eol]).context("RESP line is not UTF-8")?;
    let reply = match buf[0] {
        b'+' => Reply::Status,
        b'-' => Reply::Error(line.to_owned()),
        b':' => Reply::Int(line.parse().context("RESP integer")?),
        b'*' => Reply::Array(line.parse().context("RESP array length")?),
        b'$' => {
            let n: i64 = line.parse().context("RESP bulk length")?;
            if n < 0 {
                buf.advance(eol + 2);
                return Ok(Some((Reply::Nil, None)));
            }
            let n = n as usize;
            let total = eol + 2 + n + 2;
            if buf.len() < total {
                return Ok(None);
            }
            let text =
                keep_text.then(|| String::from_utf8_lossy(&buf[eol + 2..eol + 2 + n]).into_owned());
            buf.advance(total);
            return Ok(Some((Reply::Bulk(n), text)));
        }
        other => bail!("unknown RESP type byte {other:#x}"),
    };
    buf.advance(eol + 2);
    Ok(Some((reply, None)))
}

impl Redis {
    pub async fn connect(addr: &str) -> Result<Redis> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to Redis at {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Redis {
            stream,
            rbuf: BytesMut::with_capacity(256 * 1024),
            wbuf: BytesMut::with_capacity(64 * 1024),
        })
    }

    /// Writes everything queued in `wbuf` with one call.
    pub async fn flush(&mut self) -> Result<()> {
        if !self.wbuf.is_empty() {
            self.stream.write_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
        Ok(())
    }

    /// The next reply (bulk bytes skipped).
    pub async fn reply(&mut self) -> Result<Reply> {
        Ok(self.reply_text(false).await?.0)
    }

    async fn reply_text(&mut self, keep: bool) -> Result<(Reply, Option<String>)> {
        loop {
            if let Some(r) = parse(&mut self.rbuf, keep)? {
                return Ok(r);
            }
            if self.rbuf.capacity() - self.rbuf.len() < 64 * 1024 {
                self.rbuf.reserve(256 * 1024);
            }
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                bail!("Redis closed the connection");
            }
        }
    }

    /// One command, its reply awaited; an error reply is an error.
    pub async fn call(&mut self, args: &[&[u8]]) -> Result<Reply> {
        encode(&mut self.wbuf, args);
        self.flush().await?;
        match self.reply().await? {
            Reply::Error(e) => bail!("Redis: {e}"),
            r => Ok(r),
        }
    }

    /// `INFO memory`'s `used_memory` (bytes), Redis's own account of its data.
    pub async fn used_memory(&mut self) -> Result<u64> {
        encode(&mut self.wbuf, &[b"INFO", b"memory"]);
        self.flush().await?;
        let (_, text) = self.reply_text(true).await?;
        let text = text.context("INFO memory: no bulk reply")?;
        text.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .context("INFO memory: no used_memory")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_commands() {
        let mut buf = BytesMut::new();
        encode(&mut buf, &[b"LPUSH", b"q", b"ab"]);
        assert_eq!(&buf[..], b"*3\r\n$5\r\nLPUSH\r\n$1\r\nq\r\n$2\r\nab\r\n");
    }

    #[test]
    fn parses_replies_in_pieces() {
        let mut buf =
            BytesMut::from(&b":12\r\n$3\r\nabc\r\n$-1\r\n+OK\r\n-ERR no\r\n$5\r\nhel"[..]);
        assert_eq!(parse(&mut buf, false).unwrap().unwrap().0, Reply::Int(12));
        assert_eq!(parse(&mut buf, false).unwrap().unwrap().0, Reply::Bulk(3));
        assert_eq!(parse(&mut buf, false).unwrap().unwrap().0, Reply::Nil);
        assert_eq!(parse(&mut buf, false).unwrap().unwrap().0, Reply::Status);
        assert_eq!(
            parse(&mut buf, false).unwrap().unwrap().0,
            Reply::Error("ERR no".into())
        );
        assert_eq!(parse(&mut buf, false).unwrap(), None);
        buf.extend_from_slice(b"lo\r\n");
        let (r, text) = parse(&mut buf, true).unwrap().unwrap();
        assert_eq!((r, text.as_deref()), (Reply::Bulk(5), Some("hello")));
        assert!(buf.is_empty());
        let mut partial = BytesMut::from(&b":1"[..]);
        assert_eq!(parse(&mut partial, false).unwrap(), None);
    }
}
