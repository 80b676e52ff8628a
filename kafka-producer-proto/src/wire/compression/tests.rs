//! Each codec round-trips, writes the framing Kafka reads, and reads what
//! the broker reads while refusing what it refuses.

use super::*;
use alloc::vec;

/// Every codec of this build, at its default level.
fn codecs() -> Vec<Box<dyn Codec>> {
    let mut all = Vec::new();
    for (c, level) in [
        (Compression::Gzip, level::GZIP_DEFAULT),
        (Compression::Snappy, 0),
        (Compression::Lz4, level::LZ4_DEFAULT),
        (Compression::Zstd, level::ZSTD_DEFAULT),
    ] {
        if is_available(c) {
            all.push(builtin(c, level).unwrap());
        }
    }
    all
}

/// Deterministic bytes that do not compress.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

/// Text-like bytes that compress well.
fn text(n: usize) -> Vec<u8> {
    let line = b"{\"user\":1234,\"event\":\"page_view\",\"path\":\"/home\"}\n";
    line.iter().copied().cycle().take(n).collect()
}

fn round_trip(codec: &mut dyn Codec, input: &[u8]) -> Vec<u8> {
    let mut out = vec![0xaa, 0xbb];
    codec.compress(input, &mut out).unwrap();
    assert_eq!(&out[..2], &[0xaa, 0xbb], "compress appends");
    let compressed = out[2..].to_vec();
    let mut back = vec![7u8];
    codec
        .decompress(&compressed, &mut back, input.len())
        .unwrap();
    assert_eq!(back[0], 7, "decompress appends");
    assert_eq!(&back[1..], input, "{:?}", codec.compression());
    let mut free = Vec::new();
    decompress(codec.compression(), &compressed, &mut free, input.len()).unwrap();
    assert_eq!(free, input);
    compressed
}

#[test]
fn every_codec_round_trips_every_shape_of_input() {
    let inputs = [
        Vec::new(),
        b"a".to_vec(),
        text(1000),
        text(64 * 1024),
        text(64 * 1024 + 1),
        text(1 << 20),
        noise(200_000, 7),
    ];
    let codecs = codecs();
    assert_eq!(codecs.len(), 4, "the tests build every codec");
    for mut codec in codecs {
        for input in &inputs {
            let compressed = round_trip(codec.as_mut(), input);
            if input.len() >= 1000 && input[0] == b'{' {
                assert!(
                    compressed.len() < input.len() / 4,
                    "{:?} {} -> {}",
                    codec.compression(),
                    input.len(),
                    compressed.len()
                );
            }
        }
        // The codec's state carries over between calls without leaking
        // into the output.
        let a = round_trip(codec.as_mut(), &text(5000));
        let b = round_trip(codec.as_mut(), &text(5000));
        assert_eq!(a, b, "{:?}", codec.compression());
    }
}

#[test]
fn decompression_stops_at_the_limit_and_appends_nothing() {
    for mut codec in codecs() {
        let input = text(100_000);
        let mut compressed = Vec::new();
        codec.compress(&input, &mut compressed).unwrap();
        let mut out = vec![1, 2, 3];
        let e = codec.decompress(&compressed, &mut out, 99_999).unwrap_err();
        assert_eq!(
            e,
            CompressionError::TooLarge {
                compression: codec.compression(),
                limit: 99_999
            }
        );
        assert_eq!(out, [1, 2, 3]);
        // Exactly the limit is fine.
        codec.decompress(&compressed, &mut out, 100_000).unwrap();
        assert_eq!(out.len(), 100_003);
    }
}

