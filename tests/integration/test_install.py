"""
`make install` as an operator sees it: runs the install of the build this
test was started for (NOA_BIN's parent directory holds the CMake build) into
temporary DESTDIRs, without rebuilding, and checks what lands there.

Cases: the installed tree with PREFIX=/usr (programs, /etc/noa configs and
rules identical to packaging/ and config/rules/, units, sysusers.d,
tmpfiles.d, share/noa, share/doc/noa; nothing outside usr/ and etc/); the
units' ExecStart naming the installed binaries and config, and their
hardening; `systemd-analyze verify` and its offline security score (skipped
with a message where systemd-analyze cannot run); systemd-sysusers and
systemd-tmpfiles applied to a scratch root (skipped without root); the
installed binaries' versions; the shipper's documented flags being the
ones it takes; the installed configs passing -config.verify
and -check-syntax (and a broken copy failing); the installed noa-server,
started with the installed config (state moved to a temp dir by flags) and
the installed rules, becoming ready and loading every shipped rule group;
a changed /etc/noa file kept on re-install with the new default beside it
as .new; PREFIX=/usr/local putting the configuration under
/usr/local/etc/noa and the units following; `make uninstall` removing the
programs but keeping the configuration.

The build's install_manifest.txt (what `make uninstall` reads) is put back
as it was. Runs on the main thread; the server listens on a free loopback
port and is stopped at the end; temp dirs are removed when every case
passed.
"""

import filecmp
import glob
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import check  # noqa: E402

SRC = H.SRC
BUILD = os.path.dirname(os.path.abspath(H.BIN))
MANIFEST = os.path.join(BUILD, "install_manifest.txt")
PROGRAMS = ("noa-server", "noa-shipper", "noa-logcli")
UNITS = ("noa-server.service", "noa-shipper.service")


def run(cmd, env=None, timeout=120, cwd=None):
    """Runs a command that must exit by itself; returns (rc, stdout+stderr).
    The variables of a `make test` above us (its jobserver, its command-line
    variables) are not passed on: the make run here is a separate one."""
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "DESTDIR")}
    full_env.update(env or {})
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, env=full_env, timeout=timeout, cwd=cwd)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def install(destdir, prefix):
    rc, out = run(["cmake", "--install", BUILD, "--prefix", prefix], env={"DESTDIR": destdir})
    check(rc == 0, "cmake --install --prefix %s failed (%d):\n%s", prefix, rc, H.short(out, 3000))
    return out


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def unit_keys(path):
    """The [Service] and [Unit] settings of a unit file: key -> list of
    values (a key may repeat, as SystemCallFilter does)."""
    keys = {}
    for line in read(path).splitlines():
        line = line.strip()
        if not line or line[0] in "#;[":
            continue
        k, _, v = line.partition("=")
        keys.setdefault(k.strip(), []).append(v.strip())
    return keys


def shipped_rule_groups():
    """Group names in config/rules/*.yaml (a '- name:' under groups)."""
    names = []
    for path in sorted(glob.glob(os.path.join(SRC, "config", "rules", "*.yaml"))):
        names += re.findall(r"^\s*-\s+name:\s*['\"]?([^'\"\n]+?)['\"]?\s*$", read(path), re.M)
    return names


