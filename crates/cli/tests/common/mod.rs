//! Running the real `trustyconvert` binary as a server.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_trustyconvert");

/// Runs a client command of the binary, keeping its session state in `state_dir` and
/// ignoring any `TRUSTY_SERVER` of the environment.
pub fn run_client(args: &[&str], state_dir: &Path) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("TRUSTY_STATE_DIR", state_dir)
        .env_remove("TRUSTY_SERVER")
        .output()
        .unwrap()
}

/// A running `trustyconvert serve` and everything it has logged so far.
pub struct ServeProcess {
    child: Child,
    pub base: String,
    log: Arc<Mutex<Vec<String>>>,
    /// Tells when the log reader has read the last line (the server's stderr closed).
    log_done: mpsc::Receiver<()>,
}

impl ServeProcess {
    pub fn start(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(BIN);
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra);
        if !env.iter().any(|(k, _)| *k == "TRUSTY_BIND") {
            command.args(["--bind", "127.0.0.1:0"]);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let (done_tx, log_done) = mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on ").nth(1) {
                    let _ = tx.send(addr.trim().to_owned());
                }
                sink.lock().unwrap().push(line);
            }
            let _ = done_tx.send(());
        });
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "server did not report its address; log: {:?}",
                    log.lock().unwrap()
                )
            });
        Self {
            child,
            base,
            log,
            log_done,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The server process's peak resident memory so far, in KiB (Linux `VmHWM`).
    pub fn peak_memory_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    }

    /// The server process's current resident memory, in KiB (Linux `VmRSS`).
    pub fn memory_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub fn kill_hard(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM and returns the exit status and the whole log: every line the
    /// process wrote (the reader has reached the end of its stderr, however slow the
    /// machine).
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let status = wait_with_timeout(&mut self.child, Duration::from_secs(60));
        self.log_done
            .recv_timeout(Duration::from_secs(60))
            .expect("the server's stderr is read to its end");
        (status, self.log_text())
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            started.elapsed() < limit,
            "server did not stop within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
