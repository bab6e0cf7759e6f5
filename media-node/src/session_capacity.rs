//! The node's session cap: a create reserves a place before its command goes to a shard and
//! gives it back once the shard answered (by then the shard counts the session itself), so
//! concurrent creates never open more sessions than the cap. The heartbeat's load is the same
//! count, so a full node announces `load >= capacity` and the edge places nobody there.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Sessions open on every shard plus places reserved by creates under way.
#[derive(Clone)]
pub struct SessionCapacity {
    capacity: usize,
    shards: Arc<Vec<AtomicUsize>>,
    reserved: Arc<Mutex<usize>>,
    /// Woken when the node fills up, so the heartbeat says so at once.
    full: Arc<Notify>,
}

/// A reserved place, given back when dropped.
pub struct Reservation {
    reserved: Arc<Mutex<usize>>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut r = self.reserved.lock().unwrap_or_else(|e| e.into_inner());
        *r = r.saturating_sub(1);
    }
}

impl SessionCapacity {
    /// A cap of `capacity` sessions over the shards' published counts.
    pub fn new(capacity: usize, shards: Arc<Vec<AtomicUsize>>) -> Self {
        SessionCapacity { capacity, shards, reserved: Arc::new(Mutex::new(0)), full: Arc::new(Notify::new()) }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn open(&self) -> usize {
        self.shards.iter().map(|s| s.load(Ordering::Relaxed)).sum()
    }

    /// Sessions open and being opened.
    pub fn load(&self) -> usize {
        let r = *self.reserved.lock().unwrap_or_else(|e| e.into_inner());
        self.open() + r
    }

    /// A place for one more session, or `None` when the node is full.
    pub fn reserve(&self) -> Option<Reservation> {
        let mut r = self.reserved.lock().unwrap_or_else(|e| e.into_inner());
        let load = self.open() + *r;
        if load >= self.capacity {
            drop(r);
            self.full.notify_one();
            return None;
        }
        *r += 1;
        if load + 1 >= self.capacity {
            self.full.notify_one();
        }
        Some(Reservation { reserved: self.reserved.clone() })
    }

    /// What the heartbeat waits on besides its interval.
    pub fn full_signal(&self) -> Arc<Notify> {
        self.full.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_and_open_sessions_share_the_cap() {
        let shards = Arc::new(vec![AtomicUsize::new(0), AtomicUsize::new(0)]);
        let cap = SessionCapacity::new(3, shards.clone());
        let a = cap.reserve().unwrap();
        shards[0].store(1, Ordering::Relaxed);
        drop(a); // The shard counts it now.
        let b = cap.reserve().unwrap();
        let c = cap.reserve().unwrap();
        assert_eq!(cap.load(), 3);
        assert!(cap.reserve().is_none(), "full");
        drop(b);
        assert_eq!(cap.load(), 2);
        let _d = cap.reserve().unwrap();
        drop(c);
        shards[0].store(0, Ordering::Relaxed);
        assert_eq!(cap.load(), 1);
        assert!(SessionCapacity::new(0, shards).reserve().is_none(), "a cap of 0 takes nobody");
    }
}