def tree_case(suite, root):
    with suite.case("PREFIX=/usr: the installed tree"):
        for p in PROGRAMS:
            path = os.path.join(root, "usr/bin", p)
            check(os.path.isfile(path) and os.access(path, os.X_OK), "%s missing or not executable", path)
        for name in ("noa-server.yaml", "noa-shipper.yaml"):
            got = os.path.join(root, "etc/noa", name)
            check(os.path.isfile(got), "%s missing", got)
            check(filecmp.cmp(got, os.path.join(SRC, "packaging", name), shallow=False),
                  "%s differs from packaging/%s", got, name)
            check(os.stat(got).st_mode & 0o777 == 0o644, "%s mode %o", got, os.stat(got).st_mode & 0o777)
            check(os.path.isfile(os.path.join(root, "usr/share/noa/examples", name)),
                  "pristine copy of %s missing from share/noa/examples", name)
        rules = sorted(glob.glob(os.path.join(SRC, "config", "rules", "*.yaml")))
        check(rules, "no config/rules/*.yaml in the source tree")
        for r in rules:
            got = os.path.join(root, "etc/noa/rules/fake", os.path.basename(r))
            check(os.path.isfile(got) and filecmp.cmp(got, r, shallow=False), "%s missing or differs", got)
        for u in UNITS:
            check(os.path.isfile(os.path.join(root, "usr/lib/systemd/system", u)), "unit %s missing", u)
        for f, src in (("usr/lib/sysusers.d/noa.conf", "packaging/sysusers.d/noa.conf"),
                       ("usr/lib/tmpfiles.d/noa.conf", "packaging/tmpfiles.d/noa.conf")):
            check(filecmp.cmp(os.path.join(root, f), os.path.join(SRC, src), shallow=False), "%s differs", f)
        # Dashboards, Prometheus rules and docs: whatever the tree holds.
        for pattern, dest in (("config/grafana/*.json", "usr/share/noa/grafana"),
                              ("config/prometheus/*.yaml", "usr/share/noa/prometheus"),
                              ("docs/*.md", "usr/share/doc/noa")):
            for f in glob.glob(os.path.join(SRC, pattern)):
                got = os.path.join(root, dest, os.path.basename(f))
                if f.endswith(".test.yaml"):
                    # promtool tests would break a rule_files glob over the directory
                    check(not os.path.exists(got), "%s installed among the alert rules", got)
                    continue
                check(os.path.isfile(got), "%s not installed as %s", f, got)
        for doc in ("install.md", "shipper-configuration.md", "configuration.md"):
            check(os.path.isfile(os.path.join(root, "usr/share/doc/noa", doc)), "doc %s missing", doc)
        top = sorted(os.listdir(root))
        check(top == ["etc", "usr"], "DESTDIR holds %s, want only etc/ and usr/", top)
        check(os.listdir(os.path.join(root, "etc")) == ["noa"], "etc/ holds %s",
              os.listdir(os.path.join(root, "etc")))


def units_case(suite, root, prefix="/usr", conf="/etc/noa"):
    with suite.case("PREFIX=%s: the units start the installed programs, hardened" % prefix):
        for u, prog in zip(UNITS, ("noa-server", "noa-shipper")):
            path = os.path.join(root, prefix.lstrip("/"), "lib/systemd/system", u)
            text = read(path)
            check("@" not in re.sub(r"(?m)^#.*$|SystemCallFilter=.*|@system-service|@privileged", "", text),
                  "%s: a placeholder was left unfilled:\n%s", u, text)
            k = unit_keys(path)
            exec_start = k.get("ExecStart", [""])[0].split()
            want = [prefix + "/bin/" + prog, "-config.file=%s/%s.yaml" % (conf, prog)]
            check(exec_start == want, "%s ExecStart %s, want %s", u, exec_start, want)
            check(os.access(os.path.join(root, exec_start[0].lstrip("/")), os.X_OK),
                  "%s runs %s, which was not installed", u, exec_start[0])
            want_keys = {
                "Type": "simple", "User": "noa", "Group": "noa", "Restart": "on-failure",
                "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                "PrivateTmp": "yes", "PrivateDevices": "yes", "ProtectKernelTunables": "yes",
                "ProtectKernelModules": "yes", "ProtectControlGroups": "yes",
                "RestrictNamespaces": "yes", "LockPersonality": "yes", "CapabilityBoundingSet": "",
                "StateDirectory": prog if prog == "noa-shipper" else "noa",
                "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
            }
            for key, val in want_keys.items():
                check(k.get(key) == [val], "%s: %s=%s, want %r", u, key, k.get(key), val)
            check("@system-service" in k.get("SystemCallFilter", []), "%s: no @system-service filter", u)
            check(int(k.get("TimeoutStopSec", ["0"])[0]) >= 60, "%s: TimeoutStopSec too short", u)
            check(int(k.get("LimitNOFILE", ["0"])[0]) >= 65536, "%s: LimitNOFILE too low", u)
            check("ExecReload" not in k, "%s has ExecReload, but %s handles no SIGHUP", u, prog)
            docs = k.get("Documentation", [""])[0]
            check(docs == "file:%s/share/doc/noa/install.md" % prefix, "%s Documentation=%s", u, docs)
        ship = unit_keys(os.path.join(root, prefix.lstrip("/"), "lib/systemd/system/noa-shipper.service"))
        check(sorted(ship.get("SupplementaryGroups", [""])[0].split()) == ["adm", "systemd-journal"],
              "shipper SupplementaryGroups=%s", ship.get("SupplementaryGroups"))