#[test]
fn damaged_input_is_an_error_not_a_panic() {
    for mut codec in codecs() {
        let c = codec.compression();
        let mut compressed = Vec::new();
        codec.compress(&text(20_000), &mut compressed).unwrap();
        let mut out = Vec::new();
        // Every truncation: an error, never a panic, never partial output.
        for cut in 0..compressed.len() {
            out.clear();
            if decompress(c, &compressed[..cut], &mut out, 1 << 20).is_err() {
                assert!(out.is_empty(), "{c:?} cut at {cut}");
            } else {
                // A cut that still decodes (a snappy chunk boundary cannot
                // happen here: one raw block) must not invent data.
                assert!(out.len() <= 20_000, "{c:?} cut at {cut}");
            }
        }
        // Byte flips and noise end in an error or in some output.
        for at in (0..compressed.len()).step_by(7) {
            let mut bad = compressed.clone();
            bad[at] ^= 0x5a;
            out.clear();
            let _ = decompress(c, &bad, &mut out, 1 << 20);
        }
        for seed in 1..50 {
            out.clear();
            let _ = decompress(c, &noise(300, seed), &mut out, 1 << 20);
        }
    }
}

#[test]
fn levels_change_the_output_and_stay_in_kafkas_ranges() {
    let input = text(200_000);
    let size = |c: Compression, level: i32| {
        let mut out = Vec::new();
        builtin(c, level)
            .unwrap()
            .compress(&input, &mut out)
            .unwrap();
        let mut back = Vec::new();
        decompress(c, &out, &mut back, input.len()).unwrap();
        assert_eq!(back, input);
        out.len()
    };
    // Highly repetitive input: gzip 1 vs 9 still differ.
    let mixed: Vec<u8> = text(100_000)
        .into_iter()
        .zip(noise(100_000, 3))
        .map(|(t, n)| if n < 40 { n } else { t })
        .collect();
    let gzip = |level: i32| {
        let mut out = Vec::new();
        builtin(Compression::Gzip, level)
            .unwrap()
            .compress(&mixed, &mut out)
            .unwrap();
        out.len()
    };
    assert!(gzip(1) > gzip(9), "{} {}", gzip(1), gzip(9));
    assert_eq!(gzip(-1), gzip(6), "-1 is zlib's default, 6");
    assert!(size(Compression::Zstd, -131_072) > size(Compression::Zstd, 22));
    assert!(size(Compression::Zstd, 1) >= size(Compression::Zstd, 19));
    // Levels beyond Kafka's ranges are taken as the nearest one.
    assert_eq!(size(Compression::Zstd, 99), size(Compression::Zstd, 22));
    assert_eq!(gzip(0), gzip(1));
    // lz4 has one compressor for every level (see the lz4 module).
    assert_eq!(size(Compression::Lz4, 1), size(Compression::Lz4, 17));
}

#[test]
fn unavailable_and_none_are_typed() {
    assert!(matches!(
        builtin(Compression::None, 0),
        Err(CompressionError::Unavailable(Compression::None))
    ));
    let mut out = Vec::new();
    decompress(Compression::None, b"abc", &mut out, 3).unwrap();
    assert_eq!(out, b"abc");
    assert!(decompress(Compression::None, b"abcd", &mut out, 3).is_err());
    assert!(is_available(Compression::None));
}

#[test]
fn a_factory_makes_its_codec_and_compares_by_identity() {
    let a = CodecFactory::new(|| builtin(Compression::Lz4, 9).unwrap());
    assert_eq!(a.compression(), Compression::Lz4);
    assert_eq!(a.make().compression(), Compression::Lz4);
    let b = a.clone();
    assert_eq!(a, b);
    let c = CodecFactory::new(|| builtin(Compression::Lz4, 9).unwrap());
    assert_ne!(a, c);
    assert!(alloc::format!("{a:?}").contains("Lz4"));
}

#[cfg(feature = "gzip")]
mod gzip_framing {
    use super::*;
    use std::io::Write;

    fn gzip_member(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn writes_one_gzip_member() {
        let mut out = Vec::new();
        builtin(Compression::Gzip, -1)
            .unwrap()
            .compress(b"hello kafka", &mut out)
            .unwrap();
        assert_eq!(&out[..3], &[0x1f, 0x8b, 0x08], "gzip magic, deflate");
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&out[..])
            .read_to_end_into(&mut back)
            .unwrap();
        assert_eq!(back, b"hello kafka");
    }

    #[test]
    fn reads_several_members_as_the_broker_does() {
        let mut both = gzip_member(b"first ");
        both.extend(gzip_member(b"second"));
        let mut out = Vec::new();
        decompress(Compression::Gzip, &both, &mut out, 100).unwrap();
        assert_eq!(out, b"first second");
    }

