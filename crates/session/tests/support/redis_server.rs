//! Real `redis-server` processes for tests: one node, or a three-master cluster, on
//! free loopback ports, in a temporary directory, stopped by PID when dropped.
//! `scripts/setup-redis.sh` installs `redis-server` (the test command runs it).
#![allow(dead_code)] // each test binary uses a different subset

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port whose cluster-bus port (+10000) is free too.
fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// One `redis-server` process.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    cluster: bool,
    /// TLS only (certificates made by `openssl` in `dir`) with this password.
    tls_password: Option<String>,
}

impl RedisServer {
    /// A standalone server, no persistence.
    pub fn start() -> Self {
        Self::spawn(free_port(), false)
    }

    fn spawn(port: u16, cluster: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Self {
            child: None,
            port,
            dir,
            cluster,
            tls_password: None,
        };
        server.launch();
        server
    }

    /// A server that speaks only TLS and requires `password`. Its certificate is
    /// signed by a CA made here: [`RedisServer::ca_file`] (give it to clients as
    /// `SSL_CERT_FILE`).
    pub fn start_tls(password: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        make_certificates(dir.path());
        let mut server = Self {
            child: None,
            port: free_port(),
            dir,
            cluster: false,
            tls_password: Some(password.to_owned()),
        };
        server.launch();
        server
    }

    /// The CA certificate that signed a TLS server's certificate.
    pub fn ca_file(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn launch(&mut self) {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--protected-mode", "no"])
            .arg("--dir")
            .arg(self.dir.path());
        if self.cluster {
            // Redis's default node timeout: a node a loaded machine leaves unscheduled
            // for a few seconds is not declared failed (which would take the whole
            // cluster down; nothing here tests failover).
            command.args([
                "--cluster-enabled",
                "yes",
                "--cluster-node-timeout",
                "15000",
            ]);
        }
        if let Some(password) = &self.tls_password {
            let file = |name: &str| self.dir.path().join(name).display().to_string();
            command
                .args(["--port", "0", "--tls-port", &self.port.to_string()])
                .args(["--tls-cert-file", &file("server.pem")])
                .args(["--tls-key-file", &file("server.key")])
                .args(["--tls-ca-cert-file", &file("ca.pem")])
                .args(["--tls-auth-clients", "no"])
                .args(["--requirepass", password]);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot start redis-server ({error}); run scripts/setup-redis.sh")
            });
        self.child = Some(child);
        if self.tls_password.is_some() {
            let port = self.port;
            wait_until(READY_WITHIN, || {
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            });
        } else {
            wait_until(READY_WITHIN, || self.query(&["PING"]).is_ok());
        }
    }

    /// `redis://127.0.0.1:PORT`, or `rediss://:PASSWORD@127.0.0.1:PORT` for TLS.
    pub fn url(&self) -> String {
        match &self.tls_password {
            Some(password) => format!("rediss://:{password}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// Runs one command on this node.
    pub fn query(&self, args: &[&str]) -> redis::RedisResult<redis::Value> {
        let client = redis::Client::open(self.url())?;
        let mut connection = client.get_connection_with_timeout(Duration::from_secs(2))?;
        let mut command = redis::cmd(args[0]);
        for arg in &args[1..] {
            command.arg(*arg);
        }
        command.query(&mut connection)
    }

    /// A command's answer as text, if it answers text.
    pub fn text(&self, args: &[&str]) -> Option<String> {
        match self.query(args).ok()? {
            redis::Value::BulkString(bytes) => String::from_utf8(bytes).ok(),
            redis::Value::VerbatimString { text, .. } => Some(text),
            redis::Value::SimpleString(text) => Some(text),
            _ => None,
        }
    }

    /// `INFO section` as text.
    pub fn info(&self, section: &str) -> String {
        self.text(&["INFO", section]).expect("INFO answers text")
    }

    /// Calls of `command` so far, from `INFO commandstats`.
    pub fn command_calls(&self, command: &str) -> u64 {
        let prefix = format!("cmdstat_{command}:calls=");
        self.info("commandstats")
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .map(|rest| rest.split(',').next().unwrap().parse().unwrap())
            .unwrap_or(0)
    }

    /// Every command's calls so far.
    pub fn all_command_calls(&self) -> std::collections::BTreeMap<String, u64> {
        self.info("commandstats")
            .lines()
            .filter_map(|line| {
                let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(":calls=")?;
                Some((name.to_owned(), rest.split(',').next()?.parse().ok()?))
            })
            .collect()
    }

    /// Stops the process (SIGKILL, by PID) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the process (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused process run again (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let status = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(status.success());
    }

    /// Starts it again on the same port (empty: nothing is persisted).
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Three masters, no replicas, all 16384 slots assigned.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| RedisServer::spawn(free_port(), true))
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let status = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli runs");
        assert!(status.success(), "redis-cli --cluster create failed");
        wait_until(READY_WITHIN, || {
            nodes.iter().all(|node| {
                node.text(&["CLUSTER", "INFO"])
                    .is_some_and(|info| info.contains("cluster_state:ok"))
            })
        });
        Self { nodes }
    }

    /// `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }
}

/// A CA, and a server certificate for 127.0.0.1 signed by it, made with `openssl`.
fn make_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl runs (scripts/setup-redis.sh installs it)");
        assert!(status.success(), "openssl {args:?} failed");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    ]);
}

/// How long a server or cluster may take to become ready: far past what any machine
/// needs (the wait ends as soon as it is ready), so only one that never starts fails.
const READY_WITHIN: Duration = Duration::from_secs(60);

fn wait_until(limit: Duration, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < limit, "redis did not become ready");
        std::thread::sleep(Duration::from_millis(50));
    }
}
