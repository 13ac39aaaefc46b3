//! A 3-node nats-server cluster on loopback, started from the shipped configs
//! (`deploy/nats/node-{1,2,3}.conf`, which include `deploy/nats/cluster.conf`): the harness only
//! fills the `SB_NATS_*` variables an operator sets in the nodes' service units (ports, store
//! directories, routes). Faults are real: `kill -9`, a wiped store, a node cut off from its routes.

use crate::{
    StartError, file_tail, find_server, free_port, log_len, stop_gracefully, wait_ready,
    workspace_root,
};
use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Nodes of the cluster.
pub const NODES: usize = 3;

/// How long a node may take to accept clients, and the cluster to report healthy.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// One node: its ports are kept across restarts, so that clients and routes find it again.
#[derive(Debug)]
struct Node {
    client_port: u16,
    cluster_port: u16,
    http_port: u16,
    child: Option<Child>,
    /// Cut off: restarted with no routes on a route port that nobody dials.
    isolated: bool,
}

/// Three nats-servers forming the cluster `switchboard`, their stores under one temporary
/// directory. Killed when dropped.
#[derive(Debug)]
pub struct NatsCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    nodes: Vec<Node>,
}

impl NatsCluster {
    /// Starts the three nodes and waits until the cluster has a JetStream meta leader and every
    /// node reports healthy. Panics (never skips) when no suitable `nats-server` is found or the
    /// cluster does not form.
    pub fn start() -> Self {
        let bin = find_server();
        let dir = tempfile::Builder::new()
            .prefix("sb-nats-cluster-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        let fresh_nodes = || {
            (0..NODES)
                .map(|_| Node {
                    client_port: free_port(),
                    cluster_port: free_port(),
                    http_port: free_port(),
                    child: None,
                    isolated: false,
                })
                .collect()
        };
        let mut cluster = Self {
            bin,
            dir,
            nodes: fresh_nodes(),
        };
        // A port picked as free may be taken by another process before a node binds it; the
        // routes name every node's port, so the whole cluster starts again on other ports.
        let mut attempts = 0;
        'start: loop {
            attempts += 1;
            for i in 0..NODES {
                match cluster.spawn(i) {
                    Ok(child) => cluster.nodes[i].child = Some(child),
                    Err(StartError::PortTaken(tail)) if attempts < 5 => {
                        eprintln!(
                            "nats-server node {} found a port taken, starting the cluster on other ports:\n{tail}",
                            i + 1
                        );
                        for j in 0..NODES {
                            cluster.kill(j);
                            let _ = std::fs::remove_dir_all(cluster.store_dir(j));
                        }
                        cluster.nodes = fresh_nodes();
                        continue 'start;
                    }
                    Err(e) => panic!("nats-server node {} did not start: {e}", i + 1),
                }
            }
            break;
        }
        cluster.wait_healthy();
        cluster
    }

    /// `nats://127.0.0.1:<port>` of node `i` (0-based).
    pub fn url(&self, i: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[i].client_port)
    }

    /// The client URLs of every node, comma-separated (what `--nats` takes for a cluster).
    pub fn urls(&self) -> String {
        (0..NODES)
            .map(|i| self.url(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The node index of a server name (`sb-nats-<i+1>`, set in `node-<i+1>.conf`).
    pub fn node_of(&self, server_name: &str) -> Option<usize> {
        let n: usize = server_name.strip_prefix("sb-nats-")?.parse().ok()?;
        (1..=NODES).contains(&n).then(|| n - 1)
    }

    /// The JetStream store of node `i`.
    pub fn store_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("store-{}", i + 1))
    }

    /// Kills node `i` with SIGKILL (no flush, no goodbye to its peers).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node `i` again (after [`NatsCluster::kill`]) on its ports and store; returns once
    /// it accepts clients (not once it caught up: see [`NatsCluster::wait_healthy`]).
    pub fn start_node(&mut self, i: usize) {
        self.kill(i);
        let mut last_error = String::new();
        // The ports are ours but a killed server's sockets may linger for a moment.
        for _ in 0..50 {
            match self.spawn(i) {
                Ok(child) => {
                    self.nodes[i].child = Some(child);
                    return;
                }
                Err(e) => last_error = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("nats-server node {} did not start: {last_error}", i + 1);
    }

    /// `kill -9` of node `i`, its store deleted, and the node started empty: it rejoins and the
    /// stream's leader sends it the stream again.
    pub fn wipe(&mut self, i: usize) {
        self.kill(i);
        let store = self.store_dir(i);
        std::fs::remove_dir_all(&store)
            .unwrap_or_else(|e| panic!("cannot remove {}: {e}", store.display()));
        self.start_node(i);
    }

    /// Cuts node `i` off from the others: it is restarted with a route to nowhere, listening
    /// for routes on a port nobody dials, while it still accepts clients. Undone by [`NatsCluster::heal`].
    pub fn isolate(&mut self, i: usize) {
        self.kill(i);
        self.nodes[i].isolated = true;
        self.start_node(i);
    }

    /// Restarts an isolated node with its routes.
    pub fn heal(&mut self, i: usize) {
        self.kill(i);
        self.nodes[i].isolated = false;
        self.start_node(i);
    }

    /// Stops every node gracefully (SIGTERM, the store flushed) and starts them again.
    pub fn restart_all(&mut self) {
        for i in 0..NODES {
            self.stop(i);
        }
        for i in 0..NODES {
            self.start_node(i);
        }
        self.wait_healthy();
    }

    /// Stops node `i` gracefully, killing it when it does not exit within 10 s.
    pub fn stop(&mut self, i: usize) {
        let Some(child) = self.nodes[i].child.take() else {
            return;
        };
        stop_gracefully(&self.bin, child);
    }

    /// Waits until every running, connected node answers `/healthz` with 200 (JetStream
    /// enabled, the meta leader known, its streams current): after a restart, the node caught
    /// up. Panics with the nodes' logs after [`START_TIMEOUT`].
    pub fn wait_healthy(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        for (i, node) in self.nodes.iter().enumerate() {
            if node.child.is_none() || node.isolated {
                continue;
            }
            loop {
                let (status, body) = self.http_get(i, "/healthz");
                if status == 200 {
                    break;
                }
                if Instant::now() > deadline {
                    panic!(
                        "node {} not healthy within {START_TIMEOUT:?} ({status} {body})\n{}",
                        i + 1,
                        self.log_tail()
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// A GET on node `i`'s monitoring port: the status code (0 when unreachable) and the body.
    pub fn http_get(&self, i: usize, path: &str) -> (u16, String) {
        let port = self.nodes[i].http_port;
        let attempt = || -> std::io::Result<(u16, String)> {
            let mut stream = TcpStream::connect(("127.0.0.1", port))?;
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            write!(
                stream,
                "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            )?;
            let mut response = String::new();
            stream.read_to_string(&mut response)?;
            let status = response
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let body = response
                .split_once("\r\n\r\n")
                .map(|(_, b)| b.to_owned())
                .unwrap_or_default();
            Ok((status, body))
        };
        attempt().unwrap_or((0, String::new()))
    }

    /// The last lines each node logged, for failure messages.
    pub fn log_tail(&self) -> String {
        (0..NODES)
            .map(|i| {
                format!(
                    "--- node {} ---\n{}",
                    i + 1,
                    file_tail(&self.log_path(i), 15)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn log_path(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("node-{}.log", i + 1))
    }

    /// The `SB_NATS_*` variables of `deploy/nats/cluster.conf` for node `i`.
    fn env(&self, i: usize) -> Vec<(&'static str, String)> {
        let node = &self.nodes[i];
        let (cluster_port, routes) = if node.isolated {
            // A route port that no other node has in its routes, and one route to a port where
            // nobody listens (a clustered JetStream server refuses to start with no route).
            (
                free_port(),
                format!("[nats-route://127.0.0.1:{}]", free_port()),
            )
        } else {
            let routes = self
                .nodes
                .iter()
                .map(|n| format!("nats-route://127.0.0.1:{}", n.cluster_port))
                .collect::<Vec<_>>()
                .join(", ");
            (node.cluster_port, format!("[{routes}]"))
        };
        vec![
            ("SB_NATS_LISTEN", format!("127.0.0.1:{}", node.client_port)),
            ("SB_NATS_HTTP", format!("127.0.0.1:{}", node.http_port)),
            (
                "SB_NATS_CLUSTER_LISTEN",
                format!("127.0.0.1:{cluster_port}"),
            ),
            ("SB_NATS_ROUTES", routes),
            (
                "SB_NATS_STORE_DIR",
                self.store_dir(i).to_string_lossy().into_owned(),
            ),
        ]
    }

    fn spawn(&self, i: usize) -> Result<Child, StartError> {
        let config = workspace_root().join(format!("deploy/nats/node-{}.conf", i + 1));
        let log_path = self.log_path(i);
        let log_offset = log_len(&log_path);
        let open_error =
            |e: std::io::Error| StartError::Other(format!("cannot open the server log: {e}"));
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(open_error)?;
        let log_err = log.try_clone().map_err(open_error)?;
        let mut child = Command::new(&self.bin)
            .arg("-c")
            .arg(&config)
            .envs(self.env(i))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| StartError::Other(format!("cannot run {}: {e}", self.bin.display())))?;
        wait_ready(&mut child, &log_path, log_offset, START_TIMEOUT)?;
        Ok(child)
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..NODES {
            self.kill(i);
        }
    }
}