    #[test]
    fn refuses_zlib_and_raw_deflate() {
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(b"data").unwrap();
        let zlib = zlib.finish().unwrap();
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(b"data").unwrap();
        let raw = raw.finish().unwrap();
        for bad in [zlib, raw, Vec::new()] {
            let mut out = Vec::new();
            assert!(matches!(
                decompress(Compression::Gzip, &bad, &mut out, 100),
                Err(CompressionError::Corrupt { .. })
            ));
        }
    }

    trait ReadInto {
        fn read_to_end_into(self, out: &mut Vec<u8>) -> std::io::Result<usize>;
    }
    impl<R: std::io::Read> ReadInto for R {
        fn read_to_end_into(mut self, out: &mut Vec<u8>) -> std::io::Result<usize> {
            self.read_to_end(out)
        }
    }
}

#[cfg(feature = "snappy")]
mod snappy_framing {
    use super::*;
    use std::io::Write;

    /// The Java client's xerial framing of `chunks`.
    fn xerial(chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = vec![
            0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
        ];
        for chunk in chunks {
            let block = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
            out.extend_from_slice(&(block.len() as i32).to_be_bytes());
            out.extend_from_slice(&block);
        }
        out
    }

    #[test]
    fn writes_one_raw_block() {
        let input = text(100_000);
        let mut out = Vec::new();
        builtin(Compression::Snappy, 0)
            .unwrap()
            .compress(&input, &mut out)
            .unwrap();
        assert_eq!(
            snap::raw::Decoder::new().decompress_vec(&out).unwrap(),
            input
        );
    }

    #[test]
    fn reads_the_java_clients_xerial_framing() {
        let framed = xerial(&[b"first chunk, ", &text(40_000), b""]);
        let mut out = Vec::new();
        decompress(Compression::Snappy, &framed, &mut out, 1 << 20).unwrap();
        let mut want = b"first chunk, ".to_vec();
        want.extend(text(40_000));
        assert_eq!(out, want);
        // Two xerial streams back to back read as one.
        let mut twice = xerial(&[b"a"]);
        twice.extend(xerial(&[b"b"]));
        out.clear();
        decompress(Compression::Snappy, &twice, &mut out, 10).unwrap();
        assert_eq!(out, b"ab");
        // The limit holds across chunks.
        out.clear();
        assert!(matches!(
            decompress(Compression::Snappy, &framed, &mut out, 40_000),
            Err(CompressionError::TooLarge { .. })
        ));
        assert!(out.is_empty());
        // A truncated chunk, a negative length, a short header.
        for bad in [
            framed[..framed.len() - 1].to_vec(),
            framed[..18].to_vec(),
            framed[..10].to_vec(),
            {
                let mut neg = xerial(&[]);
                neg.extend_from_slice(&(-1i32).to_be_bytes());
                neg
            },
        ] {
            out.clear();
            assert!(decompress(Compression::Snappy, &bad, &mut out, 1 << 20).is_err());
            assert!(out.is_empty());
        }
    }

    #[test]
    fn refuses_the_official_framing_and_two_raw_blocks() {
        let mut official = snap::write::FrameEncoder::new(Vec::new());
        official.write_all(b"data data data").unwrap();
        let official = official.into_inner().unwrap();
        let mut two = snap::raw::Encoder::new().compress_vec(b"one").unwrap();
        two.extend(snap::raw::Encoder::new().compress_vec(b"two").unwrap());
        for bad in [official, two] {
            let mut out = Vec::new();
            assert!(decompress(Compression::Snappy, &bad, &mut out, 100).is_err());
        }
    }
}

#[cfg(feature = "lz4")]
mod lz4_framing {
    use super::*;
    use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
    use std::io::{Read, Write};

