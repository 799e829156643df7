//! How big a connection's read buffer is while it waits.
//!
//! A busy connection wants a large buffer, so one read takes many packets; an idle
//! one (most of them, in a fleet of devices) should hold almost nothing while it
//! waits: a 16 KiB buffer per connection was most of what 10,000 idle clients cost.
//! So the buffer shrinks to a few hundred bytes when the last read was small and
//! everything in it has been handled, and grows back to full size as soon as a read
//! fills it.

use bytes::{Bytes, BytesMut};
use mqtt_codec::Connect;

/// Spare room a busy connection reads into.
pub(crate) const READ_SIZE: usize = 16 * 1024;
/// What a quiet connection keeps while it waits (one small packet fits).
pub(crate) const IDLE_SIZE: usize = 256;

/// Sizes `rbuf` for the next read, given how many bytes the last one brought.
pub(crate) fn before_read(rbuf: &mut BytesMut, last_read: usize) {
    if rbuf.is_empty() && last_read < IDLE_SIZE {
        if rbuf.capacity() > IDLE_SIZE {
            *rbuf = BytesMut::with_capacity(IDLE_SIZE);
        }
    } else if rbuf.capacity() - rbuf.len() < READ_SIZE / 4 {
        rbuf.reserve(READ_SIZE);
    }
}

/// The CONNECT with everything that still points into the read buffer copied out:
/// decoded `Bytes` fields are slices of the buffer the packet arrived in, and one
/// kept for the connection's lifetime (the will, the password) would keep that whole
/// 16 KiB allocation alive behind it. The password has done its job by now.
pub(crate) fn detach(mut connect: Connect) -> Connect {
    connect.password = None;
    connect.properties.authentication_data = None;
    if let Some(will) = &mut connect.will {
        will.payload = Bytes::copy_from_slice(&will.payload);
        if let Some(data) = &mut will.properties.correlation_data {
            *data = Bytes::copy_from_slice(data);
        }
    }
    connect
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_connections_wait_on_a_small_buffer_busy_ones_on_a_large_one() {
        let mut rbuf = BytesMut::with_capacity(READ_SIZE);
        before_read(&mut rbuf, 40);
        assert!(rbuf.capacity() <= 2 * IDLE_SIZE, "{}", rbuf.capacity());
        // A read that filled the small buffer: the next one gets full size.
        before_read(&mut rbuf, IDLE_SIZE);
        assert!(rbuf.capacity() >= READ_SIZE);
        // Half a packet left over is kept, whatever the last read was.
        rbuf.extend_from_slice(b"partial");
        before_read(&mut rbuf, 7);
        assert_eq!(&rbuf[..], b"partial");
        assert!(rbuf.capacity() - rbuf.len() >= READ_SIZE / 4);
    }
}
