#![no_main]
//! The frame decoder under any chunking: the same frames come out whether
//! the stream arrives whole or in the pieces the input picks, the buffer
//! stays bounded, and nothing panics.
use arbitrary::{Arbitrary, Unstructured};
use kafka_producer_proto::wire::FrameDecoder;
use libfuzzer_sys::fuzz_target;

const MAX: usize = 4096;

#[derive(Arbitrary, Debug)]
struct Input {
    chunk_sizes: Vec<u8>,
    stream: Vec<u8>,
}

fn frames(stream: &[u8], chunks: &[u8]) -> (Vec<Vec<u8>>, Option<String>) {
    let mut d = FrameDecoder::new(MAX);
    let mut out = Vec::new();
    let mut rest = stream;
    let mut sizes = chunks.iter().cycle();
    while !rest.is_empty() {
        let n = match sizes.next() {
            Some(&s) if !chunks.is_empty() => (s as usize).max(1).min(rest.len()),
            _ => rest.len(),
        };
        let (piece, tail) = rest.split_at(n);
        rest = tail;
        d.push(piece);
        loop {
            match d.next_frame() {
                Ok(Some(f)) => out.push(f.to_vec()),
                Ok(None) => break,
                Err(e) => return (out, Some(e.to_string())),
            }
        }
        // Bounded: at most one incomplete frame plus the chunk just pushed.
        assert!(
            d.buffered() <= MAX + 4 + n,
            "buffered {} after a {n}-byte chunk",
            d.buffered()
        );
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };
    let whole = frames(&input.stream, &[]);
    let chunked = frames(&input.stream, &input.chunk_sizes);
    assert_eq!(whole, chunked);
});
