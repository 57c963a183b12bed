//! What the benchmark drivers share: starting a server and reading its address,
//! stopping it however a run ends, and their settings from the environment.

pub mod process {
    //! Servers started by a benchmark, stopped (by PID) when dropped.

    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    /// A started server process, stopped (by PID) when dropped.
    pub struct Running {
        /// The process.
        pub child: Child,
        /// `http://127.0.0.1:PORT`, as it reported (empty for processes that do not).
        pub base: String,
    }

    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Starts `command` and waits (at most a minute) for the `listening on ADDRESS`
    /// line it prints, on standard output or error.
    pub fn start(mut command: Command) -> Running {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts");
        // Ours logs to stderr, the baselines print to stdout: read both for the address.
        let (tx, rx) = std::sync::mpsc::channel();
        let outputs: Vec<Box<dyn std::io::Read + Send>> = vec![
            Box::new(child.stdout.take().unwrap()),
            Box::new(child.stderr.take().unwrap()),
        ];
        for output in outputs {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(output).lines().map_while(Result::ok) {
                    if let Some(address) = line.split("listening on ").nth(1) {
                        let _ = tx.send(address.trim().to_owned());
                    }
                }
            });
        }
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server reports its address");
        Running { child, base }
    }

    /// A setting from the environment, or `default`.
    pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
        std::env::var(name)
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(default)
    }

    /// A port free on loopback now.
    pub fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }
}
