//! Helpers for tests that run `outlast up`: start it and read what it prints, stop it, and
//! talk to its control socket.
#![allow(dead_code)]

pub mod webdriver;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `outlast up` and what it printed.
pub struct Up {
    /// The `up` process (taken by `stop`).
    child: Option<Child>,
    /// Demo users: (name, API key, secret).
    pub users: Vec<(String, String, String)>,
    /// Nodes: (id, provider).
    pub nodes: Vec<(u64, String)>,
    /// Every line printed up to `up: ready`.
    pub lines: Vec<String>,
}

impl Up {
    /// Stops `up` with SIGINT and waits (bounded) for a clean exit.
    pub fn stop(mut self) {
        if let Some(child) = self.child.take() {
            interrupt(child);
        }
    }

    /// The API key and secret of demo user `name`.
    pub fn user(&self, name: &str) -> (String, String) {
        let (_, key, secret) = self.users.iter().find(|(n, _, _)| n == name).expect("a demo user");
        (key.clone(), secret.clone())
    }
}

/// Starts `outlast up` on `dir` and waits (bounded) for `up: ready`.
pub fn up(dir: &std::path::Path) -> Up {
    up_with(dir, None)
}

/// `up` without the lab chain (anvil is named where there is none, so `up` runs without one):
/// for a test that needs the cluster to go quiet once its own load stops, which custody's
/// checkpoint, moved through the log as blocks arrive, never lets it.
pub fn up_without_chain(dir: &std::path::Path) -> Up {
    start_up(dir, None, &[("OUTLAST_ANVIL", "/nonexistent/anvil")])
}

/// `up` with the topology file `topology` (the built-in one if `None`).
pub fn up_with(dir: &std::path::Path, topology: Option<&std::path::Path>) -> Up {
    start_up(dir, topology, &[])
}

fn start_up(dir: &std::path::Path, topology: Option<&std::path::Path>, env: &[(&str, &str)]) -> Up {
    let mut command = Command::new(env!("CARGO_BIN_EXE_outlast"));
    command.args(["up", "--dir"]).arg(dir).envs(env.iter().copied());
    if let Some(topology) = topology {
        command.arg("--topology").arg(topology);
    }
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut users, mut nodes, mut lines) = (Vec::new(), Vec::new(), Vec::new());
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            lines.push(line.clone());
            let words: Vec<&str> = line.split_whitespace().collect();
            // "  alice  account 1  apiKey KEY  secret SECRET"
            if let [name, "account", _, "apiKey", key, "secret", secret] = words[..] {
                users.push((name.to_string(), key.to_string(), secret.to_string()));
            }
            // "  node 1  aws  us-east-1  ..."
            if let ["node", id, provider, ..] = words[..] {
                if let Ok(id) = id.parse() {
                    nodes.push((id, provider.to_string()));
                }
            }
            if line == "up: ready" {
                let _ = tx.send((users.clone(), nodes.clone(), lines.clone()));
            }
        }
    });
    let (users, nodes, lines) = rx.recv_timeout(Duration::from_secs(120)).expect("`up: ready` within two minutes");
    Up { child: Some(child), users, nodes, lines }
}

impl Drop for Up {
    /// A test that fails midway still stops its cluster (the ports are fixed).
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-INT").arg(child.id().to_string()).status();
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while std::time::Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
        }
    }
}

/// Stops `up` with SIGINT and waits (bounded) for a clean exit.
pub fn interrupt(mut child: Child) {
    Command::new("kill").arg("-INT").arg(child.id().to_string()).status().unwrap();
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "up exits cleanly: {status}");
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "up did not stop after SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One request line to `up`'s control socket; its reply.
pub fn control(socket: &std::path::Path, line: &str) -> serde_json::Value {
    use std::io::Write;
    let mut stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    stream.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply).unwrap();
    serde_json::from_str(&reply).unwrap()
}
