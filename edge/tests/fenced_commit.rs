//! The room lease and the fenced commit against a real Redis: a commit lands only while its
//! tenure holds the lease, a stale holder's commit is refused whole, read-modify-write records
//! are guarded, a retried commit is not applied twice, renewal notices a lease taken away.

mod common;

use std::time::Duration;

use common::{Redis, rt};
use origo_edge::fenced_commit::{self, Attempt, Merge, Outcome};
use origo_edge::redis_layout::RedisLayout;
use origo_edge::room_lease::{Lease, LeaseOutcome, Tenure, lease_key};
use origo_shared::RoomKey;
use redis::AsyncCommands;

async fn mine(lease: &Lease, room: &RoomKey) -> Tenure {
    match lease.acquire(room).await.unwrap() {
        LeaseOutcome::Mine(t) => t,
        LeaseOutcome::Held { by_url, .. } => panic!("the room is held by {by_url}"),
    }
}

/// Adds 5 to a decimal counter.
fn add_five() -> Merge {
    Merge::new("count".into(), |cur| {
        let n: u64 = cur.and_then(|b| std::str::from_utf8(b).ok()?.parse().ok()).unwrap_or(0);
        vec![("count".to_owned(), Some((n + 5).to_string().into_bytes()))]
    })
}

fn w(k: &str, v: Option<&str>) -> (String, Option<Vec<u8>>) {
    (k.to_owned(), v.map(|v| v.as_bytes().to_vec()))
}

#[test]
fn a_commit_lands_only_under_its_own_lease() {
    let redis = Redis::start();
    rt().block_on(async {
        let client = redis::Client::open(redis.url.as_str()).unwrap();
        let conn = redis::aio::ConnectionManager::new(client.clone()).await.unwrap();
        let mut raw = client.get_multiplexed_async_connection().await.unwrap();
        let get = |raw: &mut redis::aio::MultiplexedConnection, k: &str| {
            let mut raw = raw.clone();
            let k = k.to_owned();
            async move { raw.get::<_, Option<String>>(k).await.unwrap() }
        };
        let room = RoomKey::new("o1", "standup");
        let a = Lease::new(conn.clone(), "http://a.test:8080".into());
        let b = Lease::new(conn.clone(), "http://b.test:8080".into());

        let ta = mine(&a, &room).await;
        assert!(ta.is_valid());
        match b.acquire(&room).await.unwrap() {
            LeaseOutcome::Held { by_instance, by_url } => {
                assert_eq!((by_instance.as_str(), by_url.as_str()), (a.instance(), "http://a.test:8080"));
            }
            LeaseOutcome::Mine(_) => panic!("two holders"),
        }

        // The holder's commit: a write, a delete and a read-modify-write, all at once.
        let _: () = raw.set("origo:kv:default:gone", "x").await.unwrap();
        let writes = [w("k", Some("v1")), w("gone", None)];
        let out = fenced_commit::commit(&conn, RedisLayout::Origo, "default", &ta, &writes, &[add_five()]).await;
        assert_eq!(out, Outcome::Applied);
        assert_eq!(get(&mut raw, "origo:kv:default:k").await.as_deref(), Some("v1"));
        assert_eq!(get(&mut raw, "origo:kv:default:gone").await, None);
        assert_eq!(get(&mut raw, "origo:kv:default:count").await.as_deref(), Some("5"));
        let out = fenced_commit::commit(&conn, RedisLayout::Origo, "default", &ta, &[], &[add_five()]).await;
        assert_eq!(out, Outcome::Applied);
        assert_eq!(get(&mut raw, "origo:kv:default:count").await.as_deref(), Some("10"));

        // The lease runs out under A (as while A is stopped) and B takes the room.
        let _: () = raw.del(lease_key(&room)).await.unwrap();
        let tb = mine(&b, &room).await;
        // A still believes it holds the room; the fence refuses the whole commit.
        assert!(ta.is_valid());
        let writes = [w("k", Some("stale")), w("other", Some("stale"))];
        let out = fenced_commit::commit(&conn, RedisLayout::Origo, "default", &ta, &writes, &[add_five()]).await;
        assert!(matches!(out, Outcome::LeaseLost(_)), "{out:?}");
        assert!(!ta.is_valid(), "a refused commit ends the tenure");
        assert_eq!(get(&mut raw, "origo:kv:default:k").await.as_deref(), Some("v1"));
        assert_eq!(get(&mut raw, "origo:kv:default:other").await, None);
        assert_eq!(get(&mut raw, "origo:kv:default:count").await.as_deref(), Some("10"));
        // Nor does a commit with nothing to write pass once the tenure is lost.
        let out = fenced_commit::commit(&conn, RedisLayout::Origo, "default", &ta, &[], &[]).await;
        assert!(matches!(out, Outcome::LeaseLost(_)), "{out:?}");

        // B's commits land.
        let out = fenced_commit::commit(&conn, RedisLayout::Origo, "default", &tb, &[w("k", Some("v3"))], &[]).await;
        assert_eq!(out, Outcome::Applied);
        assert_eq!(get(&mut raw, "origo:kv:default:k").await.as_deref(), Some("v3"));

        // A commit retried after a lost answer is not applied twice.
        let mut c = conn.clone();
        let id = tb.next_commit_id();
        let once = [w("origo:kv:default:k", Some("v4"))];
        assert_eq!(fenced_commit::apply_once(&mut c, &tb, &id, &[], &once).await.unwrap(), Attempt::Applied);
        let _: () = raw.set("origo:kv:default:k", "edited since").await.unwrap();
        assert_eq!(fenced_commit::apply_once(&mut c, &tb, &id, &[], &once).await.unwrap(), Attempt::Applied);
        assert_eq!(get(&mut raw, "origo:kv:default:k").await.as_deref(), Some("edited since"));

        // A read-modify-write record that changed since it was read: nothing is written.
        let count = "origo:kv:default:count";
        let id = tb.next_commit_id();
        let guarded = [w(count, Some("999"))];
        let writes = [w(count, Some("1004")), w("origo:kv:default:k", Some("v5"))];
        assert_eq!(fenced_commit::apply_once(&mut c, &tb, &id, &guarded, &writes).await.unwrap(), Attempt::Conflict);
        let absent = [w(count, None)];
        assert_eq!(fenced_commit::apply_once(&mut c, &tb, &id, &absent, &writes).await.unwrap(), Attempt::Conflict);
        assert_eq!(get(&mut raw, count).await.as_deref(), Some("10"));
        assert_eq!(get(&mut raw, "origo:kv:default:k").await.as_deref(), Some("edited since"));
        let read = [w(count, Some("10"))];
        assert_eq!(fenced_commit::apply_once(&mut c, &tb, &id, &read, &writes).await.unwrap(), Attempt::Applied);
        assert_eq!(get(&mut raw, count).await.as_deref(), Some("1004"));

        // Spin's layout keeps store records out of the host's namespace.
        let out =
            fenced_commit::commit(&conn, RedisLayout::Spin, "default", &tb, &[w("origo:x", Some("v"))], &[]).await;
        assert!(matches!(out, Outcome::Failed(_)), "{out:?}");

        // A's release leaves B's lease alone; B's gives it back.
        a.release(&ta).await;
        let holder = get(&mut raw, &lease_key(&room)).await.unwrap();
        assert!(
            holder.starts_with(&format!("{}/", b.instance())) && holder.ends_with(" http://b.test:8080"),
            "{holder}"
        );
        b.release(&tb).await;
        assert_eq!(get(&mut raw, &lease_key(&room)).await, None);
    });
}

