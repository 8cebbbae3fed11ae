"""
TLS of noa's own HTTP servers (server.http_tls_config). Certificates are
made at test time with the openssl CLI: a CA, a server certificate for
127.0.0.1 and a client certificate, both signed by the CA.

Cases: noa-server with TLS takes a push over https (Python's ssl +
http.client) and answers the query; curl --cacert reads /ready;
/metrics over https; the live tail over wss:// (the websocket client of
test_tail.py on an ssl-wrapped socket); plain HTTP sent to the TLS port
gets Go's "Client sent an HTTP request to an HTTPS server." 400 and the
server goes on, as it does after garbage bytes and an untrusting client;
graceful SIGTERM; a bad certificate path stops start-up naming the file,
and inline PEM (dskit's cert/key, not read by noa) is refused by both
programs rather than served as plain HTTP;
mutual TLS set with Loki's flags (-server.http-tls-*): without a client
certificate refused, with one accepted; noa-shipper's own server with TLS
answers /ready; noa-shipper pushing to the TLS noa-server with
tls_config.ca_file delivers every line; a loki_push_api receiver serves
https and a pushed line arrives; a receiver's missing certificate stops the
shipper, naming the file.

Runs on the main thread; starts two noa-servers and one noa-shipper on
free loopback ports.
"""

import http.client
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import check, entry, Stream  # noqa: E402
import test_tail as T  # noqa: E402

PLAIN_REPLY = b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"


def openssl(*args):
    p = subprocess.run(["openssl"] + list(args), capture_output=True, timeout=60)
    check(p.returncode == 0, "openssl %s: %s", " ".join(args), p.stderr.decode(errors="replace"))


def make_certs(d):
    """CA, server (127.0.0.1) and client certificates; returns a dict of paths."""
    c = {k: os.path.join(d, k) for k in ("ca.pem", "ca.key", "server.pem", "server.key",
                                         "client.pem", "client.key")}
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", c["ca.key"], "-out", c["ca.pem"], "-days", "2",
            "-subj", "/CN=noa test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, eku, san in (("server", "serverAuth", "IP:127.0.0.1,DNS:localhost"),
                           ("client", "clientAuth", "DNS:client")):
        csr = os.path.join(d, name + ".csr")
        ext = os.path.join(d, name + ".ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=%s\nsubjectAltName=%s\n"
                    "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n" % (eku, san))
        openssl("req", *ec, "-keyout", c[name + ".key"], "-out", csr, "-subj", "/CN=" + name)
        openssl("x509", "-req", "-in", csr, "-CA", c["ca.pem"], "-CAkey", c["ca.key"],
                "-CAcreateserial", "-out", c[name + ".pem"], "-days", "2", "-extfile", ext)
    return c


def client_ctx(certs, with_cert=False):
    ctx = ssl.create_default_context(cafile=certs["ca.pem"])
    if with_cert:
        ctx.load_cert_chain(certs["client.pem"], certs["client.key"])
    return ctx


class TLSServer(H.Server):
    """A noa-server spoken to over https."""

    ctx = None

    @property
    def url(self):
        return "https://%s:%d" % (self.host, self.port)

    def request(self, method, path, body=None, headers=None, params=None, timeout=30.0):
        if params:
            path = path + ("&" if "?" in path else "?") + urllib.parse.urlencode(params, doseq=True)
        conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.ctx)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            r = conn.getresponse()
            return H.Response(r.status, r.reason, r.getheaders(), r.read())
        finally:
            conn.close()

    def wait_ready(self, timeout=60.0):
        t0 = time.monotonic()
        last = None
        while time.monotonic() - t0 < timeout:
            if not self.alive():
                raise H.ServerDied("%s exited with %s before it was ready\n%s" % (
                    self.name, self.proc.returncode, self.tail()))
            try:
                r = self.get("/ready", timeout=2.0)
                last = r
                if r.status == 200:
                    return time.monotonic() - t0
            except (OSError, http.client.HTTPException) as e:
                last = e
            time.sleep(0.05)
        raise H.TestFailure("%s not ready over https after %.0fs (last: %r)\n%s" % (
            self.name, timeout, last, self.tail()))


