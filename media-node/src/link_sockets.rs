//! The UDP sockets of the links a shard opens to other nodes (cascading, see
//! [`crate::sfu`]'s `relay`): one per link, so the node at the other end, which knows each of
//! its sessions by the address their datagrams come from, tells two rooms' links apart. Each
//! socket has a reader task that queues what arrives (bounded: a flood is dropped, never
//! buffered without end); the shard takes it from one channel, feeds the SFU and sends each
//! link's datagrams from its own socket.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::udp;

/// Datagrams queued from every link of a shard, at most (then they are dropped, as a full
/// socket buffer would).
const QUEUE: usize = 4096;
/// Links one shard opens at most.
pub const MAX_LINKS: usize = 1024;

/// A datagram a link socket took: (the link's address, where it came from, its bytes).
pub type Inbound = (SocketAddr, SocketAddr, Vec<u8>);

/// A shard's link sockets.
pub struct LinkSockets {
    /// The address link sockets are bound on (the shard's own socket's).
    bind_ip: IpAddr,
    /// The address the shard is reached at (a link's address is this with its socket's port).
    public_ip: IpAddr,
    sockets: HashMap<SocketAddr, (Arc<UdpSocket>, JoinHandle<()>)>,
    tx: mpsc::Sender<Inbound>,
    rx: mpsc::Receiver<Inbound>,
}

impl LinkSockets {
    pub fn new(bind_ip: IpAddr, public_ip: IpAddr) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        LinkSockets { bind_ip, public_ip, sockets: HashMap::new(), tx, rx }
    }

    /// Binds a socket for a new link; returns the link's address (as the other node sees it).
    pub fn open(&mut self) -> io::Result<SocketAddr> {
        if self.sockets.len() >= MAX_LINKS {
            return Err(io::Error::other(format!("this shard has {MAX_LINKS} links open")));
        }
        let std = std::net::UdpSocket::bind(SocketAddr::new(self.bind_ip, 0))?;
        std.set_nonblocking(true)?;
        let socket = Arc::new(UdpSocket::from_std(std)?);
        let address = SocketAddr::new(self.public_ip, socket.local_addr()?.port());
        let reader = tokio::spawn(read(socket.clone(), address, self.tx.clone()));
        self.sockets.insert(address, (socket, reader));
        Ok(address)
    }

    /// The next datagram any link socket took.
    pub async fn recv(&mut self) -> Option<Inbound> {
        self.rx.recv().await
    }

    /// The socket of the link at `address`.
    pub fn socket(&self, address: &SocketAddr) -> Option<&UdpSocket> {
        self.sockets.get(address).map(|(s, _)| s.as_ref())
    }

    /// Closes the sockets of links that are gone (not in `open`).
    pub fn retain(&mut self, open: &[SocketAddr]) {
        self.sockets.retain(|address, (_, reader)| {
            let keep = open.contains(address);
            if !keep {
                reader.abort();
            }
            keep
        });
    }

    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }
}

impl Drop for LinkSockets {
    fn drop(&mut self) {
        for (_, reader) in self.sockets.values() {
            reader.abort();
        }
    }
}

async fn read(socket: Arc<UdpSocket>, address: SocketAddr, tx: mpsc::Sender<Inbound>) {
    let mut buf = vec![0u8; udp::MAX_DATAGRAM];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, source)) if n < udp::MAX_DATAGRAM => {
                if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send((address, source, buf[..n].to_vec())) {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(%address, "link socket receive: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_link_has_its_own_socket_and_closed_ones_stop_reading() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let mut links = LinkSockets::new(ip, ip);
        let (a, b) = (links.open().unwrap(), links.open().unwrap());
        assert_ne!(a, b);
        assert_eq!(links.len(), 2);
        let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        peer.send_to(b"to b", b).await.unwrap();
        let (to, from, data) = links.recv().await.unwrap();
        assert_eq!((to, from, data.as_slice()), (b, peer.local_addr().unwrap(), &b"to b"[..]));
        links.socket(&a).unwrap().send_to(b"from a", peer.local_addr().unwrap()).await.unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = peer.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"from a"[..], a));
        links.retain(&[a]);
        assert!(links.socket(&b).is_none());
        assert_eq!(links.len(), 1);
    }
}
