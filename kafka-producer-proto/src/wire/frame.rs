//! Size-prefixed framing: every request and response is an `int32` size
//! followed by that many bytes.
//!
//! [`FrameDecoder`] turns a byte stream, cut into chunks of any size (one
//! byte at a time included), back into whole frames.
//!
//! Invariants:
//! - The buffer never holds more than one incomplete frame plus the bytes
//!   of the chunk last pushed: a frame's size is checked against the limit
//!   as soon as its four size bytes arrive, before any of its body is kept
//!   waiting.
//! - After an error the decoder yields that error for ever: a stream whose
//!   framing is lost cannot be re-synchronised, and the connection must be
//!   closed.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::DecodeError;

/// The largest frame a [`FrameDecoder`] accepts unless told otherwise:
/// 100 MiB, librdkafka's `receive.message.max.bytes` default.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 100 * 1024 * 1024;

/// Splits a byte stream into frames.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: BytesMut,
    max_frame_size: usize,
    failed: Option<DecodeError>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_SIZE)
    }
}

impl FrameDecoder {
    /// A decoder that rejects frames larger than `max_frame_size` bytes
    /// (not counting the 4-byte size prefix).
    pub fn new(max_frame_size: usize) -> Self {
        FrameDecoder {
            buf: BytesMut::new(),
            max_frame_size,
            failed: None,
        }
    }

    /// Appends received bytes. Call [`FrameDecoder::next_frame`] until it
    /// returns `Ok(None)` after every push.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole frame's body (without its size prefix), `Ok(None)` if
    /// more bytes are needed, or the error that broke the stream.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, DecodeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let size = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        let size = match usize::try_from(size) {
            Err(_) => return Err(self.fail(DecodeError::NegativeFrameSize { size })),
            Ok(n) if n > self.max_frame_size => {
                return Err(self.fail(DecodeError::FrameTooLarge {
                    size: n,
                    max: self.max_frame_size,
                }));
            }
            Ok(n) => n,
        };
        if self.buf.len() - 4 < size {
            // Reserve once for the whole frame rather than growing by every
            // chunk; the size was bounded above.
            self.buf.reserve(size + 4 - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(4);
        Ok(Some(self.buf.split_to(size).freeze()))
    }

    fn fail(&mut self, e: DecodeError) -> DecodeError {
        self.failed = Some(e.clone());
        self.buf = BytesMut::new();
        e
    }
}

/// Reserves the 4-byte size prefix of a frame about to be written into
/// `buf`; returns where the frame starts, for [`finish_frame`].
pub fn begin_frame(buf: &mut BytesMut) -> usize {
    let start = buf.len();
    buf.put_i32(0);
    start
}

/// Writes the size of the frame that starts at `start` into its prefix.
pub fn finish_frame(buf: &mut BytesMut, start: usize) -> Result<(), super::EncodeError> {
    let size = buf.len() - start - 4;
    let size32 = i32::try_from(size).map_err(|_| super::EncodeError::TooLong {
        what: "frame",
        length: size,
    })?;
    buf[start..start + 4].copy_from_slice(&size32.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn stream(frames: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for f in frames {
            out.extend_from_slice(&(f.len() as i32).to_be_bytes());
            out.extend_from_slice(f);
        }
        out
    }

    #[test]
    fn any_chunking_yields_the_same_frames() {
        let frames: [&[u8]; 4] = [b"hello", b"", b"x", &[7u8; 300]];
        let bytes = stream(&frames);
        for chunk in [1, 2, 3, 4, 5, 7, 64, bytes.len()] {
            let mut d = FrameDecoder::new(1024);
            let mut got = Vec::new();
            for piece in bytes.chunks(chunk) {
                d.push(piece);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(got.len(), frames.len(), "chunk size {chunk}");
            for (g, f) in got.iter().zip(frames) {
                assert_eq!(&g[..], f, "chunk size {chunk}");
            }
            assert_eq!(d.buffered(), 0);
        }
    }

    #[test]
    fn negative_size_breaks_the_stream_for_good() {
        let mut d = FrameDecoder::new(1024);
        d.push(&(-5i32).to_be_bytes());
        assert_eq!(
            d.next_frame(),
            Err(DecodeError::NegativeFrameSize { size: -5 })
        );
        d.push(&stream(&[b"ok"]));
        assert_eq!(
            d.next_frame(),
            Err(DecodeError::NegativeFrameSize { size: -5 })
        );
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn oversized_frame_is_rejected_from_its_size_alone() {
        let mut d = FrameDecoder::new(16);
        d.push(&17i32.to_be_bytes());
        assert_eq!(
            d.next_frame(),
            Err(DecodeError::FrameTooLarge { size: 17, max: 16 })
        );
        let mut d = FrameDecoder::new(16);
        d.push(&stream(&[&[1u8; 16]]));
        assert_eq!(d.next_frame().unwrap().unwrap().len(), 16);
    }

    #[test]
    fn partial_size_prefix_waits() {
        let mut d = FrameDecoder::new(16);
        d.push(&[0, 0, 0]);
        assert_eq!(d.next_frame(), Ok(None));
        d.push(&[1, 9]);
        assert_eq!(d.next_frame().unwrap().unwrap(), Bytes::from_static(&[9]));
    }

    #[test]
    fn begin_and_finish_frame_write_the_size() {
        let mut buf = BytesMut::new();
        let start = begin_frame(&mut buf);
        buf.put_slice(b"abc");
        finish_frame(&mut buf, start).unwrap();
        assert_eq!(&buf[..], &[0, 0, 0, 3, b'a', b'b', b'c']);
    }
}