def systemd_case(suite, root, tmp):
    analyze = shutil.which("systemd-analyze")
    with suite.case("systemd-analyze verify and security on the installed units"):
        if not analyze:
            print("     SKIP: systemd-analyze not installed")
            return
        # A unit known to be good tells whether verify works here at all.
        probe = os.path.join(tmp, "noa-probe.service")
        with open(probe, "w") as f:
            f.write("[Service]\nExecStart=/bin/true\n")
        rc, out = run([analyze, "verify", probe], timeout=60)
        if rc != 0:
            print("     SKIP: systemd-analyze verify fails on a trivial unit here (%d): %s" % (rc, H.short(out)))
            return
        # The units name /usr/bin/...: point them at the DESTDIR copies.
        for u in UNITS:
            text = read(os.path.join(root, "usr/lib/systemd/system", u))
            text = text.replace("ExecStart=/usr/bin/", "ExecStart=%s/usr/bin/" % root)
            copy = os.path.join(tmp, u)
            with open(copy, "w") as f:
                f.write(text)
            rc, out = run([analyze, "verify", copy], timeout=60)
            check(rc == 0 and out.strip() == "", "systemd-analyze verify %s: %d\n%s", u, rc, out)
            rc, out = run([analyze, "security", "--offline=true", copy], timeout=60)
            m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
            check(m, "systemd-analyze security printed no exposure level (%d):\n%s", rc, H.short(out, 2000))
            level = float(m.group(1))
            print("     %s: exposure %.1f" % (u, level))
            check(level <= 2.0, "%s exposure %.1f, want <= 2.0 (systemd's OK band):\n%s", u, level, out)
        # The check can fail: a unit with a misspelt key is reported.
        bad = os.path.join(tmp, "noa-bad.service")
        with open(bad, "w") as f:
            f.write("[Service]\nExecStart=/bin/true\nProtectSytem=strict\n")
        rc, out = run([analyze, "verify", bad], timeout=60)
        check("ProtectSytem" in out, "verify did not report a misspelt key: %s", out)


def sysusers_case(suite, root, tmp):
    with suite.case("sysusers.d creates the noa user, tmpfiles.d its directories"):
        sysusers, tmpfiles = shutil.which("systemd-sysusers"), shutil.which("systemd-tmpfiles")
        if not sysusers or not tmpfiles or os.geteuid() != 0:
            print("     SKIP: needs systemd-sysusers, systemd-tmpfiles and root (to chown in a scratch root)")
            return
        scratch = os.path.join(tmp, "sysroot")
        os.makedirs(os.path.join(scratch, "etc"))
        rc, out = run([sysusers, "--root=" + scratch, os.path.join(root, "usr/lib/sysusers.d/noa.conf")])
        check(rc == 0, "systemd-sysusers: %d %s", rc, out)
        users = [ln.split(":") for ln in read(os.path.join(scratch, "etc/passwd")).splitlines()]
        noa = [u for u in users if u[0] == "noa"]
        check(len(noa) == 1, "no noa user in %s", users)
        check(noa[0][6] == "/usr/sbin/nologin" and int(noa[0][2]) < 1000,
              "noa is not a system user without login: %s", noa[0])
        rc, out = run([tmpfiles, "--create", "--root=" + scratch,
                       os.path.join(root, "usr/lib/tmpfiles.d/noa.conf")])
        check(rc == 0, "systemd-tmpfiles: %d %s", rc, out)
        for d in ("var/lib/noa", "var/lib/noa-shipper"):
            st = os.stat(os.path.join(scratch, d))
            check(st.st_uid == int(noa[0][2]) and st.st_mode & 0o777 == 0o750,
                  "%s uid %d mode %o, want noa's uid %s and 0750", d, st.st_uid, st.st_mode & 0o777, noa[0][2])


