//! The rehearsal on real addresses: each node in a Linux network namespace of its own, joined
//! through a router namespace, reaching its peers by host name; provider cuts are nftables
//! rules in the router.
//!
//! Layout for node N (a topology with `network = "namespaces"`): namespace `ol<tag>n<N>` holds
//! `eth0` with 10.77.N.2/24 and a default route to the router's 10.77.N.1 on its end of the
//! veth pair; every node listens on its own address (Raft 7100, client protocol 7200, operator
//! plane 7300, HTTPS 443) and is named `node<N>.outlast.test` in every namespace's hosts file
//! (`/etc/netns/<ns>/hosts`, which `ip netns exec` mounts over `/etc/hosts`). The supervisor
//! (`up` or `chaos`) and its tools run in the router namespace `ol<tag>r`, which reaches every
//! node directly: a cut is dropped in the router's forward hook, between nodes only, so clients
//! still reach a cut node and must get honest answers from it. `<tag>` comes from the state
//! directory's path, so a rehearsal left behind by a killed supervisor is removed by the next
//! one on the same directory.
//!
//! No link latency here: the kernel has no netem, and the loopback lab's link proxies are the
//! place for WAN delays. A latency fault is refused with that reason.
//!
//! Must never: touch the host's own namespace (no address, route or rule outside the
//! namespaces it creates), or leave them behind when it stops.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The environment variable that tells a re-executed supervisor it already runs inside the
/// router namespace (its value is that namespace's name).
pub const INSIDE_ENV: &str = "OUTLAST_NETNS_ROUTER";
/// The domain of the nodes' host names.
pub const DOMAIN: &str = "outlast.test";
/// The port of the nodes' public HTTPS.
pub const API_PORT: u16 = 443;

/// Node `id`'s address in its namespace.
pub fn node_ip(id: u64) -> IpAddr {
    assert!((1..=250).contains(&id));
    IpAddr::V4(Ipv4Addr::new(10, 77, id as u8, 2))
}

/// The router's address on node `id`'s link (the node's gateway).
fn gateway_ip(id: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 77, id as u8, 1))
}

/// Node `id`'s host name.
pub fn host_name(id: u64) -> String {
    format!("node{id}.{DOMAIN}")
}

/// The namespaces of one state directory.
#[derive(Clone, Debug)]
pub struct Namespaces {
    tag: String,
    ids: Vec<u64>,
}

