//! The byte stream under a connection: plain TCP, or TLS over TCP.
//!
//! The connection loop is readiness-based (wait until readable, read what is there
//! without blocking; the same for writes), so this offers exactly that shape. Plain
//! TCP passes straight through to tokio's `try_read_buf`/`try_write`; TLS drives a
//! `rustls::ServerConnection` over the same socket: ciphertext is read with
//! `try_read` and fed to rustls, plaintext comes out of its reader; plaintext goes
//! into its writer and the records it makes are written with `try_write`.

use bytes::BytesMut;
use rustls::ServerConnection;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

pub enum Transport {
    Tcp(TcpStream),
    Tls(Box<TlsStream>),
}

/// A TLS session over a TCP socket, after the TLS handshake.
pub struct TlsStream {
    tcp: TcpStream,
    tls: ServerConnection,
    /// rustls holds decrypted bytes not yet read: readable without the socket.
    buffered: bool,
    /// The peer closed the TCP connection (or sent close_notify).
    eof: bool,
}

/// `Read` over a non-blocking tokio socket, for `read_tls`: WouldBlock when empty.
struct SocketReader<'a>(&'a TcpStream);

impl Read for SocketReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

/// `Write` over a non-blocking tokio socket, for `write_tls`.
struct SocketWriter<'a>(&'a TcpStream);

impl Write for SocketWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `try_read_buf` that also notes a short read. When the kernel hands over less than
/// there was room for, the socket is drained: the readiness is cleared then (as
/// tokio's own `poll_read` does), so the caller's next read attempt returns
/// WouldBlock at once instead of costing a `recvfrom` that finds nothing. That extra
/// call would otherwise be paid once per request by a client awaiting each reply.
/// Bytes that arrive after the read raise the readiness again: tokio clears it only
/// if no new event came in since it was observed.
fn read_draining(socket: &TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
    let mut drained = None;
    let read = socket.try_io(tokio::io::Interest::READABLE, || {
        let room = buf.capacity() - buf.len();
        let n = socket.try_read_buf(buf)?;
        if n > 0 && n < room {
            drained = Some(n);
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match (read, drained) {
        (_, Some(n)) => Ok(n),
        (read, None) => read,
    }
}

impl Transport {
    /// Waits until a read may make progress.
    #[inline]
    pub async fn readable(&self) -> io::Result<()> {
        match self {
            Transport::Tcp(s) => s.readable().await,
            Transport::Tls(t) if t.buffered || t.eof => Ok(()),
            Transport::Tls(t) => t.tcp.readable().await,
        }
    }

    /// Waits until a write may make progress.
    #[inline]
    pub async fn writable(&self) -> io::Result<()> {
        match self {
            Transport::Tcp(s) => s.writable().await,
            Transport::Tls(t) => t.tcp.writable().await,
        }
    }

    /// Reads what is available into `buf` without waiting: Ok(0) at the end of the
    /// stream, WouldBlock when nothing is there.
    #[inline]
    pub fn try_read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => read_draining(s, buf),
            Transport::Tls(t) => t.try_read_buf(buf),
        }
    }

    /// Takes what it can of `buf` without waiting. For TLS the bytes may still sit in
    /// rustls, encrypted: `has_pending_output` says so, and `try_flush` sends them.
    #[inline]
    pub fn try_write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.try_write(buf),
            Transport::Tls(t) => t.try_write(buf),
        }
    }

    /// Sends what the transport itself still holds (TLS records), without waiting.
    #[inline]
    pub fn try_flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Tcp(_) => Ok(()),
            Transport::Tls(t) => t.flush_tls().map(|_| ()),
        }
    }

    /// Whether the transport holds output not yet written to the socket.
    #[inline]
    pub fn has_pending_output(&self) -> bool {
        match self {
            Transport::Tcp(_) => false,
            Transport::Tls(t) => t.tls.wants_write(),
        }
    }

    /// Reads at least one byte, or fails (Ok(0) at the end of the stream).
    pub async fn read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        // What we still hold may be what the peer waits for.
        self.flush().await?;
        loop {
            self.readable().await?;
            match self.try_read_buf(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }

    /// Writes all of `buf` and everything the transport holds.
    pub async fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.try_write(buf) {
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable().await?,
                Err(e) => return Err(e),
            }
        }
        self.flush().await
    }

    /// Waits until everything the transport holds is written.
    pub async fn flush(&mut self) -> io::Result<()> {
        loop {
            match self.try_flush() {
                Ok(()) if !self.has_pending_output() => return Ok(()),
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            self.writable().await?;
        }
    }

    /// Ends our side of the stream: TLS close_notify, then the TCP write shutdown.
    pub async fn shutdown(&mut self) -> io::Result<()> {
        use tokio::io::AsyncWriteExt;
        match self {
            Transport::Tcp(s) => s.shutdown().await,
            Transport::Tls(t) => {
                t.tls.send_close_notify();
                self.flush().await?;
                if let Transport::Tls(t) = self {
                    t.tcp.shutdown().await?;
                }
                Ok(())
            }
        }
    }

    /// Our end of the socket.
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        match self {
            Transport::Tcp(s) => s.local_addr(),
            Transport::Tls(t) => t.tcp.local_addr(),
        }
    }

    /// The peer's verified certificate chain (TLS with client certificates only).
    pub fn peer_certificate(&self) -> Option<&[u8]> {
        match self {
            Transport::Tcp(_) => None,
            Transport::Tls(t) => t
                .tls
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|cert| cert.as_ref()),
        }
    }
}

