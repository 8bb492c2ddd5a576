//! A TCP stream that acknowledges every segment at once (TCP_QUICKACK after each read).
//!
//! NETCONF clients built on paramiko or OpenSSH write an SSH exchange as several small
//! segments without TCP_NODELAY, so each one after the first waits (Nagle) for the ACK of the
//! one before. Linux delays that ACK by up to 40 ms when the server has nothing to send yet,
//! which made session set-up wait several times 40 ms for no work at all. The kernel leaves
//! quick-ACK mode on its own, so it is set again after every read: one cheap system call per
//! read, on a path that reads a few times per request.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use socket2::SockRef;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A [`TcpStream`] that asks the kernel for immediate ACKs after each read.
#[derive(Debug)]
pub struct QuickAckStream {
    inner: TcpStream,
}

impl QuickAckStream {
    /// Wraps an accepted connection.
    pub fn new(inner: TcpStream) -> Self {
        let stream = QuickAckStream { inner };
        stream.quick_ack();
        stream
    }

    fn quick_ack(&self) {
        // Only a latency hint: a failure changes nothing else, so it is not an error.
        let _ = SockRef::from(&self.inner).set_quickack(true);
    }
}

impl AsyncRead for QuickAckStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.quick_ack();
        }
        polled
    }
}

impl AsyncWrite for QuickAckStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn carries_bytes_both_ways_with_quick_ack_on() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let client = tokio::spawn(async move {
            let mut c = TcpStream::connect(addr).await.expect("connect");
            c.write_all(b"hello").await.expect("client write");
            let mut back = [0u8; 5];
            c.read_exact(&mut back).await.expect("client read");
            back
        });
        let (accepted, _) = listener.accept().await.expect("accept");
        let mut server = QuickAckStream::new(accepted);
        let mut got = [0u8; 5];
        server.read_exact(&mut got).await.expect("server read");
        assert_eq!(&got, b"hello");
        assert!(SockRef::from(&server.inner)
            .quickack()
            .expect("TCP_QUICKACK"));
        server.write_all(b"world").await.expect("server write");
        assert_eq!(&client.await.expect("client task"), b"world");
    }
}
