//! The HTTP parser's own refusals in the API's language. When hyper cannot parse a request (a
//! bad request line or header, invalid bytes in the target, an absurd `Content-Length`, a head
//! over its buffer, a target too long), it answers by itself, before any handler runs, with a
//! bare status and an empty body; Binance clients expect `{"code","msg"}` JSON on every error.
//! `JsonParseErrors` wraps a connection's stream and, when hyper writes one of those automatic
//! answers, writes the same status with an `ApiError` body instead; the connection then closes,
//! as hyper closes it after a parse error.
//!
//! An automatic answer is recognised by its shape alone: the start of a write that is a
//! response head of status 400, 414 or 431 with `content-length: 0`. No handler's answer has
//! that shape: every error a handler gives carries its JSON body.
//!
//! Must never: change a byte of any other write, or hold a write back.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::ApiError;

/// The error hyper's automatic answer `head` stands for, if it is one.
fn automatic_answer(head: &[u8]) -> Option<ApiError> {
    let status = match head.get(..12)? {
        b"HTTP/1.1 400" => StatusCode::BAD_REQUEST,
        b"HTTP/1.1 414" => StatusCode::URI_TOO_LONG,
        b"HTTP/1.1 431" => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        _ => return None,
    };
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    // Automatic answers are exactly a head: nothing follows it in the write.
    if end + 4 != head.len() {
        return None;
    }
    let empty = head[..end].split(|&b| b == b'\n').any(|line| line.eq_ignore_ascii_case(b"content-length: 0\r"));
    if !empty {
        return None;
    }
    Some(match status {
        StatusCode::URI_TOO_LONG => ApiError::target_too_long(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ApiError::head_too_large(crate::http_server::HEAD_BYTES_MAX),
        _ => ApiError::malformed_request(),
    })
}

/// The replacement answer: the status, JSON, and the end of the connection.
fn json_answer(error: &ApiError, hsts: Option<&str>) -> Vec<u8> {
    let body = error.body();
    let hsts = hsts.map(|value| format!("strict-transport-security: {value}\r\n")).unwrap_or_default();
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{hsts}\r\n{body}",
        error.status.as_u16(),
        error.status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes()
}

/// A stream whose automatic parse-error answers are rewritten as JSON (see the module doc).
pub struct JsonParseErrors<S> {
    inner: S,
    /// The HSTS value to add to a rewritten answer (over TLS).
    hsts: Option<&'static str>,
    /// A rewritten answer being written: its bytes, how many are out, and how many bytes of
    /// hyper's write it stands for (reported once all of it is out).
    rewriting: Option<(Vec<u8>, usize, usize)>,
}

impl<S> JsonParseErrors<S> {
    /// Wraps `inner`; rewritten answers carry `hsts` if given.
    pub fn new(inner: S, hsts: Option<&'static str>) -> JsonParseErrors<S> {
        JsonParseErrors { inner, hsts, rewriting: None }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonParseErrors<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> JsonParseErrors<S> {
    /// Writes the rest of a rewritten answer; how many of hyper's bytes it stood for.
    fn poll_rewrite(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let Some((bytes, written, stands_for)) = &mut self.rewriting else { unreachable!("only while rewriting") };
        while *written < bytes.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        let stands_for = *stands_for;
        self.rewriting = None;
        Poll::Ready(Ok(stands_for))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonParseErrors<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.rewriting.is_none() {
            match automatic_answer(buf) {
                Some(error) => self.rewriting = Some((json_answer(&error, self.hsts), 0, buf.len())),
                None => return Pin::new(&mut self.inner).poll_write(cx, buf),
            }
        }
        self.poll_rewrite(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.rewriting.is_none() {
            // An automatic answer is one head and nothing else: a single non-empty slice.
            let mut nonempty = bufs.iter().filter(|b| !b.is_empty());
            let only = match (nonempty.next(), nonempty.next()) {
                (Some(first), None) => automatic_answer(first).map(|error| (error, first.len())),
                _ => None,
            };
            match only {
                Some((error, len)) => self.rewriting = Some((json_answer(&error, self.hsts), 0, len)),
                None => return Pin::new(&mut self.inner).poll_write_vectored(cx, bufs),
            }
        }
        self.poll_rewrite(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bare_parse_error_head_is_an_automatic_answer() {
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Sat, 28 Nov 2026 04:00:00 GMT\r\n\r\n";
        assert_eq!(automatic_answer(bare).unwrap().status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 40\r\n\r\n";
        assert!(automatic_answer(ours).is_none(), "a handler's error with a body");
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nx";
        assert!(automatic_answer(with_body).is_none(), "more than a head");
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert!(automatic_answer(ok).is_none());
        assert!(automatic_answer(b"HTTP/1.1 4").is_none());
        let answer = String::from_utf8(json_answer(&automatic_answer(bare).unwrap(), Some("max-age=1"))).unwrap();
        assert!(answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{answer}");
        assert!(answer.contains("strict-transport-security: max-age=1\r\n"), "{answer}");
        let body: serde_json::Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["code"], -1000);
    }
}
