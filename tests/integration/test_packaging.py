"""
Packaging checks: every file under docker/ and every config the project
ships validates with the tool that will read it, and the Docker images are
built the way docs/docker.md's lint checklist says, without a Docker engine.

Cases: the compose file passes `docker-compose config -q` (Debian's
docker-compose 1.29; the Compose Specification without `version`/`name`)
and dclint (tests/npm), and its structure holds (images pinned, healthchecks,
depends_on on health, remote-write receiver on, stop grace longer than the
server's shutdown timeout, every bind mount names a file of the repo, mount
targets matching the paths the configs and Dockerfiles use); both
Dockerfiles pass dockerfile-utils' linter and the hadolint rules of the
checklist as checked here (every FROM pinned, no `latest`, non-root USER in
the final stage, HEALTHCHECK on /ready, apt-get with -y,
--no-install-recommends and list cleanup in the same RUN, pipefail shell,
absolute WORKDIR, no ADD/sudo/cd/MAINTAINER, COPY --from a named stage, one
ENTRYPOINT with -config.file and -config.expand-env=true); the build stage
installs the -dev packages of scripts/install-deps.sh; the runtime stage's
apt list names the package of every library the built binaries link
(readelf + dpkg -S) and its dependency closure (apt-cache) covers every
library `ldd` reports; .dockerignore keeps what COPY reads; `promtool check
config` on a copy of docker/prometheus.yml whose rule files are rewritten to
the repo files the compose file mounts; `promtool check rules` on
config/prometheus/*.yaml; `amtool check-config`; every noa-server config
under config/ and docker/ passes `noa-server -config.verify
-config.expand-env=true`, every shipper config `noa-shipper -check-syntax`.
A last case breaks a copy of each file and shows every check failing on it.

Runs on the main thread; starts only short-lived tool processes, in a temp
dir removed at the end. Tools missing (docker-compose, promtool, amtool,
node_modules) make their case print SKIP and pass; scripts/install-deps.sh
and `make npm-deps` install them.
"""

import fnmatch
import glob
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import check  # noqa: E402

try:
    import yaml  # python3-yaml: a dependency of docker-compose, in install-deps.sh
except ImportError:  # pragma: no cover - reported by the first case
    yaml = None

SRC = H.SRC
DOCKER = os.path.join(SRC, "docker")
COMPOSE = os.path.join(DOCKER, "compose.yaml")
NPM_BIN = os.path.join(SRC, "tests", "npm", "node_modules", ".bin")
DOCKERFILES = {
    # Dockerfile -> the binaries its final stage runs.
    "server.Dockerfile": ["noa-server", "noa-logcli"],
    "shipper.Dockerfile": ["noa-shipper"],
}
# -dev packages of install-deps.sh a release image build does not need.
DEV_NOT_IN_IMAGE = {
    "libcmocka-dev": "unit tests only",
    "libclang-rt-14-dev": "sanitizer and fuzzing runtimes only",
}
# Sanitizer runtimes appear in `ldd` of an ASan build (NOA_BIN), never in an image.
SANITIZER_LIBS = re.compile(r"^lib(asan|ubsan|tsan|lsan)\.so")
COMPOSE_IMAGES = {
    "grafana": "grafana/grafana",
    "prometheus": "prom/prometheus",
    "alertmanager": "prom/alertmanager",
}


def run(cmd, cwd=None, env=None, timeout=120):
    """Runs a tool to completion: (exit code, stdout + stderr)."""
    p = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def clean_env():
    """The environment without NOA_* settings, so that ${VAR:-default}
    references in the configs take their defaults."""
    return {k: v for k, v in os.environ.items() if not k.startswith("NOA_")}


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


def rel(path):
    return os.path.relpath(path, SRC)


# ---------------------------------------------------------------------------
# Dockerfile parsing and the checklist

class Instr:
    def __init__(self, name, args, line):
        self.name = name
        self.args = args
        self.line = line

    def __repr__(self):
        return "%d: %s %s" % (self.line, self.name, self.args)


def parse_dockerfile(text):
    """Instructions with continuation lines joined and comment lines
    dropped (as BuildKit does), grouped into stages: [(from_instr, [instrs])]."""
    instrs = []
    cur, start = None, 0
    for n, raw in enumerate(text.splitlines(), 1):
        s = raw.strip()
        if s.startswith("#") or (not s and cur is None):
            continue
        if cur is None:
            cur, start = "", n
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        name, _, args = cur.strip().partition(" ")
        instrs.append(Instr(name.upper(), args.strip(), start))
        cur = None
    stages = []
    for i in instrs:
        if i.name == "FROM":
            stages.append((i, []))
        elif stages:
            stages[-1][1].append(i)
    return instrs, stages


def apt_installs(run_args):
    """Packages named by `apt-get install` in one RUN (options skipped)."""
    pkgs = []
    for m in re.finditer(r"apt-get\s+install\s+(.*?)(?:&&|;|\|\||$)", run_args):
        pkgs += [t for t in m.group(1).split() if not t.startswith("-")]
    return pkgs


