//! The compression properties: `compression.type` and each codec's level
//! (KIP-390), checked as Kafka 4.1 checks them, and the codec they make.

use alloc::boxed::Box;
use alloc::format;
use core::ops::RangeInclusive;

use super::parse::invalid;
use super::{Config, ConfigError, key};
use crate::wire::compression::{self, Codec, CodecFactory, level};
use crate::wire::record_batch::Compression;

/// The compression settings, checked.
pub(super) struct Settings {
    pub compression_type: Compression,
    pub gzip_level: i32,
    pub lz4_level: i32,
    pub zstd_level: i32,
}

impl Settings {
    /// Checks every level against its codec's range, whichever codec is
    /// chosen (each has its own validator in Java), then that the chosen
    /// codec exists in this build or was given.
    pub fn check(
        compression_type: Compression,
        gzip: Option<i32>,
        lz4: Option<i32>,
        zstd: Option<i32>,
        codec: Option<&CodecFactory>,
        available: impl Fn(Compression) -> bool,
    ) -> Result<Settings, ConfigError> {
        let gzip_level = gzip.unwrap_or(level::GZIP_DEFAULT);
        if gzip_level != level::GZIP_DEFAULT && !level::GZIP.contains(&gzip_level) {
            return Err(invalid(
                key::COMPRESSION_GZIP_LEVEL,
                gzip_level,
                "must be from 1 to 9, or -1 for the default",
            ));
        }
        let lz4_level = within(
            key::COMPRESSION_LZ4_LEVEL,
            lz4.unwrap_or(level::LZ4_DEFAULT),
            level::LZ4,
        )?;
        let zstd_level = within(
            key::COMPRESSION_ZSTD_LEVEL,
            zstd.unwrap_or(level::ZSTD_DEFAULT),
            level::ZSTD,
        )?;
        match codec {
            Some(factory) if factory.compression() != compression_type => {
                return Err(ConfigError::Conflict {
                    reason: format!(
                        "compression_codec makes {} codecs, but {}={}",
                        factory.compression(),
                        key::COMPRESSION_TYPE,
                        compression_type,
                    ),
                });
            }
            Some(_) => {}
            None if compression_type != Compression::None && !available(compression_type) => {
                return Err(invalid(
                    key::COMPRESSION_TYPE,
                    compression_type,
                    format!(
                        "needs the `{compression_type}` cargo feature of kafka-producer-proto \
                         (on by default in the drivers), or a codec of your own given with \
                         ConfigBuilder::compression_codec"
                    ),
                ));
            }
            None => {}
        }
        Ok(Settings {
            compression_type,
            gzip_level,
            lz4_level,
            zstd_level,
        })
    }
}

fn within(key: &'static str, value: i32, range: RangeInclusive<i32>) -> Result<i32, ConfigError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(invalid(
            key,
            value,
            format!("must be from {} to {}", range.start(), range.end()),
        ))
    }
}

