//! The function's Redis as managed services offer it: over TLS with a user and password
//! (`rediss://user:password@…`) and a private CA (`ORIGO_REDIS_CA_FILE`); and what the function
//! learns at start of whether that Redis persists writes.

mod support;

use std::time::{Duration, Instant};

use origo_functions_lambda::redis_store::{Persistence, RedisStore, persistence};
use support::{Redis, certificates, lambda_env};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn persistence_is_read_from_the_redis_config() {
    rt().block_on(async {
        for (args, expected) in [
            (&["--save", "", "--appendonly", "no"][..], Persistence::NotPersisted),
            (
                &["--save", "", "--appendonly", "yes", "--appendfsync", "always"][..],
                Persistence::AppendOnly { fsync: "always".into() },
            ),
        ] {
            let redis = Redis::start_with(args, false);
            let mut c =
                redis::Client::open(redis.url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
            assert_eq!(persistence(&mut c).await, expected);
        }
        let redis = Redis::start_with(&["--save", "", "--rename-command", "CONFIG", ""], false);
        let mut c = redis::Client::open(redis.url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
        assert!(matches!(persistence(&mut c).await, Persistence::Unknown(_)));
    });
}

#[test]
fn redis_over_tls_with_a_user_password_and_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let redis = Redis::start_with(
        &[
            "--tls-cert-file",
            cert.to_str().unwrap(),
            "--tls-key-file",
            key.to_str().unwrap(),
            "--tls-ca-cert-file",
            ca.to_str().unwrap(),
            "--tls-auth-clients",
            "no",
            "--requirepass",
            "default-secret",
            "--user",
            "ada",
            "on",
            ">ada-secret",
            "~*",
            "&*",
            "+@all",
            "--save",
            "",
        ],
        true,
    );
    let url = redis.url.replacen("rediss://", "rediss://ada:ada-secret@", 1);
    rt().block_on(async {
        // The function's configuration names the CA; the store writes and reads through it.
        let env = lambda_env(&url, "http://127.0.0.1:9", "ws://127.0.0.1:9");
        let env = move |name: &str| match name {
            "ORIGO_REDIS_CA_FILE" => Some(ca.display().to_string()),
            _ => env(name),
        };
        let lambda = support::Lambda::start(env).await;
        let store = &lambda.services.store;
        store.set("greeting", b"over tls").await.unwrap();
        assert_eq!(store.get("greeting").await.unwrap().as_deref(), Some(&b"over tls"[..]));
        assert_eq!(store.keys("greet").await.unwrap(), vec!["greeting".to_owned()]);

        // A wrong password is an error, not a hang; so is a certificate the public roots do not know.
        let ca = dir.path().join("ca.pem");
        let started = Instant::now();
        let wrong = redis.url.replacen("rediss://", "rediss://ada:wrong@", 1);
        let err = RedisStore::connect(&wrong, Some(&ca)).await.err().expect("refused").to_string();
        assert!(err.contains("authentication failed"), "{err}");
        assert!(!err.contains("wrong@"), "{err}");
        let err = RedisStore::connect(&url, None).await.err().expect("untrusted").to_string();
        assert!(err.to_lowercase().contains("certificate") || err.contains("UnknownIssuer"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5), "refused at once, not retried: {:?}", started.elapsed());
        // A CA file is for rediss:// only.
        let plain = Redis::start();
        let err = RedisStore::connect(&plain.url, Some(&ca)).await.err().expect("no TLS").to_string();
        assert!(err.contains("rediss://"), "{err}");
    });
}