def programs_case(suite, root, tmp):
    bindir = os.path.join(root, "usr/bin")
    with suite.case("the installed programs run and accept the installed configs"):
        for p, flag in (("noa-server", "-version"), ("noa-shipper", "-version"), ("noa-logcli", "--version")):
            rc, out = run([os.path.join(bindir, p), flag], timeout=30)
            check(rc == 0 and "version" in out, "%s %s: %d %s", p, flag, rc, out)
        # docs/shipper-configuration.md lists the flags the shipper takes.
        rc, helptext = run([os.path.join(bindir, "noa-shipper"), "-help"], timeout=30)
        check(rc == 0, "noa-shipper -help: %d", rc)
        doc = read(os.path.join(root, "usr/share/doc/noa/shipper-configuration.md"))
        flags_doc = doc.split("## Command-line flags", 1)[-1].split("## Configuration file", 1)[0]
        documented = set(re.findall(r"^  (-[a-z][a-z.-]*)", flags_doc, re.M))
        check(len(documented) >= 10, "too few flags in the reference: %s", documented)
        for flag in sorted(documented):
            check(re.search(r"(^|\s)%s(\s|$)" % re.escape(flag), helptext, re.M),
                  "the reference documents %s, which noa-shipper -help does not list", flag)
        server_cfg = os.path.join(root, "etc/noa/noa-server.yaml")
        shipper_cfg = os.path.join(root, "etc/noa/noa-shipper.yaml")
        rc, out = run([os.path.join(bindir, "noa-server"), "-config.file=" + server_cfg, "-config.verify"])
        check(rc == 0, "noa-server -config.verify on the installed config: %d %s", rc, out)
        rc, out = run([os.path.join(bindir, "noa-shipper"), "-config.file=" + shipper_cfg, "-check-syntax"])
        check(rc == 0, "noa-shipper -check-syntax on the installed config: %d %s", rc, out)
        # Both checks can fail: a misspelt key is refused with its position.
        for prog, cfg, flag in (("noa-server", server_cfg, "-config.verify"),
                                ("noa-shipper", shipper_cfg, "-check-syntax")):
            bad = os.path.join(tmp, "bad-" + os.path.basename(cfg))
            with open(bad, "w") as f:
                f.write(read(cfg) + "\nnot_a_key: 1\n")
            rc, out = run([os.path.join(bindir, prog), "-config.file=" + bad, flag])
            check(rc != 0 and "not_a_key" in out, "%s %s accepted an unknown key: %d %s", prog, flag, rc, out)


def server_case(suite, root, tmp):
    with suite.case("the installed noa-server starts on the installed config and rules"):
        data = os.path.join(tmp, "var-lib-noa")
        port = H.free_port()
        srv = H.Server("installed", config_path=os.path.join(root, "etc/noa/noa-server.yaml"),
                       workdir=tmp, port=port,
                       args=["-common.path-prefix=" + data, "-server.http-listen-port=%d" % port,
                             "-ruler.storage.local.directory=" + os.path.join(root, "etc/noa/rules")])
        binary = os.path.join(root, "usr/bin/noa-server")
        srv.command = lambda: [binary, "-config.file=" + srv.config_path] + srv.args
        waited = srv.start(timeout=60)
        print("     ready after %.2fs" % waited)
        check(os.path.isdir(os.path.join(data, "wal")), "no WAL under the -common.path-prefix directory %s: %s",
              data, os.listdir(data) if os.path.isdir(data) else "missing")
        r = srv.get("/config")
        check(r.status == 200 and ("path_prefix: %s" % data) in r.text, "GET /config: %d %s",
              r.status, H.short(r.body, 500))
        want = shipped_rule_groups()
        check(want, "no rule groups found in config/rules")

        def loaded():
            r = srv.get("/prometheus/api/v1/rules")
            if r.status != 200:
                return None
            groups = r.json()["data"]["groups"]
            names = [g["name"] for g in groups]
            return names if all(w in names for w in want) else None
        names = H.wait_for(loaded, 30, "the shipped rule groups %s on /prometheus/api/v1/rules" % want)
        print("     %d rule groups loaded for tenant fake" % len(names))
        r = srv.get("/metrics")
        check(r.status == 200, "GET /metrics: %d", r.status)
        srv.stop(timeout=60)
        check(not os.path.exists(os.path.join(root, "var")), "the server wrote under DESTDIR/var")


