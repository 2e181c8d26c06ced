"""A local Outlast cluster for scripts: real `outlast node` processes on loopback.

Writes one configuration per node into a temporary directory (free ports, fresh secrets),
starts the processes, waits for each to print `ready`, and kills them on exit. The operator
helpers create assets, markets, accounts, keys and deposits through the operator API.
"""

import json
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

PROVIDERS = [("aws", "us-east-1"), ("gcp", "eu-west-1"), ("azure", "ap-northeast-1")]


# Ports come from below Linux's ephemeral range (32768-60999), as in outlast_lab::processes: a
# port the kernel picked is one it may also pick as the source port of a starting node's
# outgoing connection before the node binds it.
PORTS = range(20_000, 32_000)
_next_port = [os.getpid() * 7_919 % len(PORTS)]


def free_port():
    for _ in PORTS:
        port = PORTS.start + _next_port[0] % len(PORTS)
        _next_port[0] += 1
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


class Cluster:
    def __init__(self, binary, nodes=3):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="outlast-ccxt-")
        self.token = secrets.token_hex(24)
        with open(os.path.join(self.dir, "api.key"), "w") as f:
            f.write(secrets.token_hex(32))
        with open(os.path.join(self.dir, "operator.token"), "w") as f:
            f.write(self.token)
        self.peers = []
        for i in range(1, nodes + 1):
            provider, region = PROVIDERS[(i - 1) % len(PROVIDERS)]
            self.peers.append({
                "id": i, "raft": f"127.0.0.1:{free_port()}", "client": f"127.0.0.1:{free_port()}",
                "api": f"127.0.0.1:{free_port()}", "provider": provider, "region": region,
            })
        self.procs = {}

    def config(self, peer):
        lines = [
            f'id = {peer["id"]}', f'data_dir = "{self.dir}/n{peer["id"]}"',
            f'raft_addr = "{peer["raft"]}"', f'client_addr = "{peer["client"]}"',
            f'provider = "{peer["provider"]}"', f'region = "{peer["region"]}"', f'zone = "{peer["region"]}-a"',
            f'api_addr = "{peer["api"]}"', f'api_kek_file = "{self.dir}/api.key"',
            f'operator_token_file = "{self.dir}/operator.token"',
        ]
        for p in self.peers:
            lines += [
                "[[peers]]", f'id = {p["id"]}', f'raft_addr = "{p["raft"]}"', f'client_addr = "{p["client"]}"',
                f'public_url = "http://{p["api"]}"', f'provider = "{p["provider"]}"', f'region = "{p["region"]}"',
                f'zone = "{p["region"]}-a"',
            ]
        path = os.path.join(self.dir, f"node{peer['id']}.toml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start(self, deadline_s=20):
        for peer in self.peers:
            args = [self.binary, "node", "--config", self.config(peer)]
            if peer["id"] == 1:
                args.append("--init")
            log = open(os.path.join(self.dir, f"node{peer['id']}.log"), "w")
            self.procs[peer["id"]] = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
        for node_id, proc in self.procs.items():
            line = proc.stdout.readline()
            assert line.startswith("ready"), f"node {node_id} did not start: {line!r}"
        self.wait(lambda: self.leader() is not None, deadline_s, "a leader")

    def url(self, node_id):
        return "http://" + self.peers[node_id - 1]["api"]

    def kill(self, node_id):
        proc = self.procs.pop(node_id)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop(self):
        for proc in self.procs.values():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        self.procs.clear()

    @staticmethod
    def wait(condition, deadline_s, what):
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            try:
                if condition():
                    return
            except (OSError, urllib.error.URLError, AssertionError):
                pass
            time.sleep(0.05)
        raise AssertionError(f"timed out after {deadline_s}s waiting for {what}")

    def leader(self):
        for node_id in self.procs:
            try:
                status = self.operator(node_id, "GET", "/operator/v1/cluster")
                if status.get("leader"):
                    return status["leader"]["id"]
            except (OSError, urllib.error.URLError):
                continue
        return None

    def operator(self, node_id, method, path, **params):
        query = urllib.parse.urlencode(params)
        request = urllib.request.Request(
            self.url(node_id) + path + ("?" + query if query else ""), method=method,
            headers={"Authorization": "Bearer " + self.token},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
