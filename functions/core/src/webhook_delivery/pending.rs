//! The organisation's pending deliveries, one index record (`webhook_pending:{org}`) the
//! dispatcher alone writes, and the pure choice of what to send next.
//!
//! An entry is named `{endpoint}|{room}|{seq:020}|{message}` — so the entries of one endpoint
//! and room sort by the room's event sequence — and its number is the time the next attempt is
//! due, shifted left by one, with the low bit set once the delivery is *parked*.
//!
//! Order: of an endpoint's deliveries for one room, only the first that is not parked is sent,
//! and the later ones wait for it. A delivery waiting for a retry holds the others back for
//! [`HOLD_MS`] after its event at most; one that fails again then is parked: it goes on along
//! its own retry schedule and no longer holds the others back. When the endpoint answers again, its parked deliveries are due at once and go
//! back in line, so a receiver that was down gets what it missed in order.

use super::super::store::index::Index;

/// How long a failing delivery holds back the later events of its room.
pub const HOLD_MS: u64 = 30_000;

/// One pending delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending<'a> {
    pub endpoint: &'a str,
    pub room: &'a str,
    pub seq: u64,
    pub message: &'a str,
    pub due_ms: u64,
    pub parked: bool,
}

/// The index entry name of a delivery.
pub fn name(endpoint: &str, room: &str, seq: u64, message: &str) -> String {
    format!("{endpoint}|{room}|{seq:020}|{message}")
}

/// The index number of a delivery due at `due_ms`.
pub fn value(due_ms: u64, parked: bool) -> u64 {
    (due_ms << 1) | u64::from(parked)
}

/// Reads an entry (`None` for a name this module did not write).
pub fn parse(name: &str, value: u64) -> Option<Pending<'_>> {
    let mut parts = name.splitn(4, '|');
    let (endpoint, room, seq, message) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    Some(Pending { endpoint, room, seq: seq.parse().ok()?, message, due_ms: value >> 1, parked: value & 1 == 1 })
}

/// Up to `limit` deliveries to send at `now_ms`, by name. `busy` names endpoints that may not
/// be sent to now (being sent to, or gone).
pub fn choose(index: &Index, now_ms: u64, limit: usize, busy: impl Fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut group: Option<(&str, &str)> = None;
    let mut blocked = false;
    for (name, &v) in &index.entries {
        if out.len() >= limit {
            break;
        }
        let Some(d) = parse(name, v) else { continue };
        if group != Some((d.endpoint, d.room)) {
            group = Some((d.endpoint, d.room));
            blocked = false;
        }
        if busy(d.endpoint) {
            continue;
        }
        if d.parked {
            if d.due_ms <= now_ms {
                out.push(name.clone());
            }
            continue;
        }
        // A delivery waiting for a retry stops holding its room back [`HOLD_MS`] after its
        // event (the sequence number counts from the event's time × 1000).
        if d.due_ms > now_ms && (d.seq / 1000).saturating_add(HOLD_MS) <= now_ms {
            continue;
        }
        if !blocked && d.due_ms <= now_ms {
            out.push(name.clone());
        }
        // The first delivery in line holds the rest of its room back, due or not.
        blocked = true;
    }
    out
}

/// The earliest time anything in `index` is due (`None`: nothing pending).
pub fn next_due(index: &Index) -> Option<u64> {
    index.entries.iter().filter_map(|(n, &v)| parse(n, v)).map(|d| d.due_ms).min()
}

/// Makes every waiting delivery of `endpoint` due at `now_ms` and back in line (the endpoint
/// answered again), so what it missed goes now, in order. Returns how many moved.
pub fn unpark(index: &mut Index, endpoint: &str, now_ms: u64) -> usize {
    let prefix = format!("{endpoint}|");
    let mut moved = 0;
    for (name, v) in index.entries.range_mut::<String, _>(prefix.clone()..) {
        if !name.starts_with(&prefix) {
            break;
        }
        if *v & 1 == 1 || (*v >> 1) > now_ms {
            *v = value(now_ms, false);
            moved += 1;
        }
    }
    moved
}

