"""
TLS of the clients: noa-shipper pushing to an https:// server and
noa-logcli querying one. A small HTTPS server (Python's ssl module, a
self-signed certificate made by the openssl CLI for 127.0.0.1) stands in
for a Loki behind TLS: it records push bodies and answers the label API.

Cases: the shipper's tls_config.ca_file makes pushes succeed (every line
arrives, decoded from the snappy protobuf bodies); without it the
certificate is refused and nothing is accepted; insecure_skip_verify
accepts it; logcli's --ca-cert and --tls-skip-verify work and an unknown
certificate is an error with exit code 1.

Runs on the main thread plus the HTTPS server's thread.
"""

import http.server
import os
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import check  # noqa: E402


class Receiver(http.server.BaseHTTPRequestHandler):
    bodies = []
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        with Receiver.lock:
            Receiver.bodies.append(body)
        self.send_response(204)
        self.end_headers()

    def do_GET(self):
        body = b'{"status":"success","data":["job","tls_label"]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def make_cert(d):
    key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], capture_output=True, timeout=60)
    check(p.returncode == 0, "openssl: %s", p.stderr.decode(errors="replace"))
    return key, cert


def start_https(key, cert):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def pushed_lines():
    out = []
    with Receiver.lock:
        bodies = list(Receiver.bodies)
    for b in bodies:
        for st in H.decode_push_request(H.snappy_unblock(b)):
            out += [e.line for e in st.entries]
    return out


def run_shipper(d, url, tls, lines, expect):
    logs = os.path.join(d, "logs-%d" % len(os.listdir(d)))
    os.makedirs(logs)
    with open(os.path.join(logs, "a.log"), "w") as f:
        for ln in lines:
            f.write(ln + "\n")
    port = H.free_port()
    client = {"url": url + "/loki/api/v1/push", "batchwait": "100ms",
              "backoff_config": {"min_period": "100ms", "max_period": "200ms"}}
    if tls:
        client["tls_config"] = tls
    cfg = {"server": {"http_listen_address": "127.0.0.1", "http_listen_port": port,
                      "graceful_shutdown_timeout": "1s"},
           "positions": {"filename": os.path.join(logs, "positions.yaml")},
           "clients": [client],
           "scrape_configs": [{"job_name": "tls", "static_configs": [
               {"targets": ["localhost"], "labels": {"job": "tls", "__path__": logs + "/*.log"}}]}]}
    path = os.path.join(logs, "shipper.yaml")
    with open(path, "w") as f:
        f.write(H.to_yaml(cfg) + "\n")
    before = len(pushed_lines())
    log_path = logs + ".shipper.log"  # outside the tailed directory
    log = open(log_path, "wb")
    p = subprocess.Popen([os.path.join(H.BIN, "noa-shipper"), "-config.file=" + path],
                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if expect:
            H.wait_for(lambda: len(pushed_lines()) - before >= len(lines), 15, "lines over TLS")
            got = pushed_lines()[before:]
            check(sorted(got) == sorted(lines), "lines differ: %d got, %d sent; first %r", len(got),
                  len(lines), got[:3])
        else:
            time.sleep(2.0)
            check(len(pushed_lines()) == before, "a push was accepted with an unknown certificate")
            text = open(log_path, "rb").read().decode(errors="replace")
            check("certificate" in text.lower() or "ssl" in text.lower(),
                  "no certificate error logged:\n%s", text[-2000:])
    finally:
        p.terminate()
        p.wait(30)
        log.close()


def body(suite):
    d = H.make_tempdir("tls")
    key, cert = make_cert(d)
    srv = start_https(key, cert)
    url = "https://127.0.0.1:%d" % srv.server_address[1]
    try:
        with suite.case("shipper: tls_config.ca_file trusts the server"):
            run_shipper(d, url, {"ca_file": cert}, ["over tls %d" % i for i in range(50)], True)
        with suite.case("shipper: an unknown certificate is refused (nothing accepted)"):
            run_shipper(d, url, None, ["untrusted %d" % i for i in range(5)], False)
        with suite.case("shipper: insecure_skip_verify accepts it"):
            run_shipper(d, url, {"insecure_skip_verify": True}, ["insecure %d" % i for i in range(7)], True)
        exe = os.path.join(H.BIN, "noa-logcli")
        with suite.case("logcli: --ca-cert and --tls-skip-verify; unknown certificate fails"):
            p = subprocess.run([exe, "labels", "--addr", url, "--ca-cert", cert, "-q"],
                               capture_output=True, timeout=30)
            check(p.returncode == 0 and p.stdout == b"job\ntls_label\n", "--ca-cert: %r %r", p.stdout, p.stderr)
            p = subprocess.run([exe, "labels", "--addr", url, "--tls-skip-verify", "-q"],
                               capture_output=True, timeout=30)
            check(p.returncode == 0 and b"tls_label" in p.stdout, "--tls-skip-verify: %r %r", p.stdout, p.stderr)
            p = subprocess.run([exe, "labels", "--addr", url, "-q"], capture_output=True, timeout=30)
            check(p.returncode == 1, "an unknown certificate exited %d: %r", p.returncode, p.stderr)
    finally:
        srv.shutdown()


if __name__ == "__main__":
    H.main("test_tls", body)