/// Why a TLS handshake failed.
#[derive(Debug)]
pub enum TlsAcceptError {
    Io(io::Error),
    Tls(rustls::Error),
    Timeout,
}

impl std::fmt::Display for TlsAcceptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsAcceptError::Io(e) => write!(f, "{e}"),
            TlsAcceptError::Tls(e) => write!(f, "{e}"),
            TlsAcceptError::Timeout => f.write_str("TLS handshake timeout"),
        }
    }
}

/// Runs the server side of a TLS handshake on `tcp`. On a TLS error the alert
/// rustls made is sent before the error is returned, so the client learns why.
pub async fn accept_tls(
    tcp: TcpStream,
    config: Arc<rustls::ServerConfig>,
    timeout: Duration,
) -> Result<TlsStream, TlsAcceptError> {
    let tls = ServerConnection::new(config).map_err(TlsAcceptError::Tls)?;
    let mut stream = TlsStream {
        tcp,
        tls,
        buffered: false,
        eof: false,
    };
    let done = tokio::time::timeout(timeout, stream.handshake()).await;
    match done {
        Ok(result) => result.map(|()| stream),
        Err(_) => Err(TlsAcceptError::Timeout),
    }
}

impl TlsStream {
    async fn handshake(&mut self) -> Result<(), TlsAcceptError> {
        while self.tls.is_handshaking() {
            while self.tls.wants_write() {
                if !self.flush_tls().map_err(TlsAcceptError::Io)? {
                    self.tcp.writable().await.map_err(TlsAcceptError::Io)?;
                }
            }
            if !self.tls.is_handshaking() {
                break;
            }
            self.tcp.readable().await.map_err(TlsAcceptError::Io)?;
            match self.tls.read_tls(&mut SocketReader(&self.tcp)) {
                Ok(0) => {
                    return Err(TlsAcceptError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "client closed the connection during the TLS handshake",
                    )))
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(TlsAcceptError::Io(e)),
            }
            if let Err(e) = self.process() {
                // Send the alert, best effort.
                let _ = tokio::time::timeout(Duration::from_secs(1), self.flush_async()).await;
                return Err(TlsAcceptError::Tls(e));
            }
        }
        // The last flight (TLS 1.2's Finished, TLS 1.3's session tickets): the
        // client may wait for it before it says anything.
        self.flush_async().await.map_err(TlsAcceptError::Io)
    }

    async fn flush_async(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            if !self.flush_tls()? {
                self.tcp.writable().await?;
            }
        }
        Ok(())
    }

    fn process(&mut self) -> Result<(), rustls::Error> {
        let state = self.tls.process_new_packets()?;
        self.buffered = state.plaintext_bytes_to_read() > 0;
        if state.peer_has_closed() {
            self.eof = true;
        }
        Ok(())
    }

    /// Writes TLS records until none are left (true) or the socket is full (false).
    fn flush_tls(&mut self) -> io::Result<bool> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut SocketWriter(&self.tcp)) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    fn try_read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        loop {
            let start = buf.len();
            buf.resize(buf.capacity(), 0);
            let read = self.tls.reader().read(&mut buf[start..]);
            match read {
                Ok(n) => {
                    buf.truncate(start + n);
                    if n == 0 {
                        self.eof = true;
                    }
                    let _ = self.process();
                    return Ok(n);
                }
                Err(e) => {
                    buf.truncate(start);
                    match e.kind() {
                        io::ErrorKind::WouldBlock => self.buffered = false,
                        // Closed without close_notify: the end of the stream all the same.
                        io::ErrorKind::UnexpectedEof => {
                            self.eof = true;
                            return Ok(0);
                        }
                        _ => return Err(e),
                    }
                }
            }
            if self.eof {
                return Ok(0);
            }
            match self.tls.read_tls(&mut SocketReader(&self.tcp)) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) => return Err(e),
            }
            if let Err(e) = self.process() {
                // Try to tell the peer (a bad record MAC, say) before giving up.
                let _ = self.flush_tls();
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            // Post-handshake messages (key updates) may need an answer.
            if self.tls.wants_write() {
                let _ = self.flush_tls();
            }
        }
    }

    fn try_write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Make room first: rustls buffers a limited amount of records.
        self.flush_tls()?;
        let n = self.tls.writer().write(buf)?;
        self.flush_tls()?;
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }
}
