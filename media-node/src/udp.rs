//! Batched UDP I/O for the media socket: `recvmmsg` takes up to [`BATCH`] datagrams per
//! system call and `sendmmsg` sends up to [`BATCH`] (to any mix of destinations), on Linux.
//! Elsewhere one datagram per call. The socket stays a tokio `UdpSocket`: readiness comes
//! from tokio, the calls are made non-blocking through `try_io`.
//!
//! The only `unsafe` code of the media node: `recvmmsg`/`sendmmsg` take raw `mmsghdr` arrays
//! and socket addresses. Each block says why it is sound.
#![allow(unsafe_code)]

use std::io;
use std::net::SocketAddr;

use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::sfu::Transmit;

/// Datagrams per system call.
pub const BATCH: usize = 32;
/// Room for one datagram (larger ones are truncated and dropped).
pub const MAX_DATAGRAM: usize = 2048;

/// Buffers for [`recv_batch`].
pub struct RecvBuffers {
    data: Vec<u8>,
    pub lens: [usize; BATCH],
    pub sources: [Option<SocketAddr>; BATCH],
}

impl Default for RecvBuffers {
    fn default() -> Self {
        RecvBuffers { data: vec![0; BATCH * MAX_DATAGRAM], lens: [0; BATCH], sources: [None; BATCH] }
    }
}

impl RecvBuffers {
    /// Datagram `i` of the last batch.
    pub fn datagram(&self, i: usize) -> &[u8] {
        &self.data[i * MAX_DATAGRAM..i * MAX_DATAGRAM + self.lens[i]]
    }
}

/// Waits for datagrams and takes what is queued, up to [`BATCH`]; returns how many.
pub async fn recv_batch(socket: &UdpSocket, bufs: &mut RecvBuffers) -> io::Result<usize> {
    loop {
        socket.readable().await?;
        match socket.try_io(Interest::READABLE, || sys::recv(socket, bufs)) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            r => return r,
        }
    }
}

/// Sends every transmit (in order), in batches; a datagram the kernel refuses (e.g. an
/// unreachable destination) is skipped with a debug line, never retried forever.
pub async fn send_all(socket: &UdpSocket, transmits: &[Transmit]) {
    let mut sent = 0;
    while sent < transmits.len() {
        if socket.writable().await.is_err() {
            return;
        }
        let batch = &transmits[sent..transmits.len().min(sent + BATCH)];
        match socket.try_io(Interest::WRITABLE, || sys::send(socket, batch)) {
            Ok(n) => sent += n.max(1),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                tracing::debug!(to = %transmits[sent].destination, "udp send: {e}");
                sent += 1;
            }
        }
    }
}

#[cfg(target_os = "linux")]
mod sys {
    use std::io;
    use std::mem::{MaybeUninit, size_of, zeroed};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::AsRawFd;

    use tokio::net::UdpSocket;

    use super::{BATCH, MAX_DATAGRAM, RecvBuffers};
    use crate::sfu::Transmit;