def lint_dockerfile(text, copy_ok=None):
    """The checklist of docs/docker.md that can be checked from the text.
    Returns a list of problems (empty: clean)."""
    problems = []
    instrs, stages = parse_dockerfile(text)
    if not stages:
        return ["no FROM"]
    names = set()
    for frm, body in stages:
        parts = frm.args.split()
        image = parts[0]
        if len(parts) >= 3 and parts[1].upper() == "AS":
            names.add(parts[2].lower())
        if image.lower() in names:
            continue
        if "@sha256:" in image:
            continue
        repo, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
        if not tag:
            problems.append("line %d: FROM %s has no tag (DL3006)" % (frm.line, image))
        elif tag == "latest":
            problems.append("line %d: FROM %s uses latest (DL3007)" % (frm.line, image))
        elif repo == "debian" and not re.match(r"^(\d+\.\d+(-slim)?|[a-z]+-\d{8}(-slim)?)$", tag):
            problems.append("line %d: FROM %s: pin Debian by point release (12.x-slim) or "
                            "bookworm-YYYYMMDD" % (frm.line, image))
    final = stages[-1][1]
    users = [i for i in final if i.name == "USER"]
    if not users:
        problems.append("final stage has no USER (DL3002)")
    elif users[-1].args.split(":")[0] in ("root", "0"):
        problems.append("line %d: final USER is root (DL3002)" % users[-1].line)
    hc = [i for i in final if i.name == "HEALTHCHECK"]
    if len(hc) != 1 or "/ready" not in hc[0].args:
        problems.append("final stage needs exactly one HEALTHCHECK on /ready: %r" % hc)
    if not any(i.name == "STOPSIGNAL" and i.args == "SIGTERM" for i in final):
        problems.append("final stage has no STOPSIGNAL SIGTERM")
    if not any(i.name == "VOLUME" and "/var/lib/noa" in i.args for i in final):
        problems.append("final stage has no VOLUME /var/lib/noa")
    if not any(i.name == "EXPOSE" and re.match(r"^\d+$", i.args) and 0 < int(i.args) < 65536
               for i in final):
        problems.append("final stage has no valid EXPOSE")
    eps = [i for i in final if i.name == "ENTRYPOINT"]
    if len(eps) != 1:
        problems.append("final stage needs one ENTRYPOINT (DL4004): %r" % eps)
    else:
        ep = eps[0].args
        if not ep.startswith("["):
            problems.append("line %d: ENTRYPOINT not in exec form (DL3025)" % eps[0].line)
        if not re.search(r'"-config\.file=/etc/noa/[^"]+"', ep) or '"-config.expand-env=true"' not in ep:
            problems.append("line %d: ENTRYPOINT needs -config.file=/etc/noa/... and "
                            "-config.expand-env=true" % eps[0].line)
    if sum(1 for i in final if i.name == "CMD") > 1:
        problems.append("several CMD in the final stage (DL4003)")
    for frm, body in stages:
        shell_pipefail = False
        for i in body:
            if i.name == "SHELL":
                shell_pipefail = "pipefail" in i.args
            if i.name == "MAINTAINER":
                problems.append("line %d: MAINTAINER is deprecated (DL4000)" % i.line)
            if i.name == "ADD" and not re.search(r"https?://|\.tar", i.args):
                problems.append("line %d: ADD for local files, use COPY (DL3020)" % i.line)
            if i.name == "WORKDIR" and not i.args.startswith("/"):
                problems.append("line %d: WORKDIR not absolute (DL3000)" % i.line)
            if i.name == "COPY":
                m = re.search(r"--from=(\S+)", i.args)
                if m and m.group(1).lower() not in names:
                    problems.append("line %d: COPY --from=%s is not a named stage (DL3022)"
                                    % (i.line, m.group(1)))
                if not m and copy_ok is not None:
                    srcs = [a for a in i.args.split() if not a.startswith("--")][:-1]
                    for s in srcs:
                        if not copy_ok(s):
                            problems.append("line %d: COPY %s is excluded by .dockerignore" % (i.line, s))
            if i.name != "RUN":
                continue
            a = i.args
            if re.search(r"(^|[;&|]\s*)sudo\s", a):
                problems.append("line %d: sudo in RUN (DL3004)" % i.line)
            if re.search(r"(^|[;&|]\s*)cd\s", a):
                problems.append("line %d: cd in RUN, use WORKDIR (DL3003)" % i.line)
            if re.search(r"(^|[;&|]\s*)apt\s", a):
                problems.append("line %d: apt instead of apt-get (DL3027)" % i.line)
            if "|" in a.replace("||", "") and not shell_pipefail:
                problems.append("line %d: pipe without SHELL -o pipefail (DL4006)" % i.line)
            if "apt-get install" in a:
                if "--no-install-recommends" not in a:
                    problems.append("line %d: apt-get install without --no-install-recommends (DL3015)"
                                    % i.line)
                if not re.search(r"apt-get\s+install\s+(-\S+\s+)*(-y|--yes|--assume-yes)\s", a):
                    problems.append("line %d: apt-get install without -y (DL3014)" % i.line)
                if "rm -rf /var/lib/apt/lists/*" not in a:
                    problems.append("line %d: apt lists not removed in the same RUN (DL3009)" % i.line)
                if "apt-get update" not in a:
                    problems.append("line %d: apt-get install without update in the same RUN" % i.line)
    return problems


