"""bench/compare --mqtt: Warren's MQTT against Mosquitto and RabbitMQ's MQTT plugin.

Scenarios M1-M7 (see SCENARIOS), each on a freshly started broker process, the three
brokers alternating (the order rotates every round), driven by `warren-perf --mqtt`.
Medians over the rounds, ratios against Mosquitto and RabbitMQ, broker CPU per
message and peak memory go to the MQTT section of docs/performance.md (between
<!-- MQTT begin --> and <!-- MQTT end -->, kept when the rest of the doc is
regenerated). Raw records stay under target/bench/<stamp>/.

`compare` is the bench/compare module itself (its Sampler, /proc readers, Warren and
RabbitMQ classes); this file adds Mosquitto and the MQTT listeners.
"""
import datetime
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import time

MOSQUITTO_BIN = "/usr/sbin/mosquitto"
RMQ_MQTT_PORT = 1899
BROKERS = ("warren", "mosquitto", "rabbitmq")
LABEL = {"warren": "Warren", "mosquitto": "Mosquitto", "rabbitmq": "RabbitMQ"}
BEGIN, END = "<!-- MQTT begin -->", "<!-- MQTT end -->"

# name -> (title, warren-perf arguments for a full run, for a --quick run)
def scenarios(quick):
    # QoS 1/2 runs wait up to 2 minutes for a backlog to drain, so that "lost" means
    # lost and not "still queued when the drain ended".
    drain = ["--drain-timeout", "120"]
    d = "3" if quick else "5"
    lat = "5" if quick else "10"
    n = "2000" if quick else "10000"
    hold = "2" if quick else "5"
    return {
        "M1": ("M1: QoS 0, 1 → 1, 64 B, unlimited rate",
               ["--qos", "0", "--size", "64", "--duration", d]),
        "M2": ("M2: QoS 1, 1 → 1, 256 B, 100 in flight",
               ["--qos", "1", "--size", "256", "--inflight", "100", "--duration", d] + drain),
        "M3": ("M3: fan-out, 1 publisher → 50 subscribers on one topic, QoS 0, 64 B",
               ["--qos", "0", "--consumers", "50", "--size", "64", "--duration", d]),
        "M4": ("M4: 10 publishers on sensors/<i>/temp → 1 subscriber on sensors/+/temp, "
               "QoS 1, 64 B, 100 in flight each",
               ["--qos", "1", "--producers", "10", "--topic", "sensors/{i}/temp",
                "--size", "64", "--inflight", "100", "--duration", d] + drain),
        "M5": ("M5: QoS 1 at a fixed 1,000 msg/s, 1 → 1, 64 B: end-to-end latency",
               ["--qos", "1", "--rate", "1000", "--size", "64", "--duration", lat]),
        "M6": (f"M6: {int(n):,} idle MQTT 3.1.1 clients (keep-alive 0)",
               ["--idle-connections", n, "--duration", hold]),
        "M6s": (f"M6s: {int(n):,} idle clients with one QoS 1 subscription each",
                ["--idle-connections", n, "--idle-subscribe", "--qos", "1", "--duration", hold]),
        "M7a": ("M7a: QoS 2, 1 → 1, 256 B, 20 in flight (MQTT 3.1.1)",
                ["--qos", "2", "--size", "256", "--inflight", "20", "--duration", d] + drain),
        "M7b": ("M7b: QoS 2, 1 → 1, 256 B, 100 in flight (MQTT 3.1.1)",
                ["--qos", "2", "--size", "256", "--inflight", "100", "--duration", d] + drain),
    }


ALL = ["M1", "M2", "M3", "M4", "M5", "M6", "M6s", "M7a", "M7b"]


def expand(names):
    out = []
    for n in names:
        n = n.strip()
        if n.upper() == "M6":
            out += ["M6", "M6s"]
        elif n.upper() == "M7":
            out += ["M7a", "M7b"]
        elif n in ALL:
            out.append(n)
        elif n:
            raise SystemExit(f"unknown MQTT scenario {n} (M1-M7)")
    return [s for s in ALL if s in out]


