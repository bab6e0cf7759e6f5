//! Each session's next str0m timeout, also ordered by time, so a tick advances only the
//! sessions that are due.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use super::SessionId;

#[derive(Debug, Default)]
pub(super) struct Timers {
    deadlines: HashMap<SessionId, Instant>,
    ordered: BTreeSet<(Instant, SessionId)>,
}

impl Timers {
    /// The session wants to be woken at `t` (replacing what it asked before).
    pub fn set(&mut self, id: SessionId, t: Instant) {
        if let Some(old) = self.deadlines.insert(id, t) {
            if old == t {
                return;
            }
            self.ordered.remove(&(old, id));
        }
        self.ordered.insert((t, id));
    }

    pub fn remove(&mut self, id: SessionId) {
        if let Some(t) = self.deadlines.remove(&id) {
            self.ordered.remove(&(t, id));
        }
    }

    /// Sessions due at `now`, earliest first.
    pub fn due(&self, now: Instant) -> Vec<SessionId> {
        self.ordered.range(..=(now, SessionId::MAX)).map(|(_, id)| *id).collect()
    }

    /// The earliest deadline.
    pub fn first(&self) -> Option<Instant> {
        self.ordered.first().map(|(t, _)| *t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_due_sessions_come_out_earliest_first() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut t = Timers::default();
        t.set(1, ms(30));
        t.set(2, ms(10));
        t.set(3, ms(20));
        t.set(1, ms(5));
        assert_eq!(t.first(), Some(ms(5)));
        assert_eq!(t.due(ms(20)), vec![1, 2, 3]);
        assert_eq!(t.due(ms(9)), vec![1]);
        t.remove(1);
        assert_eq!(t.due(ms(100)), vec![2, 3]);
        t.set(2, ms(10));
        assert_eq!(t.due(ms(100)), vec![2, 3], "setting the same time again keeps one entry");
    }
}