def dockerignore_allows():
    """A predicate telling whether .dockerignore keeps a path in the build
    context (Docker's rules: the last matching pattern wins; a pattern
    matches a path or any of its parents)."""
    pats = []
    with open(os.path.join(SRC, ".dockerignore")) as f:
        for ln in f:
            ln = ln.strip()
            if not ln or ln.startswith("#"):
                continue
            neg = ln.startswith("!")
            p = os.path.normpath(ln[1:] if neg else ln).lstrip("/")
            pats.append((neg, p))

    def allowed(path):
        path = os.path.normpath(path).lstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]
        keep = True
        for neg, p in pats:
            if any(fnmatch.fnmatchcase(x, p) for x in prefixes):
                keep = neg
        return keep
    return allowed


# ---------------------------------------------------------------------------
# Libraries the binaries link, and the packages that provide them

_owners = {}


def _candidates(path):
    cands = [path, os.path.realpath(path)]
    for c in list(cands):
        cands.append(c[4:] if c.startswith("/usr/") else "/usr" + c)
    return cands


def dpkg_owners(paths):
    """Fills the cache of which Debian package ships each library path
    (merged-/usr aware), in one dpkg call."""
    want = sorted({c for p in paths if p not in _owners for c in _candidates(p)})
    found = {}
    if want:
        _, out = run(["dpkg", "-S"] + want)
        for ln in out.splitlines():
            pkg, sep, path = ln.partition(": ")
            if sep and path.startswith("/"):
                found[path.strip()] = pkg.split(",")[0].split(":")[0].strip()
    for p in paths:
        if p not in _owners:
            _owners[p] = next((found[c] for c in _candidates(p) if c in found), None)


def dpkg_owner(path):
    """The Debian package shipping a library path, or None."""
    dpkg_owners([path])
    return _owners[path]


def ldd_libs(binary):
    """{soname: path} of every library ldd resolves (vdso excluded)."""
    rc, out = run(["ldd", binary])
    check(rc == 0, "ldd %s: %s", binary, out)
    libs = {}
    for ln in out.splitlines():
        ln = ln.strip()
        check("not found" not in ln, "ldd %s: %s", binary, ln)
        m = re.match(r"^(\S+)\s+=>\s+(\S+)", ln) or re.match(r"^(/\S+)\s+\(", ln)
        if m:
            name = os.path.basename(m.group(1))
            libs[name] = m.group(2) if m.lastindex == 2 else m.group(1)
    return libs


def needed_libs(binary):
    rc, out = run(["readelf", "-d", binary])
    check(rc == 0, "readelf %s: %s", binary, out)
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def apt_closure(pkgs):
    """Every package apt-get would install for pkgs (Depends/PreDepends)."""
    rc, out = run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
                   "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances"] + list(pkgs))
    check(rc == 0, "apt-cache depends: %s", H.short(out))
    return {ln.strip() for ln in out.splitlines() if ln and not ln.startswith(" ") and
            not ln.startswith("<")}


def runtime_problems(apt_pkgs, binaries):
    """What the runtime apt list misses for these binaries."""
    problems = []
    listed = set(apt_pkgs)
    closure = apt_closure(apt_pkgs)
    for b in binaries:
        libs = ldd_libs(b)
        dpkg_owners(list(libs.values()))
        for soname in needed_libs(b):
            if SANITIZER_LIBS.match(soname):
                continue
            path = libs.get(soname)
            check(path, "%s: NEEDED %s not in ldd's output", b, soname)
            pkg = dpkg_owner(path)
            check(pkg, "no package owns %s", path)
            if pkg not in listed:
                problems.append("%s links %s (package %s), which the runtime stage does not install"
                                % (os.path.basename(b), soname, pkg))
        for soname, path in libs.items():
            if SANITIZER_LIBS.match(soname):
                continue
            pkg = dpkg_owner(path)
            check(pkg, "no package owns %s", path)
            if pkg not in closure:
                problems.append("%s loads %s (package %s), which the runtime packages do not pull in"
                                % (os.path.basename(b), soname, pkg))
    return problems


