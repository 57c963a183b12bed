//! The cost of asking for the session once it is initialized: `ensure_session()`'s
//! fast path (no network, no task; the answer is ready on the first poll).
//! `cargo bench -p trustyconvert-client`.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use futures::FutureExt as _;
use trustyconvert_client::transport::ReqwestTransport;
use trustyconvert_client::{ManagerConfig, SessionManager};
use trustyconvert_server::{RateLimitConfig, Server, ServerConfig, StoreKind};

fn fast_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manager = runtime.block_on(async {
        let config = ServerConfig {
            bind: ([127, 0, 0, 1], 0).into(),
            store: StoreKind::Memory,
            data_dir: dir.path().to_owned(),
            rate_limits: RateLimitConfig::UNLIMITED,
            ..ServerConfig::default()
        };
        let server = Server::bind(config).await.unwrap();
        let base = format!("http://{}", server.local_addr());
        tokio::spawn(server.run_until(std::future::pending()));
        let transport = ReqwestTransport::new(&base).unwrap();
        let manager = SessionManager::new(Arc::new(transport), ManagerConfig::default());
        manager.ensure_session().await.unwrap();
        manager
    });
    let _guard = runtime.enter();
    c.bench_function("ensure_session (initialized fast path)", |b| {
        b.iter(|| {
            manager
                .ensure_session()
                .now_or_never()
                .expect("ready on the first poll")
                .unwrap()
        })
    });
}

criterion_group!(benches, fast_path);
criterion_main!(benches);