class WSS(T.WS):
    """test_tail's websocket client over TLS."""

    def __init__(self, port, ctx):
        super().__init__(port)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="127.0.0.1")


def raw_exchange(port, data, timeout=5.0):
    """Sends bytes on a plain TCP connection; returns all bytes until EOF."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                d = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not d:
                break
            out += d
        return out
    finally:
        s.close()


def main_server_cases(suite, certs, tmp):
    port = H.free_port()
    tls = {"cert_file": certs["server.pem"], "key_file": certs["server.key"]}
    cfg = H.make_config(os.path.join(tmp, "data"), port, extra={"server": {"http_tls_config": tls}})
    srv = TLSServer("tls-server", cfg, workdir=tmp)
    srv.ctx = client_ctx(certs)
    now = H.now_ns()

    with suite.case("push over https, query back"):
        srv.start()
        s = Stream({"job": "tls"}, [entry(now - 30 * H.NS + i, "secret line %d" % i) for i in range(20)])
        H.push_ok(srv, [s], "snappy")
        H.push_ok(srv, [Stream({"job": "tls", "fmt": "json"}, [entry(now - 20 * H.NS, "json line")])],
                  "json")
        got = H.fetch_all(srv, '{job="tls"}', now - 60 * H.NS, now + 60 * H.NS)
        check(len(got) == 21, "query returned %d of 21 lines", len(got))
        check(sorted(g.line for g in got if g.line.startswith("secret")) ==
              sorted("secret line %d" % i for i in range(20)), "lines differ: %r", got[:3])

    with suite.case("curl --cacert reads /ready"):
        if shutil.which("curl"):
            p = subprocess.run(["curl", "-sS", "--cacert", certs["ca.pem"], srv.url + "/ready"],
                               capture_output=True, timeout=30)
            check(p.returncode == 0 and p.stdout == b"ready\n", "curl: %d %r %r", p.returncode,
                  p.stdout, p.stderr)
            # Without the CA, curl refuses the certificate (exit 60).
            p = subprocess.run(["curl", "-sS", srv.url + "/ready"], capture_output=True, timeout=30)
            check(p.returncode == 60, "curl without --cacert exited %d", p.returncode)

    with suite.case("/metrics over https"):
        r = srv.get("/metrics")
        check(r.status == 200, "status %d", r.status)
        check(b"# TYPE " in r.body, "no exposition: %s", H.short(r.body))

    with suite.case("live tail over wss://"):
        ws = WSS(port, srv.ctx)
        try:
            refused = ws.connect(T.tail_path('{job="wss"}', start=str(now - 5 * H.NS)))
            check(refused is None, "tail refused: %r", refused)
            t = H.now_ns()
            H.push_ok(srv, [Stream({"job": "wss"}, [entry(t + i, "tailed %d" % i) for i in range(5)])],
                      "json")
            got, _ = ws.entries_until(5, timeout=10)
            check(sorted(g[2] for g in got) == ["tailed %d" % i for i in range(5)], "tail got %r", got)
            # A client ping is answered through TLS as well.
            ws.send_frame(T.OP_PING, b"hi")
            deadline = time.monotonic() + 5
            pong = None
            while time.monotonic() < deadline:
                op, p = ws.recv_frame(5)
                if op == T.OP_PONG:
                    pong = p
                    break
            check(pong == b"hi", "pong %r", pong)
        finally:
            ws.close()

    with suite.case("plain HTTP to the TLS port: Go's 400, server goes on"):
        out = raw_exchange(port, b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
        check(out == PLAIN_REPLY, "plain HTTP got %r", out)
        out = raw_exchange(port, os.urandom(600))
        check(b"ready" not in out, "garbage got %r", out)
        # A client that does not trust the certificate gives up mid-handshake.
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                ssl.create_default_context().wrap_socket(s, server_hostname="127.0.0.1")
            check(False, "an untrusted certificate was accepted")
        except ssl.SSLCertVerificationError:
            pass
        r = srv.get("/ready")
        check(r.status == 200 and r.body == b"ready\n", "after bad clients: %d %r", r.status, r.body)
        check("TLS handshake error" in open(srv.log_path, errors="replace").read(),
              "no handshake error logged")

    with suite.case("keep-alive: several requests on one TLS connection"):
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=srv.ctx)
        try:
            for _ in range(5):
                conn.request("GET", "/ready")
                r = conn.getresponse()
                check(r.status == 200 and r.read() == b"ready\n", "status %d", r.status)
        finally:
            conn.close()
    return srv, now


def mtls_cases(suite, certs, tmp):
    port = H.free_port()
    cfg = H.make_config(os.path.join(tmp, "data-mtls"), port)
    os.makedirs(os.path.join(tmp, "mtls"), exist_ok=True)
    srv = TLSServer("mtls-server", cfg, workdir=os.path.join(tmp, "mtls"), args=[
        "-server.http-tls-cert-path=" + certs["server.pem"],
        "-server.http-tls-key-path=" + certs["server.key"],
        "-server.http-tls-client-auth=RequireAndVerifyClientCert",
        "-server.http-tls-ca-path=" + certs["ca.pem"]])
    srv.ctx = client_ctx(certs, with_cert=True)

    with suite.case("mutual TLS (flags): with a client certificate accepted"):
        srv.start()
        r = srv.get("/ready")
        check(r.status == 200 and r.body == b"ready\n", "%d %r", r.status, r.body)

    with suite.case("mutual TLS: without a client certificate refused"):
        refused = False
        try:
            conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10,
                                               context=client_ctx(certs))
            conn.request("GET", "/ready")
            conn.getresponse().read()
        except (ssl.SSLError, OSError, http.client.HTTPException):
            refused = True
        check(refused, "a client without a certificate was served")
        if shutil.which("curl"):
            p = subprocess.run(["curl", "-sS", "--cacert", certs["ca.pem"], srv.url + "/ready"],
                               capture_output=True, timeout=30)
            check(p.returncode != 0, "curl without a client certificate succeeded: %r", p.stdout)
            p = subprocess.run(["curl", "-sS", "--cacert", certs["ca.pem"], "--cert",
                                certs["client.pem"], "--key", certs["client.key"],
                                srv.url + "/ready"], capture_output=True, timeout=30)
            check(p.returncode == 0 and p.stdout == b"ready\n", "curl with a client certificate: "
                  "%d %r %r", p.returncode, p.stdout, p.stderr)
        r = srv.get("/ready")
        check(r.status == 200, "server stopped answering: %d", r.status)

    with suite.case("mutual TLS: graceful SIGTERM"):
        srv.stop()


def bad_config_cases(suite, certs, tmp):
    with suite.case("a missing cert_file stops start-up, naming the file"):
        missing = os.path.join(tmp, "nope.pem")
        cfg_path = os.path.join(tmp, "bad.yaml")
        cfg = H.make_config(os.path.join(tmp, "data-bad"), H.free_port(), extra={
            "server": {"http_tls_config": {"cert_file": missing, "key_file": certs["server.key"]}}})
        with open(cfg_path, "w") as f:
            f.write(H.to_yaml(cfg) + "\n")
        rc, out, err = H.run_expect_exit([os.path.join(H.BIN, "noa-server"),
                                          "-config.file=" + cfg_path])
        check(rc != 0, "exit code %d", rc)
        check(missing in out + err, "the file is not named:\n%s%s", out, err)

    with suite.case("an unknown client_auth_type is refused"):
        cfg["server"]["http_tls_config"] = {"cert_file": certs["server.pem"],
                                            "key_file": certs["server.key"],
                                            "client_auth_type": "Sometimes"}
        with open(cfg_path, "w") as f:
            f.write(H.to_yaml(cfg) + "\n")
        rc, out, err = H.run_expect_exit([os.path.join(H.BIN, "noa-server"),
                                          "-config.file=" + cfg_path])
        check(rc != 0 and "Sometimes" in out + err, "exit %d:\n%s%s", rc, out, err)

    with suite.case("inline PEM (cert/key) is refused, not served as plain HTTP"):
        pem = open(certs["server.pem"]).read()
        cfg["server"]["http_tls_config"] = {"cert": pem, "key_file": certs["server.key"]}
        with open(cfg_path, "w") as f:
            f.write(H.to_yaml(cfg) + "\n")
        rc, out, err = H.run_expect_exit([os.path.join(H.BIN, "noa-server"),
                                          "-config.file=" + cfg_path])
        check(rc != 0 and "inline cert" in out + err, "noa-server exit %d:\n%s%s", rc, out, err)
        shipper_cfg = {"server": {"http_listen_address": "127.0.0.1",
                                  "http_listen_port": H.free_port(),
                                  "http_tls_config": {"cert": pem,
                                                      "key_file": certs["server.key"]}},
                       "positions": {"filename": os.path.join(tmp, "pos-inline.yaml")},
                       "clients": [{"url": "http://127.0.0.1:1/loki/api/v1/push"}],
                       "scrape_configs": []}
        sp = os.path.join(tmp, "shipper-inline.yaml")
        with open(sp, "w") as f:
            f.write(H.to_yaml(shipper_cfg) + "\n")
        rc, out, err = H.run_expect_exit([os.path.join(H.BIN, "noa-shipper"), "-config.file=" + sp])
        check(rc != 0 and "inline PEM" in out + err, "noa-shipper exit %d:\n%s%s", rc, out, err)


def shipper_cases(suite, certs, tmp, srv, now):
    logs = os.path.join(tmp, "shipper-logs")
    os.makedirs(logs)
    lines = ["shipped over tls %d" % i for i in range(200)]
    with open(os.path.join(logs, "a.log"), "w") as f:
        for ln in lines:
            f.write(ln + "\n")
    port = H.free_port()
    cfg = {"server": {"http_listen_address": "127.0.0.1", "http_listen_port": port,
                      "graceful_shutdown_timeout": "1s",
                      "http_tls_config": {"cert_file": certs["server.pem"],
                                          "key_file": certs["server.key"]}},
           "positions": {"filename": os.path.join(tmp, "positions.yaml")},
           "clients": [{"url": srv.url + "/loki/api/v1/push", "batchwait": "100ms",
                        "tls_config": {"ca_file": certs["ca.pem"]},
                        "backoff_config": {"min_period": "100ms", "max_period": "200ms"}}],
           "scrape_configs": [{"job_name": "shipped", "static_configs": [
               {"targets": ["localhost"], "labels": {"job": "shipped", "__path__": logs + "/*.log"}}]}]}
    path = os.path.join(tmp, "shipper.yaml")
    with open(path, "w") as f:
        f.write(H.to_yaml(cfg) + "\n")
    log_path = os.path.join(tmp, "shipper.log")
    log = open(log_path, "wb")
    cmd = [os.path.join(H.BIN, "noa-shipper"), "-config.file=" + path]
    if shutil.which("setpriv"):
        cmd = ["setpriv", "--pdeathsig", "KILL", "--"] + cmd
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    shipper = TLSServer("shipper-tls", config_path=path, workdir=tmp, port=port)
    shipper.ctx = client_ctx(certs)
    try:
        with suite.case("noa-shipper's own server answers /ready over https"):
            def ready():
                try:
                    return shipper.get("/ready", timeout=2).status == 200
                except (OSError, http.client.HTTPException):
                    return False
            H.wait_for(ready, 30, "shipper /ready over https")
            out = raw_exchange(port, b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
            check(out == PLAIN_REPLY, "plain HTTP to the shipper got %r", out)

        with suite.case("noa-shipper pushes to the TLS noa-server: every line arrives"):
            def count():
                return len(H.fetch_all(srv, '{job="shipped"}', now - 3600 * H.NS,
                                       H.now_ns() + 60 * H.NS))
            H.wait_for(lambda: count() >= len(lines), 30, "shipped lines")
            check(count() == len(lines), "%d lines, want %d", count(), len(lines))
    finally:
        p.terminate()
        try:
            rc = p.wait(30)
        finally:
            log.close()
    with suite.case("noa-shipper with TLS stops cleanly"):
        check(rc == 0, "noa-shipper exited %d:\n%s", rc,
              open(log_path, errors="replace").read()[-3000:])

    with suite.case("noa-shipper's loki_push_api receiver over https: a pushed line arrives"):
        pport = H.free_port()
        pcfg = dict(cfg)
        pcfg["server"] = {"http_listen_address": "127.0.0.1", "http_listen_port": H.free_port()}
        pcfg["positions"] = {"filename": os.path.join(tmp, "positions-push.yaml")}
        pcfg["scrape_configs"] = [{"job_name": "push", "loki_push_api": {
            "labels": {"job": "pushtls"},
            "server": {"http_listen_address": "127.0.0.1", "http_listen_port": pport,
                       "http_tls_config": {"cert_file": certs["server.pem"],
                                           "key_file": certs["server.key"]}}}}]
        ppath = os.path.join(tmp, "shipper-push-tls.yaml")
        with open(ppath, "w") as f:
            f.write(H.to_yaml(pcfg) + "\n")
        plog = open(os.path.join(tmp, "shipper-push.log"), "wb")
        cmd = [os.path.join(H.BIN, "noa-shipper"), "-config.file=" + ppath]
        if shutil.which("setpriv"):
            cmd = ["setpriv", "--pdeathsig", "KILL", "--"] + cmd
        pp = subprocess.Popen(cmd, stdout=plog, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            def https(method, path, body=None, headers=None):
                c = http.client.HTTPSConnection("127.0.0.1", pport, timeout=10, context=client_ctx(certs))
                try:
                    c.request(method, path, body=body, headers=headers or {})
                    r = c.getresponse()
                    return r.status, r.read()
                finally:
                    c.close()

            def ready():
                try:
                    return https("GET", "/ready")[0] == 200
                except (OSError, http.client.HTTPException):
                    return False
            H.wait_for(ready, 30, "push receiver /ready over https")
            out = raw_exchange(pport, b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
            check(out == PLAIN_REPLY, "plain HTTP to the push receiver got %r", out)
            body = ('{"streams":[{"stream":{"src":"app"},"values":[["%d","pushed through tls"]]}]}'
                    % (H.now_ns() - H.NS)).encode()
            st, rb = https("POST", "/loki/api/v1/push", body, {"Content-Type": "application/json"})
            check(st == 204, "push over https answered %d: %r", st, rb[:300])
            got = H.fetch_all(srv, '{job="pushtls"}', now - 3600 * H.NS, H.now_ns() + 60 * H.NS)
            check([e[1] if isinstance(e, (list, tuple)) else e for e in got] != [] and len(got) == 1,
                  "the pushed line arrived %d times", len(got))
        finally:
            pp.terminate()
            try:
                prc = pp.wait(30)
            finally:
                plog.close()
        check(prc == 0, "noa-shipper with a TLS push receiver exited %d", prc)

    with suite.case("a push receiver's missing certificate stops noa-shipper, naming the file"):
        bad = dict(pcfg)
        bad["scrape_configs"] = [{"job_name": "push", "loki_push_api": {"server": {
            "http_listen_address": "127.0.0.1", "http_listen_port": H.free_port(),
            "http_tls_config": {"cert_file": os.path.join(tmp, "missing.pem"),
                                "key_file": certs["server.key"]}}}}]
        bad_path = os.path.join(tmp, "shipper-push-badtls.yaml")
        with open(bad_path, "w") as f:
            f.write(H.to_yaml(bad) + "\n")
        code, out, err = H.run_expect_exit([os.path.join(H.BIN, "noa-shipper"),
                                            "-config.file=" + bad_path])
        check(code != 0 and "missing.pem" in out + err, "exit %d:\n%s%s", code, out, err)


def body(suite):
    tmp = H.make_tempdir("server_tls")
    certs = make_certs(tmp)
    srv, now = main_server_cases(suite, certs, tmp)
    shipper_cases(suite, certs, tmp, srv, now)
    with suite.case("graceful SIGTERM of the TLS server"):
        srv.stop()
    mtls_cases(suite, certs, tmp)
    bad_config_cases(suite, certs, tmp)


if __name__ == "__main__":
    H.main("test_server_tls", body)
