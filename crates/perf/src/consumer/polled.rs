//! The consumer loop that reads on a timer instead of waiting for the socket.
//!
//! Why: every time a thread blocks and is woken costs a context switch, and on the
//! 2-core VM this tool runs on that is ~25 µs of CPU per sleep/wake (a C loop of
//! 100 µs nanosleeps: 25.5 µs of user+sys per iteration). A consumer that keeps up
//! with a broker wakes for every few messages, and those wake-ups, not decoding, were
//! ~90% of its CPU (perf: `finish_task_switch` on the epoll_wait path). So this loop
//! takes the socket out of tokio's reactor (no readiness events can wake the thread
//! for it) and every `linger` reads everything the kernel has buffered, decodes it
//! and writes the acks, then sleeps again; timers of all consumers on the thread fire
//! together. The kernel's receive buffer holds far more than a millisecond of
//! deliveries, so the broker is not held up; the cost is up to `linger` of added
//! end-to-end latency, which is why latency runs use the evented loop.

use super::{encode_close, finish_batch, handle, Batch, ConsumeSpec, Prepared, CLOSE_WAIT};
use crate::client::connection::READ_CHUNK;
use crate::client::raw;
use crate::payload::now_ns;
use crate::stats::Stats;
use crate::stop::Stop;
use anyhow::{bail, Context, Result};
use bytes::{Buf, BytesMut};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Most bytes taken per tick before other tasks get the thread (then no sleep).
const MAX_PER_TICK: usize = 4 * READ_CHUNK;

pub(super) async fn run(
    prepared: Prepared,
    spec: &ConsumeSpec,
    linger: Duration,
    stats: &Stats,
    shutdown: &Stop,
) -> Result<()> {
    let Prepared { conn, mut chans } = prepared;
    let (r, w, mut rbuf, frame_max) = conn.into_split();
    // Leaving the reactor: the std stream stays non-blocking.
    let stream = r
        .reunite(w)?
        .into_std()
        .context("taking the socket off the reactor")?;
    let limit = frame_max as usize + 8;
    let mut scratch = vec![0u8; READ_CHUNK];
    let mut wbuf = BytesMut::with_capacity(4096);
    let mut batch = Batch::default();
    let mut retry_at = None;
    let mut closing: Option<Instant> = None;
    loop {
        let (got, drained) = match read_available(&stream, &mut rbuf, &mut scratch) {
            Ok(r) => r,
            Err(_) if closing.is_some() => return Ok(()),
            Err(e) => return Err(e),
        };
        if got > 0 {
            let now = now_ns();
            let mut pos = 0;
            while let Some(frame) = raw::next_frame(&rbuf, &mut pos, limit)? {
                if handle(frame, &mut chans, spec, now, &mut batch, &mut wbuf)? {
                    return Ok(());
                }
            }
            rbuf.advance(pos);
            finish_batch(
                &mut chans,
                spec,
                stats,
                now,
                &mut batch,
                &mut wbuf,
                &mut retry_at,
            );
        }
        if closing.is_none() && shutdown.is_stopped() {
            // Acks still queued go out first; the broker ignores nothing before close.
            encode_close(&mut wbuf);
            closing = Some(Instant::now());
        }
        if let Err(e) = write_some(&stream, &mut wbuf) {
            if closing.is_some() {
                return Ok(());
            }
            return Err(e);
        }
        if closing.is_some_and(|t| t.elapsed() > CLOSE_WAIT) {
            return Ok(());
        }
        if drained {
            tokio::time::sleep(linger).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
}

/// Reads until the kernel has nothing more (or [`MAX_PER_TICK`]); returns the bytes
/// read and whether the socket was drained.
fn read_available(
    mut stream: &TcpStream,
    buf: &mut BytesMut,
    scratch: &mut [u8],
) -> Result<(usize, bool)> {
    let mut total = 0;
    while total < MAX_PER_TICK {
        match stream.read(scratch) {
            Ok(0) => bail!("the broker closed the TCP connection"),
            Ok(n) => {
                buf.extend_from_slice(&scratch[..n]);
                total += n;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok((total, true)),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("reading from broker"),
        }
    }
    Ok((total, false))
}

/// Writes what the socket takes now; the rest waits for the next tick.
fn write_some(mut stream: &TcpStream, wbuf: &mut BytesMut) -> Result<()> {
    while !wbuf.is_empty() {
        match stream.write(wbuf) {
            Ok(0) => bail!("the broker stopped taking data"),
            Ok(n) => wbuf.advance(n),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("writing to broker"),
        }
    }
    Ok(())
}
