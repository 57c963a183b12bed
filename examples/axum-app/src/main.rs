//! Serves the example: `cargo run -p axum-app -- 127.0.0.1:3000 [DIR]` (the address to
//! bind — port 0 picks a free one, printed on the first line — and optionally a folder
//! of static files served on the same origin, such as the built `leptos-app` page).

use std::net::SocketAddr;
use std::sync::Arc;

use trustyconvert_session::{store::MemoryStore, SessionConfig, Sessions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args.next().as_deref().unwrap_or("127.0.0.1:3000").parse()?;
    let pages = args.next();
    let mut config = SessionConfig::builder();
    if addr.ip().is_loopback() {
        // Plain HTTP on this machine only: clients drop `Secure` cookies over http.
        // Served anywhere else, the cookies keep `Secure` (put TLS in front).
        config = config.insecure_cookies();
    }
    let sessions = Sessions::builder(Arc::new(MemoryStore::default()))
        .config(config.build()?)
        .build()?;
    sessions.spawn_sweeper(); // expired sessions leave the store
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // The init rate limit counts per client address: serve with ConnectInfo.
    let mut app = axum_app::app(&sessions);
    if let Some(dir) = pages {
        app = app.fallback_service(tower_http::services::ServeDir::new(dir));
    }
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service).await?;
    Ok(())
}
