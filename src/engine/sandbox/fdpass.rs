//! Passing one open socket between processes over a unix stream (SCM_RIGHTS): the serve
//! forwarder receives each accepted host client this way, so the host stays out of the data
//! path. The one `unsafe` step (an fd number the kernel installed becomes an [`OwnedFd`]) lives
//! here, with the rest of the sandbox's unsafe code, behind a safe API.
//!
//! Invariants: a received fd is owned exactly once (extra fds in the same message are closed,
//! never leaked); every received fd is close-on-exec, so the app the forwarder starts never
//! inherits a client socket.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};

/// Sends one byte `tag` with `fd` attached over the unix stream `sock` (non-blocking sockets
/// give `WouldBlock`; retry when writable).
pub fn send_fd(sock: BorrowedFd<'_>, tag: u8, fd: BorrowedFd<'_>) -> std::io::Result<()> {
    let fds = [fd.as_raw_fd()];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(&[tag])],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map(drop)
    .map_err(std::io::Error::from)
}

/// Receives one message of up to one byte from the unix stream `sock`: how many bytes came
/// (0 is end of stream), the byte, and the first fd attached to it, if any.
pub fn recv_fd(sock: BorrowedFd<'_>) -> std::io::Result<(usize, u8, Option<OwnedFd>)> {
    let mut buf = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(std::io::Error::from)?;
    let mut fd = None;
    for c in msg.cmsgs().map_err(std::io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for raw in fds {
                // SAFETY: the kernel just installed `raw` in this process for this message;
                // nothing else knows the number, so this is its only owner.
                let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                if fd.is_none() {
                    fd = Some(owned);
                }
            }
        }
    }
    let n = msg.bytes;
    Ok((n, buf[0], fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn a_socket_crosses_and_still_works() {
        let (sender, receiver) = UnixStream::pair().unwrap();
        let (mut near, far) = UnixStream::pair().unwrap();
        send_fd(sender.as_fd(), b'F', far.as_fd()).unwrap();
        drop(far);
        let (n, tag, fd) = recv_fd(receiver.as_fd()).unwrap();
        assert_eq!((n, tag), (1, b'F'));
        let mut got = UnixStream::from(fd.expect("an fd was attached"));
        near.write_all(b"hi").unwrap();
        let mut buf = [0u8; 2];
        got.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hi");
    }

    #[test]
    fn a_plain_byte_has_no_fd_and_eof_is_zero() {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(b"P").unwrap();
        let (n, tag, fd) = recv_fd(b.as_fd()).unwrap();
        assert_eq!((n, tag), (1, b'P'));
        assert!(fd.is_none());
        drop(a);
        assert_eq!(recv_fd(b.as_fd()).unwrap().0, 0);
    }
}
