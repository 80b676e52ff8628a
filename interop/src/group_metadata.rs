//! The group metadata of an rdkafka consumer in a group (group id,
//! generation, member id, group instance id), as a transactional producer
//! sends it with its offsets (KIP-447) so that the group coordinator can
//! refuse a consumer that lost its partitions.
//!
//! The rdkafka crate keeps librdkafka's metadata opaque; librdkafka can
//! serialize it (`rd_kafka_consumer_group_metadata_write`), in a layout
//! its own tests check round trip: the magic `CGMDv2:`, the generation as
//! a native-endian i32, the group id and member id NUL-terminated, a
//! one-byte "instance id is null" flag, then the instance id NUL-terminated
//! when there is one.

use kafka_producer_proto::ConsumerGroupMetadata;
use rdkafka::bindings as rd;
use rdkafka::consumer::{BaseConsumer, Consumer};

const MAGIC: &[u8] = b"CGMDv2:";

/// The consumer's current group metadata, or `None` when it is in no
/// group (or the layout is not the one described above).
pub fn of(consumer: &BaseConsumer) -> Option<ConsumerGroupMetadata> {
    let bytes = serialized(consumer)?;
    parse(&bytes)
}

fn serialized(consumer: &BaseConsumer) -> Option<Vec<u8>> {
    let rk = consumer.client().native_ptr();
    // SAFETY: `rk` is the live handle of `consumer`, borrowed for this call;
    // the metadata and the buffer librdkafka allocates are freed with its
    // own functions before returning, and the buffer is read only within
    // the `size` librdkafka reported.
    unsafe {
        let cgmd = rd::rd_kafka_consumer_group_metadata(rk);
        if cgmd.is_null() {
            return None;
        }
        let mut buf: *mut std::ffi::c_void = std::ptr::null_mut();
        let mut size = 0usize;
        let error = rd::rd_kafka_consumer_group_metadata_write(cgmd, &mut buf, &mut size);
        rd::rd_kafka_consumer_group_metadata_destroy(cgmd);
        if !error.is_null() {
            rd::rd_kafka_error_destroy(error);
            return None;
        }
        let bytes = std::slice::from_raw_parts(buf as *const u8, size).to_vec();
        rd::rd_kafka_mem_free(rk, buf);
        Some(bytes)
    }
}

fn parse(bytes: &[u8]) -> Option<ConsumerGroupMetadata> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let generation = i32::from_ne_bytes(rest.get(..4)?.try_into().ok()?);
    let mut rest = &rest[4..];
    let mut string = || -> Option<String> {
        let end = rest.iter().position(|b| *b == 0)?;
        let s = String::from_utf8(rest[..end].to_vec()).ok()?;
        rest = &rest[end + 1..];
        Some(s)
    };
    let group = string()?;
    let member = string()?;
    let instance_is_null = *rest.first()? != 0;
    rest = &rest[1..];
    let mut metadata = ConsumerGroupMetadata::new(group).with_member(generation, member);
    if !instance_is_null {
        let end = rest.iter().position(|b| *b == 0)?;
        metadata = metadata.with_group_instance_id(String::from_utf8(rest[..end].to_vec()).ok()?);
    }
    Some(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_librdkafka_layout() {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&7i32.to_ne_bytes());
        b.extend_from_slice(b"grp\0member-1\0\0inst\0");
        let m = parse(&b).expect("parses");
        assert_eq!(
            m,
            ConsumerGroupMetadata::new("grp")
                .with_member(7, "member-1")
                .with_group_instance_id("inst")
        );
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&(-1i32).to_ne_bytes());
        b.extend_from_slice(b"grp\0\0\x01");
        assert_eq!(
            parse(&b),
            Some(ConsumerGroupMetadata::new("grp").with_member(-1, ""))
        );
        assert_eq!(parse(b"CGMDv1:"), None);
    }
}
