//! The on-disk record format and the scanner that verifies it.
//!
//! A record is a 16-byte header — payload length (u32 LE), CRC32C (u32 LE) over the index and
//! the payload, index (u64 LE) — followed by the payload. Covering the index by the checksum
//! means a record copied to the wrong place is caught too.

/// Bytes in a record header.
pub const HEADER_BYTES: usize = 16;

/// Appends the encoding of record `index` with `payload` to `out`.
pub fn encode(index: u64, payload: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len()).expect("payload sizes are checked against record_bytes_max");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&checksum(index, payload).to_le_bytes());
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(payload);
}

fn checksum(index: u64, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&index.to_le_bytes()), payload)
}

/// What the scanner found at an offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scanned {
    /// A valid record: its index, where its payload is, and where the next record starts.
    Record {
        /// The record's index.
        index: u64,
        /// Byte range of the payload.
        payload: std::ops::Range<usize>,
        /// Offset just past the record.
        end: usize,
    },
    /// The bytes end before the record does (a write cut short).
    Incomplete,
    /// A complete record whose checksum or length is wrong.
    Corrupt(&'static str),
    /// Exactly at the end of the bytes.
    End,
}

/// Reads the record at `offset` of `bytes`, refusing payloads longer than `payload_bytes_max`.
pub fn scan(bytes: &[u8], offset: usize, payload_bytes_max: u32) -> Scanned {
    let rest = &bytes[offset..];
    if rest.is_empty() {
        return Scanned::End;
    }
    if rest.len() < HEADER_BYTES {
        return Scanned::Incomplete;
    }
    let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
    let index = u64::from_le_bytes(rest[8..16].try_into().expect("8 bytes"));
    if len > payload_bytes_max {
        return Scanned::Corrupt("record length exceeds the maximum");
    }
    let end = HEADER_BYTES + len as usize;
    if rest.len() < end {
        return Scanned::Incomplete;
    }
    let payload = &rest[HEADER_BYTES..end];
    if checksum(index, payload) != crc {
        return Scanned::Corrupt("checksum mismatch");
    }
    Scanned::Record { index, payload: offset + HEADER_BYTES..offset + end, end: offset + end }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_classified() {
        let mut bytes = Vec::new();
        encode(7, b"hello", &mut bytes);
        encode(8, b"", &mut bytes);
        let Scanned::Record { index, payload, end } = scan(&bytes, 0, 1024) else { panic!() };
        assert_eq!((index, &bytes[payload]), (7, &b"hello"[..]));
        assert!(matches!(scan(&bytes, end, 1024), Scanned::Record { index: 8, .. }));
        assert_eq!(scan(&bytes, bytes.len(), 1024), Scanned::End);
        assert_eq!(scan(&bytes[..10], 0, 1024), Scanned::Incomplete);
        assert_eq!(scan(&bytes[..HEADER_BYTES + 2], 0, 1024), Scanned::Incomplete);
        let mut flipped = bytes.clone();
        flipped[HEADER_BYTES + 1] ^= 0x40;
        assert_eq!(scan(&flipped, 0, 1024), Scanned::Corrupt("checksum mismatch"));
        assert_eq!(scan(&bytes, 0, 3), Scanned::Corrupt("record length exceeds the maximum"));
    }
}