def mqtt_ready(port, timeout=1.0):
    """True when the port answers an MQTT 3.1.1 CONNECT with a CONNACK."""
    connect = (b"\x10\x0f\x00\x04MQTT\x04\x02\x00\x3c\x00\x03rdy")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(connect)
            data = s.recv(4)
            return len(data) >= 2 and data[0] == 0x20
    except OSError:
        return False


def wait_mqtt(broker, port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if broker.proc.poll() is not None:
            raise RuntimeError(f"{broker.name} exited during start (rc {broker.proc.returncode})")
        if mqtt_ready(port):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{broker.name}: no MQTT listener on {port} after {timeout} s")


def ensure_mosquitto(log):
    if os.path.exists(MOSQUITTO_BIN):
        return
    log("installing mosquitto (apt)")
    script = (f"test -x {MOSQUITTO_BIN} || "
              "{ apt-get update && DEBIAN_FRONTEND=noninteractive "
              "apt-get install -y --no-install-recommends mosquitto; }")
    subprocess.run(["flock", "/tmp/mosquitto-install.lock", "sh", "-c", script], check=True)


class Mosquitto:
    """Our own mosquitto on a free loopback port: persistence off, no queue limit (so
    QoS 1 is never dropped for a slow subscriber), Nagle off like the other two."""
    name = "mosquitto"

    def __init__(self, rundir, c):
        self.rundir, self.c = rundir, c
        self.proc = self.pid = None

    def start(self, tag):
        self.mqtt_port = self.c.free_port()
        conf = os.path.join(self.rundir, f"{tag}-mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"listener {self.mqtt_port} 127.0.0.1\n"
                    "allow_anonymous true\n"
                    "persistence false\n"
                    "max_queued_messages 0\n"
                    "max_queued_bytes 0\n"
                    "set_tcp_nodelay true\n"
                    "log_dest stderr\n"
                    "log_type error\n"
                    "log_type warning\n")
        self.logf = open(os.path.join(self.rundir, "mosquitto.log"), "ab")
        self.proc = subprocess.Popen([MOSQUITTO_BIN, "-c", conf], cwd=self.rundir,
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid = self.proc.pid
        wait_mqtt(self, self.mqtt_port, 30)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()
        self.proc = None

    @staticmethod
    def version():
        v = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "mosquitto"],
                           capture_output=True, text=True).stdout.strip()
        return f"mosquitto {v} (Debian package)"


def warren_mqtt(c, rundir):
    """bench/compare's Warren with its MQTT listener on a free port."""
    class WarrenMqtt(c.Warren):
        def start(self, tag):
            self.mqtt_port = c.free_port()
            # STOMP on a free port too: the shared RabbitMQ holds 61613.
            ports = {"WARREN_MQTT_PORT": str(self.mqtt_port), "WARREN_STOMP_PORT": "0"}
            os.environ.update(ports)
            try:
                super().start(tag)
            finally:
                for k in ports:
                    del os.environ[k]
            wait_mqtt(self, self.mqtt_port, 30)
    return WarrenMqtt(rundir)


def rabbitmq_mqtt(c, rundir):
    """bench/compare's own RabbitMQ node with rabbitmq_mqtt enabled and its MQTT
    listener on RMQ_MQTT_PORT (the shared node on 1883 is left alone)."""
    class RabbitMqtt(c.RabbitMQ):
        plugins = "[rabbitmq_mqtt]"

        def start(self, tag):
            self.mqtt_port = RMQ_MQTT_PORT
            os.makedirs(c.RMQ_BASE, exist_ok=True)
            with open(os.path.join(c.RMQ_BASE, "rabbitmq.conf"), "w") as f:
                f.write(f"mqtt.listeners.tcp.default = 127.0.0.1:{RMQ_MQTT_PORT}\n"
                        "mqtt.allow_anonymous = true\n")
            super().start(tag)
            wait_mqtt(self, RMQ_MQTT_PORT, 60)

        def stop(self):
            super().stop()
            conf = os.path.join(c.RMQ_BASE, "rabbitmq.conf")
            if os.path.exists(conf):
                os.remove(conf)

    return RabbitMqtt(rundir)


# --------------------------------------------------------------------------- runs

