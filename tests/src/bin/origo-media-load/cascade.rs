//! A cascaded room: the publishers on one node, the subscribers on another, the two nodes
//! linked the way a room's coordinator links them (`POST /v1/rooms/{org}/{room}/links` on the
//! publishers' node, under the nodes' shared secret).

use std::time::{Duration, Instant};

/// The organisation the generator's tokens are for, and its room's name (by default).
pub const ORG: &str = "org_bench";
pub const ROOM: &str = "bench";

/// Orders the link for `room` from `from` (control API) to `to` (node `to_node`), then waits
/// until `to` lists it connected and carrying `tracks` tracks in (at most 15 s).
pub async fn link(
    http: &reqwest::Client,
    secret: &str,
    from: &str,
    to: &str,
    to_node: &str,
    room: &str,
    tracks: usize,
) -> anyhow::Result<()> {
    let res = http
        .post(format!("{from}/v1/rooms/{ORG}/{room}/links"))
        .bearer_auth(secret)
        .json(&serde_json::json!({ "peer_node": to_node, "peer_control_url": to }))
        .send()
        .await?;
    let status = res.status();
    anyhow::ensure!(status.is_success(), "the link order answered {status}: {}", res.text().await.unwrap_or_default());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let listed: serde_json::Value = http
            .get(format!("{to}/v1/rooms/{ORG}/{room}/links"))
            .bearer_auth(secret)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        if linked(&listed, tracks) {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "the link did not carry {tracks} tracks within 15 s: {listed}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether a node's `GET …/links` shows one connected link bringing in `tracks` tracks.
fn linked(listed: &serde_json::Value, tracks: usize) -> bool {
    listed["links"].as_array().is_some_and(|l| {
        l.iter().any(|x| x["connected"] == true && x["tracks_in"].as_u64().is_some_and(|n| n as usize >= tracks))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_counts_once_connected_with_its_tracks() {
        let l = |connected: bool, tracks_in: u64| serde_json::json!({"links": [{"connected": connected, "tracks_in": tracks_in}]});
        assert!(linked(&l(true, 2), 2));
        assert!(!linked(&l(false, 2), 2));
        assert!(!linked(&l(true, 1), 2));
        assert!(!linked(&serde_json::json!({"links": []}), 0));
    }
}