    fn frame(info: FrameInfo, data: &[u8]) -> Vec<u8> {
        let mut e = FrameEncoder::with_frame_info(info, Vec::new());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn writes_the_java_clients_frame_header_and_64k_blocks() {
        let input = [text(100_000), noise(70_000, 9)].concat();
        let mut out = Vec::new();
        builtin(Compression::Lz4, 9)
            .unwrap()
            .compress(&input, &mut out)
            .unwrap();
        assert_eq!(&out[..7], &[0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82]);
        assert_eq!(&out[out.len() - 4..], &[0, 0, 0, 0], "end mark");
        // lz4_flex's own decoder checks the header checksum.
        let mut back = Vec::new();
        lz4_flex::frame::FrameDecoder::new(&out[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, input);
        // Blocks: 64 KiB at most, and the noise went in stored blocks.
        let mut at = 7;
        let mut stored = 0;
        loop {
            let length = u32::from_le_bytes(out[at..at + 4].try_into().unwrap());
            if length == 0 {
                break;
            }
            if length & (1 << 31) != 0 {
                stored += 1;
            }
            let size = (length & !(1 << 31)) as usize;
            assert!(size <= 64 * 1024);
            at += 4 + size;
        }
        assert_eq!(at + 4, out.len());
        assert!(stored >= 1, "incompressible blocks are stored");
    }

    #[test]
    fn reads_every_frame_kafka_reads() {
        let input = text(300_000);
        let checked = FrameInfo::new()
            .block_size(BlockSize::Max4MB)
            .block_mode(BlockMode::Independent)
            .block_checksums(true)
            .content_checksum(true)
            .content_size(Some(input.len() as u64));
        for info in [
            checked,
            FrameInfo::new().block_size(BlockSize::Max256KB),
            FrameInfo::new().block_size(BlockSize::Max1MB),
        ] {
            let mut out = Vec::new();
            decompress(Compression::Lz4, &frame(info, &input), &mut out, 1 << 20).unwrap();
            assert_eq!(out, input);
        }
    }

    #[test]
    fn refuses_what_the_broker_refuses() {
        let input = text(200_000);
        let linked = frame(FrameInfo::new().block_mode(BlockMode::Linked), &input);
        let mut wrong_hc = frame(FrameInfo::new(), b"data");
        wrong_hc[6] ^= 1;
        let mut legacy = vec![0x02, 0x21, 0x4c, 0x18];
        legacy.extend(lz4_flex::block::compress(b"data"));
        let mut dict = frame(FrameInfo::new(), b"data");
        dict[4] |= 1;
        let mut bd = frame(FrameInfo::new(), b"data");
        bd[5] = 0x30; // block max id 3
        for (what, bad) in [
            ("linked", linked),
            ("header checksum", wrong_hc),
            ("legacy magic", legacy),
            ("dictionary", dict),
            ("block size", bd),
            ("empty", Vec::new()),
            ("magic only", vec![0x04, 0x22, 0x4d, 0x18]),
        ] {
            let mut out = Vec::new();
            assert!(
                decompress(Compression::Lz4, &bad, &mut out, 1 << 20).is_err(),
                "{what}"
            );
            assert!(out.is_empty(), "{what}");
        }
    }
}

#[cfg(feature = "zstd")]
mod zstd_framing {
    use super::*;

    #[test]
    fn writes_one_frame_and_reads_several() {
        let mut out = Vec::new();
        builtin(Compression::Zstd, 3)
            .unwrap()
            .compress(b"first ", &mut out)
            .unwrap();
        assert_eq!(&out[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
        builtin(Compression::Zstd, -5)
            .unwrap()
            .compress(b"second", &mut out)
            .unwrap();
        let mut back = Vec::new();
        decompress(Compression::Zstd, &out, &mut back, 100).unwrap();
        assert_eq!(back, b"first second");
    }

    #[test]
    fn refuses_a_frame_cut_short() {
        let mut out = Vec::new();
        builtin(Compression::Zstd, 3)
            .unwrap()
            .compress(&text(50_000), &mut out)
            .unwrap();
        for cut in [out.len() - 1, out.len() / 2, 5, 0] {
            let mut back = Vec::new();
            assert!(
                decompress(Compression::Zstd, &out[..cut], &mut back, 1 << 20).is_err(),
                "cut at {cut}"
            );
        }
    }
}
