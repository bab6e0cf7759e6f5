//! The packets waiting to reach one emulated site: each is held until it is due (it arrived at
//! the emulator plus its link's delay) and leaves in due order, ties in arrival order. The line
//! holds at most `capacity` bytes, like a router's buffer: a packet beyond it is dropped. Pure:
//! the caller gives the times.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    due: Instant,
    seq: u64,
    packet: Vec<u8>,
}

#[derive(Debug)]
pub struct DelayLine {
    waiting: BinaryHeap<Reverse<Pending>>,
    bytes: usize,
    capacity: usize,
    seq: u64,
}

impl DelayLine {
    pub fn new(capacity: usize) -> Self {
        DelayLine { waiting: BinaryHeap::new(), bytes: 0, capacity, seq: 0 }
    }

    /// Holds `packet` until `due`; false (and the packet is dropped) when the line is full.
    pub fn push(&mut self, due: Instant, packet: Vec<u8>) -> bool {
        if self.bytes + packet.len() > self.capacity {
            return false;
        }
        self.bytes += packet.len();
        self.seq += 1;
        self.waiting.push(Reverse(Pending { due, seq: self.seq, packet }));
        true
    }

    /// When the next packet is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.waiting.peek().map(|p| p.0.due)
    }

    /// The next packet, if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.next_due()? > now {
            return None;
        }
        let Reverse(p) = self.waiting.pop()?;
        self.bytes -= p.packet.len();
        Some(p.packet)
    }

    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn packets_leave_when_due_in_due_order_ties_in_arrival_order() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut line = DelayLine::new(1 << 20);
        assert!(line.push(ms(90), vec![1]));
        assert!(line.push(ms(5), vec![2]));
        assert!(line.push(ms(5), vec![3]));
        assert_eq!(line.next_due(), Some(ms(5)));
        assert_eq!(line.pop_due(ms(4)), None);
        assert_eq!(line.pop_due(ms(5)), Some(vec![2]));
        assert_eq!(line.pop_due(ms(5)), Some(vec![3]));
        assert_eq!(line.pop_due(ms(89)), None);
        assert_eq!(line.pop_due(ms(200)), Some(vec![1]));
        assert!(line.is_empty());
        assert_eq!(line.pop_due(ms(300)), None);
    }

    #[test]
    fn a_full_line_drops_and_frees_room_as_packets_leave() {
        let t0 = Instant::now();
        let mut line = DelayLine::new(3000);
        assert!(line.push(t0, vec![0; 1500]));
        assert!(line.push(t0, vec![0; 1500]));
        assert!(!line.push(t0, vec![0; 1]));
        assert_eq!(line.len(), 2);
        assert!(line.pop_due(t0).is_some());
        assert!(line.push(t0, vec![0; 1500]));
    }
}
