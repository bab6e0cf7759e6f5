//! Where the SFU's random numbers come from: ICE credentials (ufrag and password) and each
//! outgoing stream's first sequence number. Production reads the operating system's source;
//! tests give a fixed seed, so a run repeats exactly.
//!
//! (str0m draws what it needs itself — SSRCs, DTLS certificates, SDP ids — and offers no
//! way to inject a source; only what the SFU itself chooses comes from here.)

/// A source of random bytes.
pub trait Randomness: Send {
    fn fill(&mut self, buf: &mut [u8]);
}

/// The operating system's source (`getrandom`).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl Randomness for OsRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        // Should the OS source ever fail, the buffer stays zeroed rather than the shard
        // stopping.
        let _ = getrandom03::fill(buf);
    }
}

/// A deterministic source for tests (SplitMix64 over a seed); never for production.
#[derive(Debug, Clone)]
pub struct SeededRandom {
    state: u64,
}

impl SeededRandom {
    pub fn new(seed: u64) -> Self {
        SeededRandom { state: seed }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl Randomness for SeededRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// `n` random letters and digits (ICE ufrag and password characters).
pub fn token(r: &mut dyn Randomness, n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut b = vec![0u8; n];
    r.fill(&mut b);
    b.iter().map(|x| ALPHABET[*x as usize % ALPHABET.len()] as char).collect()
}

/// The first sequence number of an outgoing stream: 1..=16384, below 2^15 so the receiver
/// needs no rollover signalling.
pub fn first_sequence_number(r: &mut dyn Randomness) -> u16 {
    let mut b = [0u8; 2];
    r.fill(&mut b);
    u16::from_le_bytes(b) % 16_384 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_repeats_and_different_seeds_differ() {
        let (mut a, mut b, mut c) = (SeededRandom::new(7), SeededRandom::new(7), SeededRandom::new(8));
        let (ta, tb, tc) = (token(&mut a, 24), token(&mut b, 24), token(&mut c, 24));
        assert_eq!(ta, tb);
        assert_ne!(ta, tc);
        assert_eq!(ta.len(), 24);
        assert!(ta.chars().all(|ch| ch.is_ascii_alphanumeric()));
    }

    #[test]
    fn odd_lengths_are_filled_and_sequence_numbers_stay_in_range() {
        let mut r = SeededRandom::new(1);
        let mut buf = [0u8; 13];
        r.fill(&mut buf);
        assert!(buf.iter().any(|b| *b != 0));
        for _ in 0..1000 {
            assert!((1..=16_384).contains(&first_sequence_number(&mut r)));
        }
    }
}