def configure_context(tmp, df, text, allowed):
    """Copies what the build stage's COPY lines read (each allowed by
    .dockerignore) into an empty directory, as the image build sees the
    context, and runs the Dockerfile's own `cmake -S . -B /build ...`
    configure step there: a file the build needs but COPY or .dockerignore
    leaves out fails here, without a Docker engine."""
    if not shutil.which("cmake"):
        print("     SKIP: cmake not installed")
        return
    _, stages = parse_dockerfile(text)
    ctx = os.path.join(tmp, "ctx-" + df)
    os.makedirs(ctx)
    cmake = None
    for i in stages[0][1]:
        if i.name == "COPY" and "--from" not in i.args:
            srcs = i.args.split()[:-1]
            for s in srcs:
                check(allowed(s), "COPY %s excluded by .dockerignore", s)
                src = os.path.join(SRC, s)
                dst = os.path.join(ctx, s.rstrip("/"))
                if os.path.isdir(src):
                    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("build*"))
                else:
                    shutil.copy(src, dst)
        if i.name == "RUN":
            m = re.search(r"cmake -S \. -B (\S+)((?: -D\S+)*)", i.args)
            if m:
                cmake = m.group(2).split()
    check(cmake is not None, "%s: no `cmake -S . -B <dir> -D...` in the build stage", df)
    check("-DCMAKE_BUILD_TYPE=Release" in cmake, "%s: not a Release build: %r", df, cmake)
    rc, out = run(["cmake", "-S", ctx, "-B", os.path.join(ctx, "_build")] + cmake, timeout=120)
    check(rc == 0, "cmake configure of the image's context failed:\n%s", out[-3000:])
    rc, out = run(["cmake", "--build", os.path.join(ctx, "_build"), "--target", "help"])
    check(rc == 0, "cmake --target help: %s", out[-2000:])
    for target in DOCKERFILES[df]:
        check(re.search(r"--target [^&]*\b%s\b" % re.escape(target), text),
              "%s: the build does not make %s", df, target)
        check(re.search(r"^\.\.\. %s$" % re.escape(target), out, re.M),
              "%s: no target %s in the image's build context", df, target)


def install_deps_dev_packages():
    with open(os.path.join(SRC, "scripts", "install-deps.sh")) as f:
        text = f.read()
    m = re.search(r"packages=\((.*?)\)", text, re.S)
    check(m, "no packages=(...) in scripts/install-deps.sh")
    return [p for p in m.group(1).split() if p.endswith("-dev")]


# ---------------------------------------------------------------------------
# Compose

def compose_problems(c):
    """Structural rules of docker/compose.yaml (a parsed dict)."""
    problems = []
    for k in ("version", "name"):
        if k in c:
            problems.append("top-level `%s` (Debian's docker-compose 1.29 refuses or warns)" % k)
    services = c.get("services") or {}
    for name in ("noa-server", "noa-shipper", "grafana", "prometheus", "alertmanager"):
        if name not in services:
            problems.append("service %s missing" % name)
    for name, s in services.items():
        img = s.get("image", "")
        tag = img.rpartition(":")[2] if ":" in img.split("/")[-1] else ""
        if not tag or tag == "latest":
            problems.append("%s: image %r not pinned by version" % (name, img))
        if name in COMPOSE_IMAGES and (not img.startswith(COMPOSE_IMAGES[name] + ":")
                                       or not re.search(r"\d+\.\d+", tag)):
            problems.append("%s: image %r is not %s:<version>" % (name, img, COMPOSE_IMAGES[name]))
        if "healthcheck" not in s or not s["healthcheck"].get("test"):
            problems.append("%s: no healthcheck" % name)
        deps = s.get("depends_on") or {}
        if isinstance(deps, list):
            problems.append("%s: depends_on without condition" % name)
        else:
            for d, v in deps.items():
                if d not in services:
                    problems.append("%s: depends_on unknown service %s" % (name, d))
                if (v or {}).get("condition") != "service_healthy":
                    problems.append("%s: depends_on %s is not condition: service_healthy" % (name, d))
    prom = services.get("prometheus", {})
    if "--web.enable-remote-write-receiver" not in (prom.get("command") or []):
        problems.append("prometheus: no --web.enable-remote-write-receiver")
    grace = str(services.get("noa-server", {}).get("stop_grace_period", "10s"))
    m = re.match(r"^(\d+)(s|m)$", grace)
    secs = int(m.group(1)) * (60 if m.group(2) == "m" else 1) if m else 0
    if secs <= 30:
        problems.append("noa-server: stop_grace_period %s is not longer than the server's "
                        "30s graceful_shutdown_timeout" % grace)
    return problems


def bind_mounts(service):
    """[(host path resolved against docker/, container path)] of a service's
    bind mounts (named volumes skipped)."""
    out = []
    for v in service.get("volumes") or []:
        if isinstance(v, dict):
            if v.get("type") != "bind":
                continue
            src, dst = v["source"], v["target"]
        else:
            parts = v.split(":")
            src, dst = parts[0], parts[1]
        if src.startswith(".") or src.startswith("/"):
            out.append((os.path.normpath(os.path.join(DOCKER, src)) if src.startswith(".") else src, dst))
    return out


def mount_source(service, target):
    """The repo path mounted at target (or containing it), or None."""
    for src, dst in bind_mounts(service):
        if target == dst:
            return src
        if target.startswith(dst.rstrip("/") + "/"):
            return os.path.join(src, target[len(dst.rstrip("/")) + 1:])
    return None