#[test]
fn renewal_keeps_the_lease_and_notices_when_it_is_taken() {
    let redis = Redis::start();
    rt().block_on(async {
        let client = redis::Client::open(redis.url.as_str()).unwrap();
        let conn = redis::aio::ConnectionManager::new(client.clone()).await.unwrap();
        let mut raw = client.get_multiplexed_async_connection().await.unwrap();
        let room = RoomKey::new("o1", "renewed");
        let a = Lease::new(conn.clone(), "http://a.test:8080".into());
        let ta = mine(&a, &room).await;
        // Renewed in the background, every 2 s, to the full 6 s.
        tokio::time::sleep(Duration::from_millis(2_600)).await;
        let ttl: i64 = raw.pttl(lease_key(&room)).await.unwrap();
        assert!(ttl > 4_500, "renewed: {ttl} ms left");
        assert!(ta.remaining() > Duration::from_secs(4));

        // The same process asking again (its actor for the room gone) takes a new tenure.
        let again = mine(&a, &room).await;
        assert_ne!(again.token(), ta.token());

        // Another process's value on the lease: the renewal gives the older tenures up.
        let _: () = raw.set(lease_key(&room), "someone/1 http://c.test:8080").await.unwrap();
        tokio::time::timeout(Duration::from_secs(3), ta.lost()).await.expect("the renewal noticed");
        tokio::time::timeout(Duration::from_secs(3), again.lost()).await.expect("the renewal noticed");
        assert!(!ta.is_valid() && !again.is_valid());
        assert_eq!(ta.remaining(), Duration::ZERO);
    });
}
