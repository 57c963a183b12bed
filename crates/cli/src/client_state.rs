//! Where the CLI keeps its session between runs: the cookies each server gave it, in
//! `TRUSTY_STATE_DIR/cookies.json` (default `$XDG_STATE_HOME/trustyconvert` or
//! `~/.local/state/trustyconvert`), readable by the owner only because it holds the
//! secret session id.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use reqwest::cookie::Jar;
use trustyconvert_client::transport::ReqwestTransport;
use trustyconvert_client::{ManagerConfig, SessionManager};

const FILE_NAME: &str = "cookies.json";

/// The cookie file and the transport whose jar it fills.
pub struct ClientState {
    path: PathBuf,
    server: String,
    transport: ReqwestTransport,
}

fn state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TRUSTY_STATE_DIR") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."));
            home.join(".local").join("state")
        });
    base.join("trustyconvert")
}

impl ClientState {
    /// Loads the saved cookies for `server` into a fresh transport.
    pub fn load(server: &str) -> Result<Self, String> {
        let path = state_dir().join(FILE_NAME);
        let jar = Arc::new(Jar::default());
        let transport =
            ReqwestTransport::with_jar(server, Arc::clone(&jar)).map_err(|e| e.to_string())?;
        let server = transport
            .base_url()
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        if let Some(cookies) = read_all(&path).remove(&server) {
            for pair in cookies.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                jar.add_cookie_str(&format!("{pair}; Path=/"), transport.base_url());
            }
        }
        Ok(Self {
            path,
            server,
            transport,
        })
    }

    /// A manager over the loaded transport.
    pub fn manager(&self, config: ManagerConfig) -> SessionManager {
        SessionManager::new(Arc::new(self.transport.clone()), config)
    }

    /// Writes the jar's current cookies for this server back (or removes the entry).
    pub fn save(&self) -> Result<(), String> {
        let mut all = read_all(&self.path);
        match self.transport.cookie_header() {
            Some(cookies) => all.insert(self.server.clone(), cookies),
            None => all.remove(&self.server),
        };
        write_private(
            &self.path,
            &serde_json::to_vec_pretty(&all).unwrap_or_default(),
        )
        .map_err(|error| {
            format!(
                "cannot save session state to {}: {error}",
                self.path.display()
            )
        })
    }

    /// Forgets this server's cookies.
    pub fn forget(&self) -> Result<(), String> {
        let mut all = read_all(&self.path);
        if all.remove(&self.server).is_some() {
            write_private(
                &self.path,
                &serde_json::to_vec_pretty(&all).unwrap_or_default(),
            )
            .map_err(|error| format!("cannot update {}: {error}", self.path.display()))?;
        }
        Ok(())
    }
}

/// A missing or unreadable file is an empty state: the worst case is a new session.
fn read_all(path: &PathBuf) -> BTreeMap<String, String> {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

fn write_private(path: &PathBuf, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}