def missing_mounts(compose):
    """Bind mounts from the repo whose source does not exist."""
    out = []
    for name, s in compose["services"].items():
        for src, dst in bind_mounts(s):
            if src.startswith(SRC + "/") and not os.path.exists(src):
                out.append("%s mounts %s at %s, which is not in the repo" % (name, rel(src), dst))
    return out


def env_default(text, var):
    m = re.search(r"\$\{%s:?-([^}]*)\}" % re.escape(var), text)
    return m.group(1) if m else None


# ---------------------------------------------------------------------------
# Which config is which

def classify(path):
    """noa-server, shipper, prometheus, alertmanager, grafana, rules,
    compose, or None for a YAML file the test does not know."""
    base = os.path.basename(path)
    if base == "compose.yaml":
        return "compose"
    if "/grafana/" in path:
        return "grafana"
    try:
        with open(path) as f:
            text = f.read()
        # Parse with ${...} left as text: the shape is what matters here.
        d = yaml.safe_load(text)
    except (yaml.YAMLError, OSError):
        return None
    if not isinstance(d, dict):
        return None
    keys = set(d)
    if "groups" in keys:
        return "rules"
    if "route" in keys or "receivers" in keys:
        return "alertmanager"
    if "rule_files" in keys or "alerting" in keys or ("global" in keys and "scrape_configs" in keys):
        return "prometheus"
    if keys & {"positions", "clients"}:
        return "shipper"
    if keys & {"auth_enabled", "common", "ingester", "schema_config", "ruler", "target"}:
        return "noa-server"
    return None


def config_files():
    """YAML under config/ and docker/ (tests of promtool excluded)."""
    out = []
    for d in ("config", "docker"):
        for root, _, files in os.walk(os.path.join(SRC, d)):
            for f in sorted(files):
                if f.endswith((".yaml", ".yml")) and not f.endswith(".test.yaml"):
                    out.append(os.path.join(root, f))
    return sorted(out)


def verify_server(binary, path):
    return run([binary, "-config.file=" + path, "-config.expand-env=true", "-config.verify"],
               env=clean_env(), timeout=60)


def verify_shipper(binary, path):
    return run([binary, "-config.file=" + path, "-config.expand-env=true", "-check-syntax"],
               env=clean_env(), timeout=60)


def promtool_config_copy(tmp, prom_path, compose):
    """A copy of prometheus.yml whose rule files point at the repo files the
    compose file mounts at those paths. Returns (copy, [repo rule files])."""
    prom_svc = compose["services"]["prometheus"]
    d = load_yaml(prom_path)
    rules = []
    new = []
    for rf in d.get("rule_files") or []:
        src = mount_source(prom_svc, rf)
        check(src is not None, "rule file %s of %s is not mounted into prometheus", rf, rel(prom_path))
        rules.append(src)
        new.append(src)
    d["rule_files"] = new
    out = os.path.join(tmp, "prometheus.yml")
    with open(out, "w") as f:
        yaml.safe_dump(d, f)
    return out, rules


# ---------------------------------------------------------------------------

