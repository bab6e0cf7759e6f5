//! A send time written into each synthetic frame, so a subscriber in the same process can tell
//! the frame's one-way latency (publisher's write → subscriber's depacketised frame) with one
//! clock. The time sits after the VP8 frame header the generator writes (bytes 0..10).

use std::time::{Duration, Instant};

/// Where the time is written in a frame (and the frame size it needs).
const AT: usize = 10;
const END: usize = AT + 8;

/// Writes the time since `epoch` into `frame` (a frame shorter than 18 bytes is left alone).
pub fn write(frame: &mut [u8], epoch: Instant, now: Instant) {
    if let Some(slot) = frame.get_mut(AT..END) {
        let us = now.saturating_duration_since(epoch).as_micros() as u64;
        slot.copy_from_slice(&us.to_be_bytes());
    }
}

/// How long ago (at `now`) the frame was written, if it carries a time.
pub fn age(frame: &[u8], epoch: Instant, now: Instant) -> Option<Duration> {
    let bytes: [u8; 8] = frame.get(AT..END)?.try_into().ok()?;
    let sent = epoch + Duration::from_micros(u64::from_be_bytes(bytes));
    now.checked_duration_since(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_tells_its_age_and_a_short_one_none() {
        let epoch = Instant::now();
        let mut frame = vec![0u8; 100];
        write(&mut frame, epoch, epoch + Duration::from_millis(5));
        assert_eq!(age(&frame, epoch, epoch + Duration::from_millis(12)), Some(Duration::from_millis(7)));
        assert_eq!(age(&frame, epoch, epoch + Duration::from_millis(1)), None, "from the future");
        let mut short = vec![0u8; 12];
        write(&mut short, epoch, epoch + Duration::from_millis(5));
        assert_eq!(short, vec![0u8; 12]);
        assert_eq!(age(&short, epoch, epoch), None);
    }
}
