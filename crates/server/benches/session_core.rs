//! Micro-benchmarks of the session core: CSRF token mint and verify, session id
//! generation, and one store read and write per backend (memory, embedded SQLite,
//! Redis on a `redis-server` started here). `cargo bench -p trustyconvert-server`.

#[path = "../../session/tests/support/redis_server.rs"]
mod redis_server;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use trustyconvert_server::storage::{ConverterStorage, CsrfState, MemoryStorage, SessionRecord};
use trustyconvert_server::StoreKind;
use trustyconvert_session::crypto::{generate_csrf_nonce, FreshSession, Keyring, SessionSecret};
use trustyconvert_session::Timestamp;

fn tokens(c: &mut Criterion) {
    let keyring = Keyring::new(vec![[7; 32]]).unwrap();
    let key = SessionSecret::generate().store_key();
    let nonce = generate_csrf_nonce();
    let token = keyring.sign(&key, &nonce);
    c.bench_function("csrf token mint", |b| b.iter(|| keyring.sign(&key, &nonce)));
    c.bench_function("csrf token verify", |b| {
        b.iter(|| keyring.verify(&key, token.as_bytes()).unwrap())
    });
    c.bench_function(
        "new session's randomness (id, handle, nonce) + store key",
        |b| b.iter(|| FreshSession::generate().secret.store_key()),
    );
}

fn record() -> SessionRecord {
    let now = Timestamp::now();
    SessionRecord {
        key: SessionSecret::generate().store_key(),
        public_id: trustyconvert_session::crypto::generate_public_id(),
        created_at: now,
        idle_expires_at: now.plus(Duration::from_secs(3600)),
        absolute_expires_at: now.plus(Duration::from_secs(86_400)),
        csrf: CsrfState {
            current: generate_csrf_nonce(),
            previous: None,
        },
    }
}

fn store_get_put(
    c: &mut Criterion,
    name: &str,
    runtime: &tokio::runtime::Runtime,
    store: &dyn ConverterStorage,
) {
    let stored = record();
    runtime.block_on(store.insert_session(&stored)).unwrap();
    c.bench_function(&format!("store get ({name})"), |b| {
        b.iter(|| runtime.block_on(store.load_session(&stored.key)).unwrap())
    });
    c.bench_function(&format!("store put ({name})"), |b| {
        b.iter(|| runtime.block_on(store.insert_session(&record())).unwrap())
    });
}

fn stores(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    store_get_put(c, "memory", &runtime, &MemoryStorage::default());
    let dir = tempfile::tempdir().unwrap();
    let sqlite = runtime
        .block_on(trustyconvert_server::storage::open_sqlite(
            dir.path().join("bench.sqlite3"),
        ))
        .unwrap();
    store_get_put(c, "embedded", &runtime, &sqlite);
    let redis = redis_server::RedisServer::start();
    let kind = StoreKind::Redis(redis.url());
    let shared = runtime
        .block_on(trustyconvert_server::storage::open(
            &kind,
            dir.path(),
            Duration::from_secs(86_400),
        ))
        .unwrap();
    store_get_put(c, "redis", &runtime, shared.as_ref());
}

criterion_group!(benches, tokens, stores);
criterion_main!(benches);