def body(suite):
    tmp = H.make_tempdir("packaging")
    server_bin = os.path.join(H.BIN, "noa-server")
    shipper_bin = os.path.join(H.BIN, "noa-shipper")
    compose = None

    with suite.case("python3-yaml present; compose.yaml parses"):
        check(yaml is not None, "python3-yaml missing (scripts/install-deps.sh installs it)")
        compose = load_yaml(COMPOSE)
        check(isinstance(compose, dict) and "services" in compose, "%r", compose)

    with suite.case("docker-compose config -q accepts docker/compose.yaml"):
        dc = shutil.which("docker-compose")
        if not dc:
            print("     SKIP: docker-compose not installed (scripts/install-deps.sh)")
        else:
            rc, out = run([dc, "-f", COMPOSE, "config", "-q"], cwd=DOCKER, env=clean_env())
            check(rc == 0 and not out.strip(), "rc %d: %s", rc, out)

    with suite.case("dclint: no error, no warning"):
        dclint = os.path.join(NPM_BIN, "dclint")
        if not os.access(dclint, os.X_OK):
            print("     SKIP: dclint not installed (make npm-deps)")
        else:
            rc, out = run(dclint_cmd(COMPOSE), timeout=120)
            check(rc == 0, "rc %d:\n%s", rc, out)

    with suite.case("compose structure: pinned images, healthchecks, service_healthy, grace"):
        probs = compose_problems(compose)
        check(not probs, "\n".join(probs))

    with suite.case("compose bind mounts name files of the repo at the paths the configs use"):
        svcs = compose["services"]
        missing = missing_mounts(compose)
        check(not missing, "\n".join(missing))
        with open(os.path.join(DOCKER, "noa-server.yaml")) as f:
            srv_text = f.read()
        rules_dir = env_default(srv_text, "NOA_RULES_DIR")
        check(rules_dir, "docker/noa-server.yaml: no ${NOA_RULES_DIR:-...}")
        src = mount_source(svcs["noa-server"], rules_dir + "/fake")
        check(src == os.path.join(SRC, "config", "rules"), "rules mounted from %r, want config/rules "
              "at %s/fake", src, rules_dir)
        for svc, df, conf in (("noa-server", "server.Dockerfile", "noa-server.yaml"),
                              ("noa-shipper", "shipper.Dockerfile", "noa-shipper.yaml")):
            with open(os.path.join(DOCKER, df)) as f:
                m = re.search(r'"-config\.file=([^"]+)"', f.read())
            check(m, "%s: no -config.file in ENTRYPOINT", df)
            check(mount_source(svcs[svc], m.group(1)) == os.path.join(DOCKER, conf),
                  "%s: %s not mounted from docker/%s", svc, m.group(1), conf)
        prom = load_yaml(os.path.join(DOCKER, "prometheus.yml"))
        for rf in prom.get("rule_files") or []:
            check(mount_source(svcs["prometheus"], rf), "prometheus.yml's rule file %s is not mounted", rf)
        check(mount_source(svcs["prometheus"], "/etc/prometheus/prometheus.yml") ==
              os.path.join(DOCKER, "prometheus.yml"), "prometheus.yml not mounted")
        prov = load_yaml(os.path.join(DOCKER, "grafana", "provisioning", "dashboards", "noa.yaml"))
        path = prov["providers"][0]["options"]["path"]
        check(mount_source(svcs["grafana"], path) == os.path.join(SRC, "config", "grafana"),
              "dashboards path %s not mounted from config/grafana", path)
        check(mount_source(svcs["grafana"], "/etc/grafana/provisioning") ==
              os.path.join(DOCKER, "grafana", "provisioning"), "provisioning not mounted")
        ds = load_yaml(os.path.join(DOCKER, "grafana", "provisioning", "datasources", "noa.yaml"))
        by_name = {d["name"]: d for d in ds["datasources"]}
        check(by_name.get("noa", {}).get("type") == "loki" and
              by_name["noa"].get("url") == "http://noa-server:3100", "%r", by_name.get("noa"))
        check(any(d["type"] == "prometheus" and d["url"] == "http://prometheus:9090"
                  for d in ds["datasources"]), "no Prometheus data source: %r", ds)

    allowed = dockerignore_allows()
    for df, bins in DOCKERFILES.items():
        path = os.path.join(DOCKER, df)
        with suite.case("%s: dockerfile-utils lint is silent" % df):
            lint = os.path.join(NPM_BIN, "dockerfile-utils")
            if not os.access(lint, os.X_OK):
                print("     SKIP: dockerfile-utils not installed (make npm-deps)")
            else:
                rc, out = run([lint, "lint", path])
                check(rc == 0 and not out.strip(), "rc %d:\n%s", rc, out)

        with suite.case("%s: hadolint checklist (docs/docker.md)" % df):
            with open(path) as f:
                text = f.read()
            probs = lint_dockerfile(text, allowed)
            check(not probs, "\n".join(probs))

        with suite.case("%s: build stage installs install-deps.sh's -dev packages" % df):
            _, stages = parse_dockerfile(text)
            got = set()
            for i in stages[0][1]:
                if i.name == "RUN":
                    got.update(apt_installs(i.args))
            want = set(install_deps_dev_packages()) - set(DEV_NOT_IN_IMAGE)
            check(want <= got, "missing in the build stage: %s", sorted(want - got))

        with suite.case("%s: the build context configures with the image's cmake line" % df):
            configure_context(tmp, df, text, allowed)

        with suite.case("%s: runtime apt list covers every library ldd reports" % df):
            binaries = [os.path.join(H.BIN, b) for b in bins]
            for b in binaries:
                check(os.access(b, os.X_OK), "%s not built (NOA_BIN=%s)", b, H.BIN)
            _, stages = parse_dockerfile(text)
            pkgs = []
            for i in stages[-1][1]:
                if i.name == "RUN":
                    pkgs += apt_installs(i.args)
            check(pkgs, "no apt-get install in the final stage")
            probs = runtime_problems(pkgs, binaries)
            check(not probs, "\n".join(probs))

    with suite.case("promtool check config docker/prometheus.yml (rule files from the repo)"):
        if not shutil.which("promtool"):
            print("     SKIP: promtool not installed (scripts/install-deps.sh)")
        else:
            cfg, rules = promtool_config_copy(tmp, os.path.join(DOCKER, "prometheus.yml"), compose)
            for r in rules:
                check(os.path.isfile(r), "rule file %s is not in the repo", rel(r))
            rc, out = run(["promtool", "check", "config", cfg])
            check(rc == 0, "rc %d: %s", rc, out)
            check("SUCCESS: %d rule files found" % len(rules) in out and all(r in out for r in rules),
                  "rule files not checked: %s", out)

    with suite.case("promtool check rules config/prometheus/*.yaml"):
        files = sorted(f for f in glob.glob(os.path.join(SRC, "config", "prometheus", "*.yaml"))
                       if not f.endswith(".test.yaml"))
        if not shutil.which("promtool"):
            print("     SKIP: promtool not installed")
        elif not files:
            print("     (no config/prometheus/*.yaml yet)")
        else:
            rc, out = run(["promtool", "check", "rules"] + files)
            check(rc == 0, "rc %d: %s", rc, out)

    with suite.case("amtool check-config docker/alertmanager.yml"):
        if not shutil.which("amtool"):
            print("     SKIP: amtool not installed (scripts/install-deps.sh)")
        else:
            rc, out = run(["amtool", "check-config", os.path.join(DOCKER, "alertmanager.yml")])
            check(rc == 0 and "SUCCESS" in out, "rc %d: %s", rc, out)

    with suite.case("every config under config/ and docker/ validates with its program"):
        check(os.access(server_bin, os.X_OK) and os.access(shipper_bin, os.X_OK),
              "noa-server / noa-shipper not built in %s", H.BIN)
        seen = {"noa-server": [], "shipper": []}
        for path in config_files():
            kind = classify(path)
            check(kind is not None, "%s: not a config this test knows (noa-server, shipper, "
                  "prometheus, alertmanager, grafana, rules)", rel(path))
            if kind == "noa-server":
                rc, out = verify_server(server_bin, path)
                check(rc == 0, "noa-server -config.verify %s: rc %d\n%s", rel(path), rc, out)
            elif kind == "shipper":
                rc, out = verify_shipper(shipper_bin, path)
                check(rc == 0, "noa-shipper -check-syntax %s: rc %d\n%s", rel(path), rc, out)
            else:
                continue
            seen[kind].append(rel(path))
        print("     noa-server: %s" % ", ".join(seen["noa-server"]))
        print("     noa-shipper: %s" % ", ".join(seen["shipper"]))
        check("docker/noa-server.yaml" in seen["noa-server"] and "config/noa.yaml" in seen["noa-server"],
              "%r", seen)
        check("docker/noa-shipper.yaml" in seen["shipper"], "%r", seen)

    with suite.case("every check fails on a broken copy"):
        broken_cases(tmp, compose, server_bin, shipper_bin, allowed)