/// Removes every delivery of `endpoint`; returns their names.
pub fn remove_endpoint(index: &mut Index, endpoint: &str) -> Vec<String> {
    let prefix = format!("{endpoint}|");
    let names: Vec<String> = index
        .entries
        .range::<String, _>(prefix.clone()..)
        .map(|(k, _)| k.clone())
        .take_while(|k| k.starts_with(&prefix))
        .collect();
    for n in &names {
        index.entries.remove(n);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ix(entries: &[(&str, &str, u64, u64, bool)]) -> Index {
        let mut ix = Index::new();
        for &(ep, room, seq, due, parked) in entries {
            ix.entries.insert(name(ep, room, seq, &format!("msg_{seq}")), value(due, parked));
        }
        ix
    }

    #[test]
    fn names_round_trip() {
        let n = name("wh_a", "standup", 42, "msg_x");
        let v = value(1_234, true);
        assert_eq!(
            parse(&n, v),
            Some(Pending { endpoint: "wh_a", room: "standup", seq: 42, message: "msg_x", due_ms: 1_234, parked: true })
        );
        assert_eq!(parse("junk", 0), None);
    }

    #[test]
    fn one_at_a_time_per_endpoint_and_room_in_sequence_order() {
        let ix = ix(&[
            ("wh_a", "r1", 1, 0, false),
            ("wh_a", "r1", 2, 0, false),
            ("wh_a", "r2", 1, 0, false),
            ("wh_b", "r1", 1, 0, false),
            ("wh_b", "r1", 2, 0, false),
        ]);
        let chosen = choose(&ix, 10, 100, |_| false);
        assert_eq!(
            chosen,
            vec![name("wh_a", "r1", 1, "msg_1"), name("wh_a", "r2", 1, "msg_1"), name("wh_b", "r1", 1, "msg_1")]
        );
    }

    #[test]
    fn a_failing_head_holds_the_room_back_until_it_is_parked() {
        // The head is in backoff (due later): nothing of its room goes.
        let waiting = ix(&[("wh_a", "r1", 1, 5_000, false), ("wh_a", "r1", 2, 0, false)]);
        assert!(choose(&waiting, 10, 100, |_| false).is_empty());
        assert_eq!(next_due(&waiting), Some(0));
        // Parked, it no longer holds the others back.
        let parked = ix(&[("wh_a", "r1", 1, 5_000, true), ("wh_a", "r1", 2, 0, false), ("wh_a", "r1", 3, 0, false)]);
        assert_eq!(choose(&parked, 10, 100, |_| false), vec![name("wh_a", "r1", 2, "msg_2")]);
        // A due parked delivery goes beside the head of the line.
        let both = ix(&[("wh_a", "r1", 1, 5, true), ("wh_a", "r1", 2, 0, false)]);
        assert_eq!(choose(&both, 10, 100, |_| false).len(), 2);
    }

    #[test]
    fn an_endpoint_that_answers_again_gets_its_parked_deliveries_in_order() {
        let mut ix =
            ix(&[("wh_a", "r1", 1, 90_000, true), ("wh_a", "r1", 2, 95_000, true), ("wh_b", "r1", 1, 90_000, true)]);
        assert_eq!(unpark(&mut ix, "wh_a", 20), 2);
        assert_eq!(choose(&ix, 20, 100, |_| false), vec![name("wh_a", "r1", 1, "msg_1")]);
        assert_eq!(remove_endpoint(&mut ix, "wh_a").len(), 2);
        assert_eq!(ix.len(), 1);
    }

    #[test]
    fn busy_endpoints_and_the_limit_are_respected() {
        let ix = ix(&[("wh_a", "r1", 1, 0, false), ("wh_b", "r1", 1, 0, false), ("wh_c", "r1", 1, 0, false)]);
        assert_eq!(choose(&ix, 10, 100, |e| e == "wh_b").len(), 2);
        assert_eq!(choose(&ix, 10, 1, |_| false).len(), 1);
    }
}