/// The codec a producer with this configuration compresses with.
pub(super) fn make_codec(config: &Config) -> Option<Box<dyn Codec>> {
    if let Some(factory) = &config.compression_codec {
        return Some(factory.make());
    }
    let level = match config.compression_type {
        Compression::None => return None,
        Compression::Gzip => config.compression_gzip_level,
        Compression::Lz4 => config.compression_lz4_level,
        Compression::Zstd => config.compression_zstd_level,
        Compression::Snappy => 0,
    };
    // `build` checked that the codec is in this build; a failure here is
    // libzstd unable to allocate its context.
    compression::builtin(config.compression_type, level).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn config(props: &str) -> Result<Config, ConfigError> {
        Config::from_properties(&["bootstrap.servers=k:1\n", props].concat())
    }

    #[test]
    fn defaults_are_kafkas() {
        let c = config("").unwrap();
        assert_eq!(c.compression_type(), Compression::None);
        assert_eq!(c.compression_gzip_level(), -1);
        assert_eq!(c.compression_lz4_level(), 9);
        assert_eq!(c.compression_zstd_level(), 3);
        assert!(c.compression_codec().is_none());
        assert!(c.make_codec().is_none());
    }

    #[test]
    fn every_codec_and_level_kafka_accepts_is_accepted() {
        for (codec, key, levels) in [
            ("gzip", "compression.gzip.level", &[-1, 1, 5, 9][..]),
            ("lz4", "compression.lz4.level", &[1, 9, 17][..]),
            (
                "zstd",
                "compression.zstd.level",
                &[-131_072, -1, 0, 3, 22][..],
            ),
            ("snappy", "compression.gzip.level", &[-1][..]),
        ] {
            for level in levels {
                let c = config(&alloc::format!("compression.type={codec}\n{key}={level}")).unwrap();
                assert_eq!(c.compression_type().name(), codec);
                let made = c.make_codec().unwrap();
                assert_eq!(made.compression(), c.compression_type());
            }
        }
        let c =
            config("compression.gzip.level=2\ncompression.lz4.level=3\ncompression.zstd.level=-7")
                .unwrap();
        assert_eq!(
            (
                c.compression_gzip_level(),
                c.compression_lz4_level(),
                c.compression_zstd_level()
            ),
            (2, 3, -7)
        );
        let typed = Config::builder()
            .bootstrap_servers("k:1")
            .compression_type(Compression::Zstd)
            .compression_gzip_level(2)
            .compression_lz4_level(3)
            .compression_zstd_level(-7)
            .build()
            .unwrap();
        let parsed = config(
            "compression.type=zstd\ncompression.gzip.level=2\ncompression.lz4.level=3\n\
             compression.zstd.level=-7",
        )
        .unwrap();
        assert_eq!(typed, parsed);
    }

    #[test]
    fn levels_outside_kafkas_ranges_are_refused_whatever_the_codec() {
        for (props, message) in [
            (
                "compression.gzip.level=0",
                "compression.gzip.level=0 must be from 1 to 9, or -1 for the default",
            ),
            (
                "compression.gzip.level=10",
                "compression.gzip.level=10 must be from 1 to 9, or -1 for the default",
            ),
            (
                "compression.gzip.level=-2",
                "compression.gzip.level=-2 must be from 1 to 9, or -1 for the default",
            ),
            (
                "compression.lz4.level=0",
                "compression.lz4.level=0 must be from 1 to 17",
            ),
            (
                "compression.lz4.level=18",
                "compression.lz4.level=18 must be from 1 to 17",
            ),
            (
                "compression.zstd.level=23",
                "compression.zstd.level=23 must be from -131072 to 22",
            ),
            (
                "compression.zstd.level=-131073",
                "compression.zstd.level=-131073 must be from -131072 to 22",
            ),
        ] {
            for codec in ["none", "gzip", "lz4", "zstd"] {
                let e = config(&alloc::format!("compression.type={codec}\n{props}")).unwrap_err();
                assert_eq!(e.to_string(), message);
                assert!(matches!(e, ConfigError::InvalidValue { .. }));
            }
        }
        for (value, why) in [
            ("", "is empty, not a number"),
            ("3.5", "is not a whole number"),
            ("99999999999", "is too large"),
            ("-99999999999", "is too small"),
        ] {
            let e = Config::builder()
                .set("compression.zstd.level", value)
                .map(|_| ())
                .unwrap_err();
            assert_eq!(
                e.to_string(),
                ["compression.zstd.level=", value, " ", why].concat()
            );
        }
    }

    #[test]
    fn codec_names_are_case_sensitive_as_in_java() {
        for bad in ["GZIP", "Zstd", "brotli", "producer", ""] {
            let e = Config::builder()
                .set("compression.type", bad)
                .map(|_| ())
                .unwrap_err();
            let text = e.to_string();
            assert!(text.contains("none, gzip, snappy, lz4, zstd"), "{text}");
        }
    }

    #[test]
    fn a_codec_missing_from_the_build_is_refused_with_the_way_out() {
        let e = Settings::check(Compression::Zstd, None, None, None, None, |c| {
            c == Compression::None
        })
        .err()
        .unwrap();
        assert_eq!(
            e.to_string(),
            "compression.type=zstd needs the `zstd` cargo feature of kafka-producer-proto \
             (on by default in the drivers), or a codec of your own given with \
             ConfigBuilder::compression_codec"
        );
        let lz4 = CodecFactory::new(|| compression::builtin(Compression::Lz4, 9).unwrap());
        let given = Settings::check(Compression::Lz4, None, None, None, Some(&lz4), |c| {
            c == Compression::None
        });
        assert!(given.is_ok(), "a codec of one's own needs no feature");
        assert!(
            Settings::check(Compression::None, None, None, None, None, |_| false).is_ok(),
            "none needs nothing"
        );
    }

    #[test]
    fn a_codec_of_ones_own_must_match_compression_type() {
        let lz4 = CodecFactory::new(|| compression::builtin(Compression::Lz4, 9).unwrap());
        let c = Config::builder()
            .bootstrap_servers("k:1")
            .compression_type(Compression::Lz4)
            .compression_codec(lz4.clone())
            .build()
            .unwrap();
        assert_eq!(c.compression_codec(), Some(&lz4));
        assert_eq!(c.make_codec().unwrap().compression(), Compression::Lz4);
        let e = Config::builder()
            .bootstrap_servers("k:1")
            .compression_type(Compression::Zstd)
            .compression_codec(lz4)
            .build()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "compression_codec makes lz4 codecs, but compression.type=zstd"
        );
    }
}