def dclint_cmd(path):
    # no-build-and-image: `build` makes the image and `image` tags it, on
    # purpose. require-project-name-field: a top-level `name` breaks
    # docker-compose 1.29. Warnings count as failures.
    return [os.path.join(NPM_BIN, "dclint"), path, "--max-warnings", "0", "--color", "false",
            "--disable-rule", "no-build-and-image", "--disable-rule", "require-project-name-field"]


def write(tmp, name, text):
    p = os.path.join(tmp, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def broken_cases(tmp, compose, server_bin, shipper_bin, allowed):
    """Each check, run on a copy with one defect, must fail."""
    with open(COMPOSE) as f:
        ctext = f.read()
    bdir = os.path.join(tmp, "broken")
    os.makedirs(bdir)
    if shutil.which("docker-compose"):
        p = write(bdir, "compose.yaml", ctext.replace("    restart: unless-stopped\n",
                                                      "    restartt: unless-stopped\n", 1))
        rc, out = run(["docker-compose", "-f", p, "config", "-q"], cwd=bdir, env=clean_env())
        check(rc != 0, "docker-compose accepted an unknown key")
    if os.access(os.path.join(NPM_BIN, "dclint"), os.X_OK):
        p = write(bdir, "compose.yaml", re.sub(r"image: grafana/grafana:\S+", "image: grafana/grafana:latest",
                                               ctext))
        rc, out = run(dclint_cmd(p), timeout=120)
        check(rc != 0 and "latest" in out, "dclint accepted :latest: %s", out)
    bad = yaml.safe_load(ctext)
    bad["services"]["grafana"]["image"] = "grafana/grafana:latest"
    bad["services"]["noa-shipper"]["depends_on"]["noa-server"]["condition"] = "service_started"
    bad["services"]["noa-server"]["stop_grace_period"] = "10s"
    bad["services"]["prometheus"]["command"].remove("--web.enable-remote-write-receiver")
    probs = "\n".join(compose_problems(bad))
    for want in ("grafana/grafana:latest", "noa-shipper: depends_on noa-server", "stop_grace_period 10s",
                 "remote-write-receiver"):
        check(want in probs, "compose checks missed %r: %s", want, probs)
    check(mount_source(bad["services"]["noa-server"], "/nowhere") is None, "mount_source")
    bad = yaml.safe_load(ctext.replace("../config/rules:", "../config/rulez:"))
    check(any("config/rulez" in m for m in missing_mounts(bad)), "missing mount not found")

    with open(os.path.join(DOCKER, "server.Dockerfile")) as f:
        dtext = f.read()
    mutations = [
        ("FROM debian:12.11-slim", "FROM debian:latest", "DL3007"),
        ("FROM debian:12.11-slim", "FROM debian:bookworm-slim", "point release"),
        ("FROM debian:12.11 AS build", "FROM debian AS build", "DL3006"),
        ("USER 10001:10001", "USER root", "DL3002"),
        ("USER 10001:10001", "", "DL3002"),
        ("HEALTHCHECK --interval", "# HEALTHCHECK --interval", "HEALTHCHECK"),
        ("/ready\"", "/metrics\"", "HEALTHCHECK"),
        ("STOPSIGNAL SIGTERM", "", "STOPSIGNAL"),
        ("VOLUME [\"/var/lib/noa\"]", "", "VOLUME"),
        ("apt-get install -y --no-install-recommends \\\n      ca-certificates",
         "apt-get install -y \\\n      ca-certificates", "DL3015"),
        ("apt-get install -y --no-install-recommends \\\n      ca-certificates",
         "apt-get install --no-install-recommends \\\n      ca-certificates", "DL3014"),
        (" \\\n && rm -rf /var/lib/apt/lists/* \\\n && groupadd", " \\\n && groupadd", "DL3009"),
        ("\"-config.expand-env=true\"", "\"-x\"", "expand-env"),
        ("COPY --from=build", "COPY --from=builder", "DL3022"),
        ("WORKDIR /src", "WORKDIR src", "DL3000"),
        ("WORKDIR /src\n", "WORKDIR /src\nMAINTAINER me\n", "DL4000"),
        ("COPY docker/noa-server.yaml", "COPY docs/noa-server.yaml", "dockerignore"),
    ]
    for old, new, what in mutations:
        check(old in dtext, "mutation target %r not in server.Dockerfile", old)
        probs = lint_dockerfile(dtext.replace(old, new, 1), allowed)
        want = what.lower()
        check(any(want in p.lower() or (want == "dockerignore" and ".dockerignore" in p) for p in probs),
              "the checklist missed %s: %r", what, probs)
    if os.access(os.path.join(NPM_BIN, "dockerfile-utils"), os.X_OK):
        p = write(bdir, "Dockerfile", dtext.replace("WORKDIR /src\n", "WORKDIR /src\nMAINTAINER me\n"))
        rc, out = run([os.path.join(NPM_BIN, "dockerfile-utils"), "lint", p])
        check(out.strip(), "dockerfile-utils silent on MAINTAINER")
    # A build context without logcli/ has no noa-logcli target.
    try:
        configure_context(bdir, "server.Dockerfile", dtext.replace("COPY logcli/ logcli/\n", ""), allowed)
    except H.TestFailure as e:
        check("noa-logcli" in str(e), "%s", e)
    else:
        raise H.TestFailure("a context without logcli/ configured with a noa-logcli target")
    # A runtime list without rocksdb misses the server's NEEDED library.
    _, stages = parse_dockerfile(dtext)
    pkgs = [p for i in stages[-1][1] if i.name == "RUN" for p in apt_installs(i.args)]
    check("librocksdb7.8" in pkgs, "%r", pkgs)
    probs = runtime_problems([p for p in pkgs if p != "librocksdb7.8"], [server_bin])
    check(any("librocksdb" in p for p in probs), "%r", probs)

    if shutil.which("promtool"):
        p = write(bdir, "prometheus.yml", "scrape_configs:\n  - job_name: a\n    static_configs:\n"
                  "      - targets: [\"noa-server\"]\n    scrape_intervall: 5s\n")
        rc, _ = run(["promtool", "check", "config", p])
        check(rc != 0, "promtool accepted an unknown key")
        rc, out = run(["promtool", "check", "config", os.path.join(DOCKER, "prometheus.yml")])
        check(rc != 0, "promtool found the in-container rule path from the host: %s", out)
    if shutil.which("amtool"):
        p = write(bdir, "am.yml", "route:\n  receiver: nobody\nreceivers:\n  - name: default\n")
        rc, _ = run(["amtool", "check-config", p])
        check(rc != 0, "amtool accepted a route to an unknown receiver")
    with open(os.path.join(DOCKER, "noa-server.yaml")) as f:
        stext = f.read()
    p = write(bdir, "noa-server.yaml", stext.replace("  log_level:", "  log_levle:", 1))
    rc, out = verify_server(server_bin, p)
    check(rc != 0 and "log_levle" in out, "noa-server -config.verify accepted a misspelt key: %s", out)
    p = write(bdir, "noa-server2.yaml", stext.replace("${NOA_HTTP_PORT:-3100}", "${NOA_HTTP_PORT:-x}"))
    rc, out = verify_server(server_bin, p)
    check(rc != 0, "noa-server -config.verify accepted port x: %s", out)
    with open(os.path.join(DOCKER, "noa-shipper.yaml")) as f:
        shtext = f.read()
    p = write(bdir, "noa-shipper.yaml", shtext.replace("      - docker: {}", "      - dockker: {}", 1))
    rc, out = verify_shipper(shipper_bin, p)
    check(rc != 0, "noa-shipper -check-syntax accepted an unknown stage: %s", out)
    check(classify(write(bdir, "unknown.yaml", "foo: 1\n")) is None, "classify")


if __name__ == "__main__":
    H.main("packaging", body)