    fn to_storage(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
        // SAFETY: an all-zero sockaddr_storage is a valid value.
        let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
        let len = match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
                unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
                size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
                unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
                size_of::<libc::sockaddr_in6>()
            }
        };
        (storage, len as libc::socklen_t)
    }

    fn from_storage(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
        match i32::from(storage.ss_family) {
            libc::AF_INET => {
                // SAFETY: the family says this is a sockaddr_in.
                let a = unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
                let ip = Ipv4Addr::from(a.sin_addr.s_addr.to_ne_bytes());
                Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(a.sin_port))))
            }
            libc::AF_INET6 => {
                // SAFETY: the family says this is a sockaddr_in6.
                let a = unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
                let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
                let v6 = SocketAddrV6::new(ip, u16::from_be(a.sin6_port), a.sin6_flowinfo, a.sin6_scope_id);
                Some(match ip.to_ipv4_mapped() {
                    Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
                    None => SocketAddr::V6(v6),
                })
            }
            _ => None,
        }
    }

    pub fn recv(socket: &UdpSocket, bufs: &mut RecvBuffers) -> io::Result<usize> {
        // SAFETY: zeroed iovec/mmsghdr/sockaddr_storage are valid; every pointer handed to
        // the kernel points into `bufs.data`, `iov` or `names`, which outlive the call, and
        // each iovec covers exactly its MAX_DATAGRAM slice of `data`.
        unsafe {
            let mut names: [MaybeUninit<libc::sockaddr_storage>; BATCH] = [MaybeUninit::zeroed(); BATCH];
            let mut iov: [libc::iovec; BATCH] = zeroed();
            let mut msgs: [libc::mmsghdr; BATCH] = zeroed();
            for i in 0..BATCH {
                iov[i].iov_base = bufs.data.as_mut_ptr().add(i * MAX_DATAGRAM) as *mut libc::c_void;
                iov[i].iov_len = MAX_DATAGRAM;
                msgs[i].msg_hdr.msg_iov = &mut iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
                msgs[i].msg_hdr.msg_name = names[i].as_mut_ptr() as *mut libc::c_void;
                msgs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            }
            let n = libc::recvmmsg(
                socket.as_raw_fd(),
                msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            );
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let n = n as usize;
            for i in 0..n {
                let truncated = msgs[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
                bufs.lens[i] = if truncated { 0 } else { msgs[i].msg_len as usize };
                bufs.sources[i] = from_storage(names[i].assume_init_ref());
            }
            Ok(n)
        }
    }

    pub fn send(socket: &UdpSocket, batch: &[Transmit]) -> io::Result<usize> {
        let n = batch.len().min(BATCH);
        let names: Vec<(libc::sockaddr_storage, libc::socklen_t)> =
            batch[..n].iter().map(|t| to_storage(&t.destination)).collect();
        // SAFETY: as in `recv`: all pointers point into `names`, `iov` and the transmits'
        // buffers, which outlive the call; the kernel only reads them.
        unsafe {
            let mut iov: [libc::iovec; BATCH] = zeroed();
            let mut msgs: [libc::mmsghdr; BATCH] = zeroed();
            for i in 0..n {
                iov[i].iov_base = batch[i].contents.as_ptr() as *mut libc::c_void;
                iov[i].iov_len = batch[i].contents.len();
                msgs[i].msg_hdr.msg_iov = &mut iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
                msgs[i].msg_hdr.msg_name = &names[i].0 as *const _ as *mut libc::c_void;
                msgs[i].msg_hdr.msg_namelen = names[i].1;
            }
            let sent = libc::sendmmsg(socket.as_raw_fd(), msgs.as_mut_ptr(), n as libc::c_uint, libc::MSG_DONTWAIT);
            if sent < 0 { Err(io::Error::last_os_error()) } else { Ok(sent as usize) }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use std::io;

    use tokio::net::UdpSocket;

    use super::RecvBuffers;
    use crate::sfu::Transmit;

    pub fn recv(socket: &UdpSocket, bufs: &mut RecvBuffers) -> io::Result<usize> {
        let (n, from) = socket.try_recv_from(&mut bufs.data[..super::MAX_DATAGRAM])?;
        bufs.lens[0] = n;
        bufs.sources[0] = Some(from);
        Ok(1)
    }

    pub fn send(socket: &UdpSocket, batch: &[Transmit]) -> io::Result<usize> {
        socket.try_send_to(&batch[0].contents, batch[0].destination).map(|_| 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn batches_go_out_and_come_in_whole_with_their_sources() {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (to_b, to_c) = (b.local_addr().unwrap(), c.local_addr().unwrap());
        // 70 datagrams (three batches) to two destinations, interleaved, of varying sizes.
        let transmits: Vec<Transmit> = (0..70u32)
            .map(|i| Transmit {
                source: a.local_addr().unwrap(),
                destination: if i % 2 == 0 { to_b } else { to_c },
                contents: vec![i as u8; 1 + i as usize * 13],
            })
            .collect();
        send_all(&a, &transmits).await;
        for (sock, parity) in [(&b, 0u32), (&c, 1)] {
            let mut bufs = RecvBuffers::default();
            let mut got = Vec::new();
            while got.len() < 35 {
                let n = recv_batch(sock, &mut bufs).await.unwrap();
                for i in 0..n {
                    assert_eq!(bufs.sources[i], Some(a.local_addr().unwrap()));
                    got.push(bufs.datagram(i).to_vec());
                }
            }
            let expected: Vec<Vec<u8>> =
                (0..70u32).filter(|i| i % 2 == parity).map(|i| vec![i as u8; 1 + i as usize * 13]).collect();
            assert_eq!(got, expected, "in order, whole");
        }
    }
}
