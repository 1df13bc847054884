"""Potjans & Diesmann (2014) side by side: Spikelab and NEST on the same model, the
same machine, one after the other. Prints a Markdown table (build time, real-time
factor, peak memory per synapse, per-population rates and ISI CVs).

    cargo build --release
    python3 -m venv /tmp/nest && /tmp/nest/bin/pip install nest-simulator
    python3 benches/potjans_2014/compare.py --nest-python /tmp/nest/bin/python \\
        --scale-neurons 0.1 --duration-ms 1000 --threads 2 [--nest-threads 4]

Spikelab runs `spikelab run examples/potjans_2014.toml` and reads its summary.json;
NEST runs nest_potjans_2014.py beside this file. Both simulate the transient
(500 ms) and then the duration; rates and CVs are over the duration.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def shared_args(a):
    """The options both simulators take alike."""
    return [
        "--scale-neurons",
        str(a.scale_neurons),
        "--duration-ms",
        str(a.duration_ms),
        "--transient-ms",
        str(a.transient_ms),
    ]


def spikelab(a):
    out = tempfile.mkdtemp(prefix="pd_spikelab_")
    run_dir = os.path.join(out, "run")
    cmd = [
        a.spikelab,
        "run",
        os.path.join(ROOT, "examples", "potjans_2014.toml"),
        *shared_args(a),
        "--threads",
        str(a.threads),
        "--out",
        run_dir,
        "--no-plot",
        "--quiet",
    ]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(run_dir, "summary.json")) as f:
        s = json.load(f)
    return {
        "simulator": f"Spikelab {s['spikelab_version']}",
        "threads": s["threads"],
        "synapses": s["synapses"],
        "build_s": s["build_s"],
        "real_time_factor": s["real_time_factor"],
        "peak_rss_mib": s["peak_rss_mib"],
        "bytes_per_synapse": s["peak_rss_mib"] * 1048576.0 / max(s["synapses"], 1),
        "populations": s["populations"],
    }


def nest(a):
    cmd = [
        a.nest_python,
        os.path.join(HERE, "nest_potjans_2014.py"),
        *shared_args(a),
        "--threads",
        str(a.nest_threads or a.threads),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    # NEST prints a banner before the JSON.
    return json.loads(out[out.index("{") :])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spikelab", default=os.path.join(ROOT, "target", "release", "spikelab"))
    ap.add_argument("--nest-python", default=None, help="a Python with nest-simulator")
    ap.add_argument("--scale-neurons", type=float, default=0.1)
    ap.add_argument("--duration-ms", type=float, default=1000.0)
    ap.add_argument("--transient-ms", type=float, default=500.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--nest-threads", type=int, default=None)
    a = ap.parse_args()
    rows = [spikelab(a)]
    if a.nest_python:
        rows.append(nest(a))
    else:
        print("(no --nest-python: Spikelab only)", file=sys.stderr)
    print(
        f"Potjans & Diesmann 2014, neurons x {a.scale_neurons}, "
        f"{a.transient_ms:g} ms transient + {a.duration_ms:g} ms"
    )
    print()
    print("| simulator | threads | synapses | build (s) | real-time factor | peak RSS (MiB) | bytes/synapse |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['simulator']} | {r['threads']} | {r['synapses']:,} | {r['build_s']:.1f} | "
            f"{r['real_time_factor']:.2f} | {r['peak_rss_mib']:.0f} | {r['bytes_per_synapse']:.1f} |"
        )
    if len(rows) == 2:
        print()
        print(
            f"Spikelab / NEST: real-time factor {rows[1]['real_time_factor'] / rows[0]['real_time_factor']:.2f}x faster, "
            f"build {rows[1]['build_s'] / rows[0]['build_s']:.2f}x faster, "
            f"memory {rows[1]['peak_rss_mib'] / rows[0]['peak_rss_mib']:.2f}x less"
        )
    print()
    names = [p["name"] for p in rows[0]["populations"]]
    print("| population | " + " | ".join(f"{r['simulator']} rate (Hz) / ISI CV" for r in rows) + " |")
    print("| --- |" + " --- |" * len(rows))
    for k, name in enumerate(names):
        cells = []
        for r in rows:
            p = r["populations"][k]
            cv = p.get("isi_cv_mean")
            cells.append(f"{p['rate_hz']:.2f} / {cv:.2f}" if cv is not None else f"{p['rate_hz']:.2f} / -")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
