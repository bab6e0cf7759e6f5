//! Sessions that must connect (ICE and DTLS up) by a deadline, in the order they were opened:
//! every session gets the same timeout, so the queue is ordered by deadline too.

use std::collections::VecDeque;
use std::time::Instant;

use super::SessionId;

#[derive(Debug, Default)]
pub(super) struct ConnectDeadlines {
    queue: VecDeque<(Instant, SessionId)>,
}

impl ConnectDeadlines {
    /// `id` must connect by `at` (not earlier than any deadline pushed before).
    pub fn push(&mut self, id: SessionId, at: Instant) {
        self.queue.push_back((at, id));
    }

    /// Sessions whose deadline passed at `now`, taken out (whether or not they connected).
    pub fn due(&mut self, now: Instant) -> Vec<SessionId> {
        let mut out = Vec::new();
        while let Some(&(at, id)) = self.queue.front() {
            if at > now {
                break;
            }
            self.queue.pop_front();
            out.push(id);
        }
        out
    }

    /// The next deadline.
    pub fn first(&self) -> Option<Instant> {
        self.queue.front().map(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn deadlines_come_out_once_in_order() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut d = ConnectDeadlines::default();
        d.push(1, ms(10));
        d.push(2, ms(20));
        assert_eq!(d.first(), Some(ms(10)));
        assert_eq!(d.due(ms(5)), Vec::<SessionId>::new());
        assert_eq!(d.due(ms(20)), vec![1, 2]);
        assert_eq!(d.due(ms(30)), Vec::<SessionId>::new());
        assert_eq!(d.first(), None);
    }
}