def run_one(c, broker, scen, args_, rundir, rnd):
    rec = {"broker": broker.name, "scenario": scen, "round": rnd, "args": args_,
           "loadavg_start": c.loadavg()}
    t0 = time.monotonic()
    try:
        broker.start(f"r{rnd}-{broker.name}-{scen}")
    except RuntimeError:
        broker.stop()
        raise
    rec["start_seconds"] = round(time.monotonic() - t0, 2)
    tag = f"r{rnd}-{broker.name}-{scen}"
    try:
        time.sleep(3 if broker.name == "rabbitmq" else 1)
        pid = broker.pid
        rec["broker_pid"] = pid
        rec["idle_rss_kb"] = c.proc_status_kb(pid, "VmRSS")
        rec["loadavg_run"] = c.loadavg()
        sampler = c.Sampler(pid)
        cpu0, busy0, wall0 = c.proc_cpu_s(pid), c.system_busy_s(), time.monotonic()
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        sampler.start()
        cmd = [c.PERF, "--mqtt", f"127.0.0.1:{broker.mqtt_port}", "--broker-pid", str(pid),
               "--json", "--quiet"] + args_
        rec["cmd"] = cmd[1:]
        errp = os.path.join(rundir, f"{tag}.stderr")
        with open(errp, "w") as errf:
            try:
                p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=errf, text=True,
                                   timeout=600)
                rec["rc"], out = p.returncode, p.stdout.strip()
            except subprocess.TimeoutExpired:
                rec["rc"], rec["aborted"], out = None, "over 600 s", ""
        wall = time.monotonic() - wall0
        sampler.stop()
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu1, busy1 = c.proc_cpu_s(pid), c.system_busy_s()
        perf_cpu = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
        rec["wall_seconds"] = round(wall, 3)
        rec["broker_cpu_s"] = round(cpu1 - cpu0, 3)
        rec["perf_cpu_s"] = round(perf_cpu, 3)
        rec["other_cores"] = round(max(0.0, busy1 - busy0 - (cpu1 - cpu0) - perf_cpu) / wall, 3)
        rec["peak_rss_kb"] = max(sampler.peak_kb, c.proc_status_kb(pid, "VmHWM") or 0)
        rec["series"] = sampler.series
        try:
            rec["perf"] = json.loads(out.splitlines()[-1]) if out else None
        except ValueError:
            rec["perf"] = None
        if rec["perf"] is None:
            with open(errp) as f:
                rec["error"] = f.read()[-1500:].strip() or "no output"
    finally:
        broker.stop()
    with open(os.path.join(rundir, f"{tag}.json"), "w") as f:
        json.dump(rec, f, indent=1)
    return rec


def metrics(rec):
    d = rec.get("perf") or {}
    m = {"peak_rss_mb": (rec.get("peak_rss_kb") or 0) / 1024,
         "idle_rss_mb": (rec.get("idle_rss_kb") or 0) / 1024,
         "other_cores": rec.get("other_cores"),
         "load1": (rec.get("loadavg_run") or rec["loadavg_start"])[0],
         "errors": list(d.get("errors") or [])}
    if rec.get("error"):
        m["errors"].append(rec["error"][-300:])
    if d.get("scenario") == "mqtt":
        a = d.get("accounting") or {}
        m["rate"] = d.get("consume_rate")
        m["publish_rate"] = d.get("publish_rate")
        m["broker_cpu_us"] = (d.get("broker") or {}).get("cpu_us_per_msg")
        m["perf_cpu_us"] = (d.get("perf") or {}).get("cpu_us_per_msg")
        lat = d.get("e2e_latency") or {}
        m["p50_us"], m["p99_us"], m["p999_us"] = (lat.get("p50_us"), lat.get("p99_us"),
                                                 lat.get("p999_us"))
        for k in ("expected", "missing", "duplicates", "reordered"):
            m[k] = a.get(k)
        m["loss_pct"] = 100.0 * a["missing"] / a["expected"] if a.get("expected") else None
        if d.get("published") and rec.get("peak_rss_kb") and rec.get("idle_rss_kb"):
            m["growth_b_per_msg"] = ((rec["peak_rss_kb"] - rec["idle_rss_kb"]) * 1024
                                     / d["published"])
    elif d.get("scenario") == "mqtt-idle-connections":
        m["kb_per_conn"] = d.get("broker_kb_per_connection")
        m["connections"] = d.get("connections")
        m["idle_cpu_pct"] = d.get("broker_idle_cpu_pct")
        m["open_rate"] = d.get("opened_per_s")
    return m


