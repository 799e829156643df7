//! The consumer loop for throughput runs: woken by enough data or a timer, not by
//! every segment that arrives.
//!
//! Why: every time a thread blocks and is woken costs a context switch, and on the
//! 2-core VM this tool runs on that is ~25 µs of CPU per sleep/wake (a C loop of
//! 100 µs nanosleeps: 25.5 µs of user+sys per iteration). A consumer that keeps up
//! with a broker wakes for every few messages, and those wake-ups, not decoding, were
//! ~90% of its CPU (perf: `finish_task_switch` on the epoll_wait path).
//!
//! So the socket gets `SO_RCVLOWAT`: the kernel reports it readable (and wakes us)
//! only once `lowat` bytes are buffered, half a prefetch window's worth or 32 KiB.
//! A timer (`linger`, 1 ms) picks up whatever is there when less arrives. Reads and
//! writes go straight to the socket, not through tokio's cached readiness, so the
//! timer path can read a buffer smaller than the low-water mark. The cost is up to
//! `linger` of added end-to-end latency, which is why latency runs (`--rate`) use the
//! evented loop instead.

use super::{encode_close, finish_batch, handle, Batch, ConsumeSpec, Prepared, CLOSE_WAIT};
use crate::client::connection::READ_CHUNK;
use crate::client::raw;
use crate::payload::now_ns;
use crate::stats::Stats;
use crate::stop::Stop;
use anyhow::{bail, Context, Result};
use bytes::{Buf, BytesMut};
use std::io::ErrorKind;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Most bytes taken per turn before other tasks get the thread (then no wait).
const MAX_PER_TURN: usize = 4 * READ_CHUNK;

/// The low-water mark when no prefetch window limits what the broker may send.
pub(super) const UNBOUNDED_LOWAT: usize = 32 * 1024;

pub(super) async fn run(
    prepared: Prepared,
    spec: &ConsumeSpec,
    linger: Duration,
    stats: &Stats,
    shutdown: &Stop,
) -> Result<()> {
    let Prepared { conn, mut chans } = prepared;
    let (r, w, mut rbuf, frame_max) = conn.into_split();
    let stream = r.reunite(w)?;
    set_rcvlowat(&stream, lowat(spec, chans.len()))?;
    // Reads and writes go to the descriptor directly, bypassing tokio's readiness cache
    // (`stream` keeps owning it).
    let fd = stream.as_raw_fd();
    let limit = frame_max as usize + 8;
    let mut wbuf = BytesMut::with_capacity(4096);
    let mut batch = Batch::default();
    let mut retry_at = None;
    let mut closing: Option<Instant> = None;
    loop {
        let (got, drained) = match read_available(fd, &mut rbuf) {
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
            encode_close(&mut wbuf);
            closing = Some(Instant::now());
            // Any reply now wakes us, whatever its size.
            let _ = set_rcvlowat(&stream, 1);
        }
        if let Err(e) = write_some(fd, &mut wbuf) {
            if closing.is_some() {
                return Ok(());
            }
            return Err(e);
        }
        if closing.is_some_and(|t| t.elapsed() > CLOSE_WAIT) {
            return Ok(());
        }
        if !drained {
            tokio::task::yield_now().await;
            continue;
        }
        // The direct read found the socket empty: drop tokio's (possibly stale)
        // readable flag so that `readable()` waits for the next low-water edge. An
        // edge lost to a race here costs at most one `linger`.
        let _ = stream.try_io(Interest::READABLE, || {
            Err::<(), _>(ErrorKind::WouldBlock.into())
        });
        tokio::select! {
            _ = stream.readable() => {}
            _ = tokio::time::sleep(linger) => {}
            _ = shutdown.wait(), if closing.is_none() => {}
        }
    }
}

/// Half of what the prefetch windows of `channels` consumers let the broker send
/// (counting each delivery at its smallest possible wire size, so the mark is reached
/// before the window is full), or [`UNBOUNDED_LOWAT`] without a window.
fn lowat(spec: &ConsumeSpec, channels: usize) -> usize {
    if spec.auto_ack || spec.prefetch == 0 {
        return UNBOUNDED_LOWAT;
    }
    // basic.deliver with empty names (~26 bytes), a header frame (~23), a body frame (8).
    let per_message = spec.body_size + 57;
    let window = spec.prefetch as usize * channels.max(1);
    (window * per_message / 2).clamp(1, UNBOUNDED_LOWAT)
}

fn set_rcvlowat(stream: &TcpStream, bytes: usize) -> Result<()> {
    let value = bytes.min(i32::MAX as usize) as libc::c_int;
    // SAFETY: a valid descriptor and a pointer to a c_int of the size we pass.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("setsockopt(SO_RCVLOWAT)");
    }
    Ok(())
}

/// Reads until the kernel has nothing more (or [`MAX_PER_TURN`]) straight into `buf`;
/// returns the bytes read and whether the socket was drained.
fn read_available(fd: RawFd, buf: &mut BytesMut) -> Result<(usize, bool)> {
    let mut total = 0;
    while total < MAX_PER_TURN {
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        let spare = buf.spare_capacity_mut();
        // SAFETY: recv writes at most `spare.len()` bytes into memory we own.
        let n = unsafe { libc::recv(fd, spare.as_mut_ptr().cast(), spare.len(), 0) };
        match n {
            0 => bail!("the broker closed the TCP connection"),
            n if n > 0 => {
                // SAFETY: recv initialized the first n bytes of the spare capacity.
                unsafe { buf.set_len(buf.len() + n as usize) };
                total += n as usize;
            }
            _ => match std::io::Error::last_os_error() {
                e if e.kind() == ErrorKind::WouldBlock => return Ok((total, true)),
                e if e.kind() == ErrorKind::Interrupted => continue,
                e => return Err(e).context("reading from broker"),
            },
        }
    }
    Ok((total, false))
}

/// Writes what the socket takes now; the rest waits for the next turn.
fn write_some(fd: RawFd, wbuf: &mut BytesMut) -> Result<()> {
    while !wbuf.is_empty() {
        // SAFETY: send reads at most `wbuf.len()` initialized bytes.
        let n = unsafe { libc::send(fd, wbuf.as_ptr().cast(), wbuf.len(), libc::MSG_NOSIGNAL) };
        match n {
            0 => bail!("the broker stopped taking data"),
            n if n > 0 => wbuf.advance(n as usize),
            _ => match std::io::Error::last_os_error() {
                e if e.kind() == ErrorKind::WouldBlock => break,
                e if e.kind() == ErrorKind::Interrupted => continue,
                e => return Err(e).context("writing to broker"),
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_water_marks() {
        let mut spec = ConsumeSpec {
            auto_ack: true,
            ack_every: 0,
            prefetch: 100,
            get: false,
            linger: None,
            body_size: 1024,
        };
        assert_eq!(lowat(&spec, 1), UNBOUNDED_LOWAT);
        spec.auto_ack = false;
        assert_eq!(lowat(&spec, 1), UNBOUNDED_LOWAT);
        spec.body_size = 16;
        assert_eq!(lowat(&spec, 1), 50 * 73);
        spec.prefetch = 1;
        assert_eq!(lowat(&spec, 1), 36);
        spec.prefetch = 0;
        assert_eq!(lowat(&spec, 1), UNBOUNDED_LOWAT);
    }
}
