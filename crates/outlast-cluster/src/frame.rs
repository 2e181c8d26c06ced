//! Frames on a byte stream: a 4-byte little-endian length, the 4-byte little-endian data format
//! of what the frame carries, then a postcard-encoded message.
//!
//! Compact and binary (not JSON), bounded (`FRAME_BYTES_MAX`; a longer length is an error, never
//! an allocation), and generic over the stream so a simulated network can carry the same bytes.
//! The format comes before the message so that a node refuses a frame newer than its build
//! reads (`format`) with that reason, instead of failing somewhere inside the decoding.

use std::io;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest frame accepted or sent: room for a batch of entries or a snapshot chunk, small
/// enough that a bad peer cannot make a node allocate without bound.
pub const FRAME_BYTES_MAX: u32 = 64 << 20;

/// Bytes before a frame's message: its length, then its format.
const HEADER_BYTES: usize = 8;

/// A message that knows the newest data format it carries (most carry only the first).
pub trait Formatted {
    /// The data format a receiver must read to decode this message.
    fn format(&self) -> u32 {
        outlast_engine::FORMAT_FIRST
    }
}

/// Writes `message` as one frame.
pub async fn write<W: AsyncWrite + Unpin, T: Serialize + Formatted>(stream: &mut W, message: &T) -> io::Result<()> {
    write_encoded(stream, &encode(message)?).await
}

/// `message` as one frame's bytes (to send later, or more than once).
pub fn encode<T: Serialize + Formatted>(message: &T) -> io::Result<Vec<u8>> {
    encode_at(message.format(), message)
}

/// `message` as one frame's bytes, labelled with data format `format`.
pub fn encode_at<T: Serialize>(format: u32, message: &T) -> io::Result<Vec<u8>> {
    let body = postcard::to_allocvec(message).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let len = u32::try_from(body.len()).ok().filter(|&len| len <= FRAME_BYTES_MAX).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("frame of {} bytes is too large", body.len()))
    })?;
    let mut buffer = Vec::with_capacity(HEADER_BYTES + body.len());
    buffer.extend_from_slice(&len.to_le_bytes());
    buffer.extend_from_slice(&format.to_le_bytes());
    buffer.extend_from_slice(&body);
    Ok(buffer)
}

/// Writes a frame made by `encode`.
pub async fn write_encoded<W: AsyncWrite + Unpin>(stream: &mut W, frame: &[u8]) -> io::Result<()> {
    stream.write_all(frame).await?;
    stream.flush().await
}

/// Reads one frame; `Ok(None)` if the stream ended cleanly before a frame started. A frame of
/// a data format newer than this process reads is an error of kind `Unsupported` that says so.
pub async fn read<R: AsyncRead + Unpin, T: DeserializeOwned>(stream: &mut R) -> io::Result<Option<T>> {
    let mut header = [0u8; HEADER_BYTES];
    match stream.read_exact(&mut header).await {
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let len = checked_len(&header)?;
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await?;
    postcard::from_bytes(&body).map(Some).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The message length a frame's header announces, if the frame may be read: not longer than
/// `FRAME_BYTES_MAX`, and of a data format this process reads.
fn checked_len(header: &[u8; HEADER_BYTES]) -> io::Result<usize> {
    let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes"));
    let format = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    if len > FRAME_BYTES_MAX {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame of {len} bytes exceeds the maximum")));
    }
    if let Some(why) = crate::format::refusal(format, "a frame received") {
        return Err(io::Error::new(io::ErrorKind::Unsupported, why));
    }
    Ok(len as usize)
}

/// Takes the first whole frame off the front of `buffer` (bytes read so far, in order), as
/// `read` would have read it; `Ok(None)` until the frame is complete. For a reader that must
/// not lose bytes when a read is abandoned half-way (`read` is not cancel-safe).
pub fn take<T: DeserializeOwned>(buffer: &mut Vec<u8>) -> io::Result<Option<T>> {
    let Some(header) = buffer.first_chunk::<HEADER_BYTES>() else { return Ok(None) };
    let len = checked_len(header)?;
    if buffer.len() < HEADER_BYTES + len {
        return Ok(None);
    }
    let message = postcard::from_bytes(&buffer[HEADER_BYTES..HEADER_BYTES + len])
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    buffer.drain(..HEADER_BYTES + len);
    Ok(Some(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_taken_whole_from_a_buffer_filled_piecemeal() {
        let mut bytes = encode_at(1, &(7u64, "hello".to_string())).unwrap();
        bytes.extend(encode_at(1, &(8u64, "again".to_string())).unwrap());
        let mut buffer = Vec::new();
        let mut taken = Vec::new();
        for byte in bytes {
            buffer.push(byte);
            if let Some(message) = take::<(u64, String)>(&mut buffer).unwrap() {
                taken.push(message);
            }
        }
        assert_eq!(taken, vec![(7, "hello".to_string()), (8, "again".to_string())]);
        assert!(buffer.is_empty());
        // The same refusals as `read`, as soon as the header is in.
        let mut newer = encode_at(outlast_engine::FORMAT_CURRENT + 1, &7u64).unwrap();
        newer.truncate(HEADER_BYTES);
        assert_eq!(take::<u64>(&mut newer).unwrap_err().kind(), io::ErrorKind::Unsupported);
        let mut long = (FRAME_BYTES_MAX + 1).to_le_bytes().to_vec();
        long.extend(1u32.to_le_bytes());
        assert_eq!(take::<u64>(&mut long).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[tokio::test]
    async fn frames_round_trip_and_bad_frames_are_refused() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        write_encoded(&mut a, &encode_at(1, &(7u64, "hello".to_string())).unwrap()).await.unwrap();
        let got: Option<(u64, String)> = read(&mut b).await.unwrap();
        assert_eq!(got, Some((7, "hello".to_string())));
        // A format newer than this build reads is refused, saying so.
        let newer = outlast_engine::FORMAT_CURRENT + 1;
        write_encoded(&mut a, &encode_at(newer, &7u64).unwrap()).await.unwrap();
        let refused = read::<_, u64>(&mut b).await.unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::Unsupported);
        assert!(refused.to_string().contains("newer than this build reads"), "{refused}");
        // An announced length over the maximum is refused before any allocation.
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        a.write_all(&(FRAME_BYTES_MAX + 1).to_le_bytes()).await.unwrap();
        a.write_all(&1u32.to_le_bytes()).await.unwrap();
        assert_eq!(read::<_, u64>(&mut b).await.unwrap_err().kind(), io::ErrorKind::InvalidData);
        // Garbage that is not the expected message is refused.
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        a.write_all(&3u32.to_le_bytes()).await.unwrap();
        a.write_all(&1u32.to_le_bytes()).await.unwrap();
        a.write_all(&[0xff, 0xff, 0xff]).await.unwrap();
        assert_eq!(read::<_, u64>(&mut b).await.unwrap_err().kind(), io::ErrorKind::InvalidData);
        drop(a);
        assert_eq!(read::<_, u64>(&mut b).await.unwrap(), None);
    }
}