def med(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def main(args, rundir, c):
    ensure_mosquitto(c.log)
    c.ensure_rabbitmq()
    plan = expand(args.mqtt_scenarios.split(","))
    table = scenarios(args.quick)
    rounds = args.rounds or (1 if args.quick else 3)
    res = {"quick": args.quick, "rounds": rounds, "scenarios": plan, "rundir": rundir,
           "started": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"),
           "load_start": c.loadavg(), "machine": c.machine_info(),
           "mosquitto": Mosquitto.version(), "runs": []}
    if not args.quick:
        res["waited_s"] = c.wait_for_quiet(args.max_load, args.max_wait)
    brokers = {"warren": warren_mqtt(c, rundir), "mosquitto": Mosquitto(rundir, c),
               "rabbitmq": rabbitmq_mqtt(c, rundir)}
    path = os.path.join(rundir, "mqtt.json")

    def save():
        res["finished"] = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")
        with open(path, "w") as f:
            json.dump(res, f, indent=1)

    def on_term(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    try:
        for rnd in range(1, rounds + 1):
            k = (rnd - 1) % len(BROKERS)
            order = BROKERS[k:] + BROKERS[:k]
            for s in plan:
                for b in order:
                    c.log(f"round {rnd}/{rounds} {s} {LABEL[b]} (load {c.loadavg()[0]:.2f})")
                    try:
                        rec = run_one(c, brokers[b], s, table[s][1], rundir, rnd)
                    except RuntimeError as e:
                        c.log(f"  failed: {e}")
                        rec = {"broker": b, "scenario": s, "round": rnd, "args": table[s][1],
                               "loadavg_start": c.loadavg(), "perf": None, "error": str(e)}
                    res["runs"].append(rec)
                    m = metrics(rec)
                    c.log("  " + ", ".join(f"{k} {v:,.2f}" if isinstance(v, float) else
                                           f"{k} {v}" for k, v in m.items()
                                           if v not in (None, [], 0)))
                    save()
    except KeyboardInterrupt:
        c.log("interrupted; writing what there is")
    finally:
        for b in brokers.values():
            try:
                b.stop()
            except Exception as e:  # noqa: BLE001
                c.log(f"stopping {b.name}: {e}")
        save()
    write(path, args.doc)


# ------------------------------------------------------------------------- report

def fnum(v, digits=None):
    if v is None:
        return "–"
    if digits is None:
        digits = 0 if abs(v) >= 100 else (1 if abs(v) >= 10 else 2)
    return f"{v:,.{digits}f}"


def flat(us):
    if us is None:
        return "–"
    return f"{us / 1000:,.2f} ms" if us >= 1000 else f"{us:,.0f} µs"


def ratio(a, b):
    return a / b if (a is not None and b) else None


def rtext(r):
    return "–" if r is None else f"{r:,.2f}×"


class MqttReport:
    def __init__(self, res):
        self.res = res
        self.runs = {}
        for rec in res["runs"]:
            self.runs.setdefault((rec["scenario"], rec["broker"]), []).append(metrics(rec))
        self.targets = []

    def m(self, s, b, key):
        return med(self.runs.get((s, b), []), key)

    def target(self, what, value, goal_text, met):
        self.targets.append((what, value, goal_text, met))

    def at_least_mosquitto(self, s, key, what, higher_better=True):
        w, mo = self.m(s, "warren", key), self.m(s, "mosquitto", key)
        r = ratio(w, mo)
        met = None if r is None else (r >= 1.0 if higher_better else r <= 1.0)
        self.target(f"{s} {what}", rtext(r) + " of Mosquitto",
                    "≥ 1×" if higher_better else "≤ 1×", met)

    def table(self, s, rows):
        L = ["| figure | Warren | Mosquitto | RabbitMQ | Warren / Mosquitto | "
             "Warren / RabbitMQ |", "|---|---:|---:|---:|---:|---:|"]
        for label, key, f in rows:
            v = [self.m(s, b, key) for b in BROKERS]
            L.append(f"| {label} | {f(v[0])} | {f(v[1])} | {f(v[2])} | "
                     f"{rtext(ratio(v[0], v[1]))} | {rtext(ratio(v[0], v[2]))} |")
        L.append("")
        for b in BROKERS:
            runs = self.runs.get((s, b), [])
            if not runs:
                continue
            la = ", ".join(f"{r['load1']:.2f}" for r in runs)
            oc = ", ".join(fnum(r.get("other_cores"), 2) for r in runs)
            line = (f"{LABEL[b]}: {len(runs)} run(s); load average (1 min) at each: {la}; "
                    f"other processes' CPU: {oc} cores.")
            loss = [(r.get("missing"), r.get("duplicates")) for r in runs
                    if r.get("missing") or r.get("duplicates")]
            if loss:
                line += (f" **Not delivered when the drain ended / duplicated** (per run): "
                         f"{loss}.")
            L.append(line)
            # The same error with different numbers (packet ids, counts) once.
            errs = {}
            for e in (e for r in runs for e in r["errors"]):
                errs.setdefault(re.sub(r"\d+", "N", e), e)
            for e in sorted(errs.values()):
                L.append(f"{LABEL[b]}: error reported: `{e[:300]}`")
        L.append("")
        return L

    def render(self):
        r, mi = self.res, self.res["machine"]
        table = scenarios(r["quick"])
        rate = lambda v: fnum(v, 0)  # noqa: E731
        us = lambda v: fnum(v, 2)  # noqa: E731
        mb = lambda v: fnum(v, 1)  # noqa: E731
        cnt = lambda v: fnum(v, 0)  # noqa: E731
        L = [BEGIN, "## MQTT: Warren, Mosquitto and RabbitMQ", "",
             f"Generated by `bench/compare --mqtt{' --quick' if r['quick'] else ''}` "
             f"({r['rounds']} round(s), brokers alternating), {r['started']} – "
             f"{r.get('finished', '?')} UTC, load average (1 min) at the start "
             f"{r['load_start'][0]:.2f}. {mi['nproc']} × {mi['cpu']}, {mi['ram_gib']} GiB, "
             f"shared with other work. Warren: {mi['warren']}; Mosquitto: {r['mosquitto']} "
             "(`persistence false`, `max_queued_messages 0`, default `max_inflight_messages` "
             "20); RabbitMQ: "
             f"{mi['rabbitmq']} with `rabbitmq_mqtt` (defaults: prefetch 10). Each run has "
             "a freshly started broker; `warren-perf --mqtt` (MQTT 3.1.1 unless said) runs "
             "on the same two cores. Figures are medians over the runs.", ""]
        if r["quick"]:
            L += ["**A `--quick` validation run** (one short round): rerun without `--quick` "
                  "for the figures that count.", ""]
        L += ["How to read it: *msg/s* is what the subscribers received per second (M3: "
              "deliveries, 50 per message); *broker CPU µs/msg* is the broker's CPU time "
              "(utime + stime from /proc) over the run divided by the messages it handled "
              "(the larger of published and delivered), the figure least disturbed by the "
              "other load on the machine; *warren-perf µs/msg* is the tool's own, to show it "
              "is not the bottleneck; *peak RSS* is the broker's highest resident memory "
              "(sampled every 100 ms); *not delivered* and *duplicates* are counted from "
              "per-publisher sequence numbers when the run ended: the publishers stopped and "
              "the subscribers had until everything arrived, nothing arrived for 2 s, or the "
              "drain time (`--drain-timeout`, 10 s unless given) was up.", ""]
        for s in r["scenarios"]:
            if not any((s, b) in self.runs for b in BROKERS):
                continue
            ran = next((rec["args"] for rec in r["runs"] if rec["scenario"] == s), table[s][1])
            L += [f"### {table[s][0]}", "", f"`warren-perf --mqtt ADDR {' '.join(ran)}`", ""]
            if s.startswith("M6"):
                rows = [("broker KB per client", "kb_per_conn", us),
                        ("clients held", "connections", cnt),
                        ("clients opened per s", "open_rate", rate),
                        ("broker idle CPU, % of a core", "idle_cpu_pct", us),
                        ("broker peak RSS, MB", "peak_rss_mb", mb)]
            else:
                rows = [("msg/s received", "rate", rate),
                        ("msg/s published", "publish_rate", rate),
                        ("broker CPU µs/msg", "broker_cpu_us", us),
                        ("warren-perf CPU µs/msg", "perf_cpu_us", us),
                        ("broker peak RSS, MB", "peak_rss_mb", mb),
                        ("e2e p50", "p50_us", flat), ("e2e p99", "p99_us", flat),
                        ("e2e p99.9", "p999_us", flat),
                        ("not delivered when the drain ended", "missing", cnt),
                        ("duplicates", "duplicates", cnt),
                        ("not delivered, % of expected", "loss_pct", us)]
                if s == "M4":
                    rows.append(("peak RSS growth, bytes per message published",
                                 "growth_b_per_msg", us))
            L += self.table(s, rows)
        # targets
        for s, what in (("M1", "throughput"), ("M2", "throughput"), ("M3", "throughput"),
                        ("M4", "throughput")):
            self.at_least_mosquitto(s, "rate", what)
        self.at_least_mosquitto("M5", "p99_us", "p99 latency", higher_better=False)
        for s in ("M7a", "M7b"):
            self.at_least_mosquitto(s, "rate", "QoS 2 throughput")
            runs = self.runs.get((s, "warren"), [])
            bad = [x for x in runs if x.get("missing") or x.get("duplicates")
                   or x.get("expected") is None]
            self.target(f"{s} Warren exactly once (undelivered at the drain's end + "
                        "duplicates, all runs)",
                        fnum(sum((x.get("missing") or 0) + (x.get("duplicates") or 0)
                                 for x in runs), 0),
                        "0", None if not runs else not bad)
        for s in ("M1", "M2", "M3", "M4", "M5", "M7a", "M7b"):
            self.at_least_mosquitto(s, "broker_cpu_us", "broker CPU per message",
                                    higher_better=False)
        for s, goal in (("M6", 4.0), ("M6s", 6.0)):
            w = self.m(s, "warren", "kb_per_conn")
            self.target(f"{s} Warren KB per idle client", fnum(w, 2), f"≤ {goal:g} KB",
                        None if w is None else w <= goal)
        w, mo = self.m("M4", "warren", "growth_b_per_msg"), self.m("M4", "mosquitto",
                                                                   "growth_b_per_msg")
        self.target("M4 memory bounded: Warren's peak RSS growth per message",
                    f"{fnum(w, 2)} B (Mosquitto {fnum(mo, 2)} B)", "≤ Mosquitto's",
                    None if (w is None or mo is None) else w <= mo)
        met = sum(1 for t in self.targets if t[3])
        known = sum(1 for t in self.targets if t[3] is not None)
        L += ["### MQTT targets", "", f"{met} of {known} met.", "",
              "| target | value | goal | |", "|---|---:|---|---|"]
        for what, v, goal, ok in self.targets:
            L.append(f"| {what} | {v} | {goal} | "
                     f"{'–' if ok is None else ('**met**' if ok else '**not met**')} |")
        notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mqtt-notes.md")
        if os.path.exists(notes):
            with open(notes) as f:
                L += ["", f.read().strip()]
        L += ["", END]
        return L


def splice(doc_text, block):
    if BEGIN in doc_text and END in doc_text:
        head, rest = doc_text.split(BEGIN, 1)
        return head + block + rest.split(END, 1)[1]
    return doc_text.rstrip("\n") + "\n\n" + block + "\n"


def block_of(doc_text):
    """The MQTT section of a doc, to carry over when the rest is regenerated."""
    if BEGIN in doc_text and END in doc_text:
        return BEGIN + doc_text.split(BEGIN, 1)[1].split(END, 1)[0] + END
    return None


def write(path, doc):
    with open(path) as f:
        res = json.load(f)
    block = "\n".join(MqttReport(res).render())
    text = open(doc).read() if os.path.exists(doc) else ""
    with open(doc, "w") as f:
        f.write(splice(text, block))
    print(f"wrote the MQTT section of {doc}", flush=True)