impl Namespaces {
    /// The namespaces of the rehearsal whose state directory is `root` (named, not created).
    pub fn of(root: &Path, ids: &[u64]) -> Namespaces {
        let path = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        // FNV-1a: a short stable name from the path, not a secret.
        let hash = path
            .as_os_str()
            .as_encoded_bytes()
            .iter()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3));
        Namespaces { tag: format!("{:06x}", hash & 0xff_ffff), ids: ids.to_vec() }
    }

    /// The router's namespace, where the supervisor and its tools run.
    pub fn router(&self) -> String {
        format!("ol{}r", self.tag)
    }

    /// Node `id`'s namespace.
    pub fn node(&self, id: u64) -> String {
        format!("ol{}n{id}", self.tag)
    }

    /// Whether this process runs in the router namespace (a supervisor re-executed there).
    pub fn inside(&self) -> bool {
        std::env::var(INSIDE_ENV).is_ok_and(|name| name == self.router())
    }

    /// The command prefix that runs a program in node `id`'s namespace (`ip netns exec`
    /// replaces itself with the program, so the child's pid is the program's).
    pub fn exec_prefix(&self, id: u64) -> Vec<String> {
        vec!["ip".into(), "netns".into(), "exec".into(), self.node(id)]
    }

    fn all(&self) -> Vec<String> {
        let mut names: Vec<String> = self.ids.iter().map(|id| self.node(*id)).collect();
        names.push(self.router());
        names
    }

    fn hosts_dir(name: &str) -> PathBuf {
        Path::new("/etc/netns").join(name)
    }

    /// Creates the namespaces, links, addresses, routes and hosts files (removing a leftover
    /// rehearsal of the same directory first). Needs root, iproute2 and nftables.
    pub fn create(&self) -> Result<(), String> {
        for tool in ["ip", "nft"] {
            if Command::new(tool).arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
                return Err(format!("the namespace rehearsal needs `{tool}` (iproute2 and nftables) and root"));
            }
        }
        self.remove();
        let router = self.router();
        let mut hosts = String::from("127.0.0.1 localhost\n");
        for id in &self.ids {
            hosts.push_str(&format!("{} {}\n", node_ip(*id), host_name(*id)));
        }
        for name in self.all() {
            ip(&["netns", "add", &name])?;
            ip(&["-n", &name, "link", "set", "lo", "up"])?;
            let dir = Self::hosts_dir(&name);
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            std::fs::write(dir.join("hosts"), &hosts).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        for &id in &self.ids {
            let node = self.node(id);
            let peer = format!("n{id}");
            ip(&["-n", &node, "link", "add", "eth0", "type", "veth", "peer", "name", &peer, "netns", &router])?;
            ip(&["-n", &node, "addr", "add", &format!("{}/24", node_ip(id)), "dev", "eth0"])?;
            ip(&["-n", &router, "addr", "add", &format!("{}/24", gateway_ip(id)), "dev", &peer])?;
            ip(&["-n", &node, "link", "set", "eth0", "up"])?;
            ip(&["-n", &router, "link", "set", &peer, "up"])?;
            ip(&["-n", &node, "route", "add", "default", "via", &gateway_ip(id).to_string()])?;
        }
        run(Command::new("ip").args(["netns", "exec", &router, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]))
            .or_else(|_| {
                // Without procps: the same switch through /proc, inside the router.
                run(Command::new("ip").args([
                    "netns",
                    "exec",
                    &router,
                    "sh",
                    "-c",
                    "echo 1 > /proc/sys/net/ipv4/ip_forward",
                ]))
            })?;
        self.set_cuts(&BTreeSet::new())
    }

    /// Replaces the router's cut rules: packets from node `a` to node `b` are dropped for
    /// every `(a, b)` in `cuts` (directed; an empty set heals everything). One nftables
    /// transaction, so a change is never half applied.
    pub fn set_cuts(&self, cuts: &BTreeSet<(u64, u64)>) -> Result<(), String> {
        let mut rules = String::from(
            "table inet outlast\ndelete table inet outlast\ntable inet outlast {\n  chain forward {\n    \
             type filter hook forward priority 0; policy accept;\n",
        );
        for (a, b) in cuts {
            rules.push_str(&format!("    ip saddr {} ip daddr {} drop\n", node_ip(*a), node_ip(*b)));
        }
        rules.push_str("  }\n}\n");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.router(), "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("nft: {e}"))?;
        use std::io::Write;
        child.stdin.take().expect("stdin is piped").write_all(rules.as_bytes()).map_err(|e| format!("nft: {e}"))?;
        let output = child.wait_with_output().map_err(|e| format!("nft: {e}"))?;
        if !output.status.success() {
            return Err(format!("nft refused the cut rules: {}", String::from_utf8_lossy(&output.stderr).trim()));
        }
        Ok(())
    }

    /// Removes every namespace and hosts file of this rehearsal (deleting a namespace removes
    /// its links, addresses and rules with it). Idempotent.
    pub fn remove(&self) {
        let listed = Command::new("ip").args(["netns", "list"]).output();
        let prefix = format!("ol{}", self.tag);
        let existing: Vec<String> = listed
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .filter_map(|l| l.split_whitespace().next())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        for name in existing.iter().filter(|n| n.starts_with(&prefix)) {
            let _ = run(Command::new("ip").args(["netns", "del", name]));
        }
        for name in self.all() {
            let _ = std::fs::remove_dir_all(Self::hosts_dir(&name));
        }
    }

    /// Whether any namespace of this rehearsal exists.
    pub fn exist(&self) -> bool {
        let prefix = format!("ol{}", self.tag);
        Command::new("ip")
            .args(["netns", "list"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.starts_with(&prefix)))
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    run(Command::new("ip").args(args))
}

fn run(command: &mut Command) -> Result<(), String> {
    let output =
        command.stdout(Stdio::null()).stderr(Stdio::piped()).output().map_err(|e| format!("{command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{command:?}: {}", String::from_utf8_lossy(&output.stderr).trim()))
    }
}

/// Who makes and removes a rehearsal's namespaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// This run creates them, and removes them when the inner program exits (however it exits).
    Own,
    /// A running `up` owns them; this run only enters its router (`chaos --attach`, `status`).
    Visit,
}

/// Runs this same program, with the same arguments, inside the router namespace of the
/// rehearsal for `root`. SIGTERM and SIGINT are passed on, so an inner supervisor stops its
/// nodes cleanly. Returns the inner program's exit code.
pub async fn run_inside(root: &Path, ids: &[u64], ownership: Ownership) -> Result<i32, String> {
    use tokio::signal::unix::{signal, SignalKind};
    let namespaces = Namespaces::of(root, ids);
    struct Cleanup(Option<Namespaces>);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            if let Some(namespaces) = &self.0 {
                namespaces.remove();
            }
        }
    }
    let cleanup = match ownership {
        Ownership::Own => {
            namespaces.create()?;
            Cleanup(Some(namespaces.clone()))
        }
        Ownership::Visit if namespaces.exist() => Cleanup(None),
        Ownership::Visit => {
            return Err(format!("no rehearsal namespaces for {}: is `outlast up` running there?", root.display()))
        }
    };
    let binary = std::env::current_exe().map_err(|e| format!("own binary: {e}"))?;
    let mut child = tokio::process::Command::new("ip")
        .args(["netns", "exec", &namespaces.router()])
        .arg(&binary)
        .args(std::env::args_os().skip(1))
        .env(INSIDE_ENV, namespaces.router())
        .spawn()
        .map_err(|e| format!("cannot start the supervisor in {}: {e}", namespaces.router()))?;
    let mut terminate = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status.map_err(|e| e.to_string())?,
            _ = terminate.recv() => pass_on(&child, "TERM"),
            _ = interrupt.recv() => pass_on(&child, "INT"),
        }
    };
    drop(cleanup);
    Ok(status.code().unwrap_or(1))
}

fn pass_on(child: &tokio::process::Child, signal: &str) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status();
    }
}
