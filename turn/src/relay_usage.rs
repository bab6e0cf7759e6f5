//! What the server relayed, for billing: per organisation, the application payload (the UDP
//! payloads its relay sockets sent to peers and received from them) and, apart, TURN's framing
//! of it on the client side (Send/Data indication headers and attributes, ChannelData headers
//! and padding). Free of I/O and clocks: the core adds to an allocation's [`Relayed`] as it
//! relays, [`RelayUsage`] gathers them per organisation, and [`DatedRelayUsage`] files what is
//! taken under the day the shell says it is.

use std::collections::{BTreeMap, HashMap};

use origo_shared::usage::RelayEntry;

/// Bytes relayed for one allocation or organisation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Relayed {
    /// Application payload, both ways.
    pub payload: u64,
    /// TURN framing on the client side of that payload.
    pub framing: u64,
}

impl Relayed {
    /// One relayed datagram: `client_side` bytes on the client's side carrying `payload`
    /// bytes of the peer's side.
    pub fn count(&mut self, payload: usize, client_side: usize) {
        self.payload = self.payload.saturating_add(payload as u64);
        self.framing = self.framing.saturating_add(client_side.saturating_sub(payload) as u64);
    }

    pub fn add(&mut self, other: Relayed) {
        self.payload = self.payload.saturating_add(other.payload);
        self.framing = self.framing.saturating_add(other.framing);
    }

    pub fn is_zero(&self) -> bool {
        self.payload == 0 && self.framing == 0
    }
}

/// Bytes relayed per organisation since they were last taken.
#[derive(Debug, Clone, Default)]
pub struct RelayUsage {
    by_org: HashMap<String, Relayed>,
}

impl RelayUsage {
    pub fn add(&mut self, org: &str, r: Relayed) {
        if r.is_zero() {
            return;
        }
        match self.by_org.get_mut(org) {
            Some(total) => total.add(r),
            None => {
                self.by_org.insert(org.to_owned(), r);
            }
        }
    }

    /// Everything gathered, by organisation (sorted), and an empty tally left behind.
    pub fn take(&mut self) -> Vec<(String, Relayed)> {
        let mut taken: Vec<(String, Relayed)> = self.by_org.drain().collect();
        taken.sort_by(|a, b| a.0.cmp(&b.0));
        taken
    }
}

/// Taken relay usage filed by organisation, month and day, until it is reported.
#[derive(Debug, Clone, Default)]
pub struct DatedRelayUsage {
    by_day: BTreeMap<(String, String, u32), Relayed>,
}

impl DatedRelayUsage {
    /// Adds `taken` under `month` (`YYYY-MM`) and `day` (1-31).
    pub fn add(&mut self, taken: Vec<(String, Relayed)>, month: &str, day: u32) {
        for (org, r) in taken {
            self.by_day.entry((org, month.to_owned(), day)).or_default().add(r);
        }
    }

    /// Everything filed, as report entries, and an empty tally left behind.
    pub fn take_entries(&mut self) -> Vec<RelayEntry> {
        std::mem::take(&mut self.by_day)
            .into_iter()
            .map(|((org, month, day), r)| RelayEntry {
                org,
                month,
                day,
                relayed_bytes: r.payload,
                framing_bytes: r.framing,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_summed_per_organisation_and_day_and_taken_once() {
        let mut a = Relayed::default();
        a.count(100, 104);
        a.count(100, 136);
        assert_eq!(a, Relayed { payload: 200, framing: 40 });
        let mut u = RelayUsage::default();
        u.add("acme", a);
        u.add("acme", Relayed { payload: 1, framing: 0 });
        u.add("beta", Relayed::default());
        let taken = u.take();
        assert_eq!(taken, vec![("acme".to_owned(), Relayed { payload: 201, framing: 40 })]);
        assert!(u.take().is_empty());
        let mut d = DatedRelayUsage::default();
        d.add(taken.clone(), "2027-01", 31);
        d.add(taken, "2027-02", 1);
        let entries = d.take_entries();
        assert_eq!(entries.len(), 2);
        assert_eq!((entries[0].month.as_str(), entries[0].day, entries[0].relayed_bytes), ("2027-01", 31, 201));
        assert!(d.take_entries().is_empty());
    }
}