def conffile_case(suite, root):
    with suite.case("re-install keeps a changed /etc/noa file, the new default goes to .new"):
        cfg = os.path.join(root, "etc/noa/noa-server.yaml")
        rule = sorted(glob.glob(os.path.join(root, "etc/noa/rules/fake/*.yaml")))[0]
        with open(cfg, "a") as f:
            f.write("# changed by the administrator\n")
        os.unlink(rule)
        out = install(root, "/usr")
        check(read(cfg).endswith("# changed by the administrator\n"), "the changed config was overwritten")
        new = cfg + ".new"
        check(os.path.isfile(new) and filecmp.cmp(new, os.path.join(SRC, "packaging/noa-server.yaml"),
                                                  shallow=False), "%s missing or not the default", new)
        check("Kept" in out and cfg in out, "the install did not say it kept %s:\n%s", cfg, H.short(out, 2000))
        check(not os.path.exists(os.path.join(root, "etc/noa/noa-shipper.yaml.new")),
              "an unchanged config got a .new copy")
        check(os.path.isfile(rule), "a deleted rule file was not installed again")


def usr_local_case(suite, root):
    with suite.case("PREFIX=/usr/local: configuration in /usr/local/etc/noa, units follow"):
        install(root, "/usr/local")
        for name in ("noa-server.yaml", "noa-shipper.yaml", "rules/fake/liveness.yaml"):
            check(os.path.isfile(os.path.join(root, "usr/local/etc/noa", name)), "usr/local/etc/noa/%s missing", name)
        check(not os.path.exists(os.path.join(root, "etc")), "PREFIX=/usr/local wrote to /etc")
        check(sorted(os.listdir(root)) == ["usr"], "DESTDIR holds %s", os.listdir(root))
    units_case(suite, root, prefix="/usr/local", conf="/usr/local/etc/noa")
    with suite.case("make uninstall removes the programs, keeps the configuration"):
        rc, out = run(["make", "--no-print-directory", "-C", SRC, "uninstall", "BUILD=" + BUILD,
                       "DESTDIR=" + root], timeout=60)
        check(rc == 0, "make uninstall: %d\n%s", rc, out)
        for p in PROGRAMS:
            check(not os.path.exists(os.path.join(root, "usr/local/bin", p)), "%s still installed", p)
        check(not os.path.exists(os.path.join(root, "usr/local/lib/systemd/system/noa-server.service")),
              "unit still installed")
        check(os.path.isfile(os.path.join(root, "usr/local/etc/noa/noa-server.yaml")),
              "make uninstall removed the configuration")


def body(suite):
    check(os.path.isfile(os.path.join(BUILD, "cmake_install.cmake")),
          "%s is not a CMake build directory (NOA_BIN=%s)", BUILD, H.BIN)
    saved = read(MANIFEST) if os.path.exists(MANIFEST) else None
    try:
        tmp = H.make_tempdir("install")
        root = os.path.join(tmp, "root-usr")
        with suite.case("cmake --install --prefix /usr into a DESTDIR"):
            install(root, "/usr")
        tree_case(suite, root)
        units_case(suite, root)
        systemd_case(suite, root, tmp)
        sysusers_case(suite, root, tmp)
        programs_case(suite, root, tmp)
        server_case(suite, root, tmp)
        conffile_case(suite, root)
        usr_local_case(suite, os.path.join(tmp, "root-usr-local"))
    finally:
        # The test's installs must not replace what `make uninstall` of the
        # operator's own install would read.
        if saved is None:
            if os.path.exists(MANIFEST):
                os.unlink(MANIFEST)
        else:
            with open(MANIFEST, "w") as f:
                f.write(saved)


if __name__ == "__main__":
    H.main("install", body)
