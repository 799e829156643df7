//! The consumer loop that waits for the socket: a wake-up whenever data arrives.
//!
//! Lowest latency, so it serves latency runs (`--rate`), prefetch-bound consumers
//! (whose next deliveries wait on our acks) and `--get` polling.

use super::{encode_close, finish_batch, handle, Batch, ConsumeSpec, Prepared, CLOSE_WAIT};
use crate::client::connection::read_more;
use crate::client::raw;
use crate::payload::now_ns;
use crate::stats::Stats;
use crate::stop::Stop;
use anyhow::Result;
use bytes::{Buf, BytesMut};
use tokio::io::AsyncWriteExt;

pub(super) async fn run(
    prepared: Prepared,
    spec: &ConsumeSpec,
    stats: &Stats,
    shutdown: &Stop,
) -> Result<()> {
    let Prepared { conn, mut chans } = prepared;
    let (mut r, mut w, mut rbuf, frame_max) = conn.into_split();
    let limit = frame_max as usize + 8;
    let mut wbuf = BytesMut::with_capacity(4096);
    let mut batch = Batch::default();
    if spec.get {
        for ch in &chans {
            wbuf.extend_from_slice(&ch.get_frame);
        }
        w.write_all(&wbuf).await?;
        wbuf.clear();
    }
    let mut closing = false;
    let mut retry_at: Option<tokio::time::Instant> = None;
    let deadline = async {
        shutdown.wait().await;
        tokio::time::sleep(CLOSE_WAIT).await;
    };
    tokio::pin!(deadline);
    loop {
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
        if !wbuf.is_empty() && !closing {
            w.write_all(&wbuf).await?;
        }
        wbuf.clear();

        let retry = async {
            match retry_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            res = read_more(&mut r, &mut rbuf) => match res {
                Ok(_) => {}
                Err(_) if closing => return Ok(()),
                Err(e) => return Err(e),
            },
            _ = shutdown.wait(), if !closing => {
                closing = true;
                encode_close(&mut wbuf);
                w.write_all(&wbuf).await?;
                wbuf.clear();
            }
            _ = retry, if !closing => {
                retry_at = None;
                for ch in chans.iter_mut().filter(|c| c.empty) {
                    ch.empty = false;
                    wbuf.extend_from_slice(&ch.get_frame);
                }
            }
            _ = &mut deadline => return Ok(()),
        }
    }
}
