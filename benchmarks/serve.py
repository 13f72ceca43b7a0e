"""`latentforge serve` under load: requests/s and latency of reconstruct and generate.

    python benchmarks/serve.py                         # trains a small vae first
    python benchmarks/serve.py --run runs/vae-fast --seconds 30 --clients 50

Starts `latentforge serve` in a subprocess on 127.0.0.1 (a free port) serving the parent
folder of --run (default: a dense vae, fast recipe, one epoch on 10,000 Fashion-MNIST
images, trained into a temporary folder: it both reconstructs and generates). Then, for
each endpoint in turn, --clients concurrent clients (asyncio + httpx, one connection
each) send requests back to back for --seconds:

- reconstruct: a multipart upload of one test image (PNG), answered with two PNG data
  URLs, the codings and the error;
- generate: JSON {"n": --n, "seed": i}, answered with n PNGs, their grid and codings.

Prints a markdown table: requests, requests/s, p50/p95/p99 latency in ms, errors (any
status other than 200, or a failed request; must be 0), and the server process's CPU
time per request (user + system, from /proc on Linux; "-" elsewhere), which does not
depend on what else the machine runs. The clients share the machine with the server, and
requests/s and latencies with every other process on it: the load average is printed.
"""
from __future__ import annotations

import argparse
import asyncio
import io
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

URL = re.compile(r"at (http://\S+/) ")


def train_run(root: Path) -> Path:
    """A vae (fast recipe, 1 epoch, 10,000 Fashion-MNIST images) in root/vae."""
    import latentforge as lf

    lf.train("vae", "fast", run_dir=root / "vae",
             overrides=["train.epochs=1", "data.limit_train=10000", "data.limit_eval=1000",
                        "train.progress=false"])
    return root / "vae"


def start_server(runs_dir: Path, threads: int | None) -> tuple[subprocess.Popen, str]:
    """`latentforge serve runs_dir --port 0 -q` in a subprocess; (process, its URL)."""
    env_threads = [] if threads is None else ["env", f"OMP_NUM_THREADS={threads}"]
    cmd = [*env_threads, sys.executable, "-m", "latentforge", "serve", str(runs_dir),
           "--port", "0", "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    match = URL.search(line)
    if not match:
        proc.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return proc, match.group(1)


def test_png(run_dir: Path) -> bytes:
    """The run's first test image as PNG bytes."""
    from PIL import Image

    import latentforge as lf

    x = lf.load_run(run_dir).split("test").x[0]
    out = io.BytesIO()
    Image.fromarray(x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()).save(
        out, format="PNG")
    return out.getvalue()


async def client_loop(client, request, deadline: float, latencies: list, errors: list):
    i = 0
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        try:
            r = await request(client, i)
            ok = r.status_code == 200
        except Exception as exc:  # counted, not raised: the table reports it
            ok, r = False, exc
        latencies.append(time.perf_counter() - start)
        if not ok:
            errors.append(r)
        i += 1


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` so far (Linux /proc), else None."""
    import os

    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(url: str, request, clients: int, seconds: float, pid: int) -> dict:
    """Run `clients` loops of `request` for `seconds`; the measured numbers."""
    import httpx

    latencies, errors = [], []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        await request(client, 0)  # warm-up: loads the run, fills its caches
        cpu, start = cpu_seconds(pid), time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(*(client_loop(client, request, deadline, latencies, errors)
                               for _ in range(clients)))
        elapsed, cpu_end = time.perf_counter() - start, cpu_seconds(pid)
    ms = np.asarray(latencies) * 1000
    return {"requests": len(ms), "rps": len(ms) / elapsed, "p50": np.percentile(ms, 50),
            "p95": np.percentile(ms, 95), "p99": np.percentile(ms, 99),
            "errors": len(errors), "first_error": repr(errors[0])[:200] if errors else "",
            "cpu_ms": None if cpu is None or cpu_end is None
            else (cpu_end - cpu) * 1000 / max(1, len(ms))}


def requests_for(run: str, png: bytes, n: int) -> dict:
    async def reconstruct(client, i):
        return await client.post(f"/api/runs/{run}/reconstruct",
                                 files={"image": ("item.png", png, "image/png")})

    async def generate(client, i):
        return await client.post(f"/api/runs/{run}/generate", json={"n": n, "seed": i})

    return {"reconstruct": reconstruct, f"generate (n={n})": generate}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", type=Path, help="a run folder that reconstructs and/or "
                   "generates (default: train a vae into a temporary folder)")
    p.add_argument("--seconds", type=float, default=30.0, help="per endpoint (default 30)")
    p.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    p.add_argument("--n", type=int, default=16, help="samples per generate request")
    p.add_argument("--threads", type=int, help="the server's OMP_NUM_THREADS (default: "
                   "torch's default)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.run.resolve() if args.run else train_run(Path(tmp))
        png = test_png(run_dir)
        proc, url = start_server(run_dir.parent, args.threads)
        try:
            caps = __import__("httpx").get(f"{url}api/runs/{run_dir.name}", timeout=120
                                           ).json()["endpoints"]
            rows = []
            for name, request in requests_for(run_dir.name, png, args.n).items():
                if name.split()[0] in caps:
                    rows.append((name, asyncio.run(load(url, request, args.clients,
                                                        args.seconds, proc.pid))))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    import os

    load_avg = " ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") \
        else "-"
    print(f"\nrun {run_dir.name}, {args.clients} clients, {args.seconds:g} s per endpoint, "
          f"server {url}, {os.cpu_count()} CPUs, load average {load_avg}\n")
    print("| endpoint | requests | requests/s | p50 ms | p95 ms | p99 ms | errors "
          "| server CPU ms/request |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in rows:
        cpu = "-" if r["cpu_ms"] is None else f"{r['cpu_ms']:.1f}"
        print(f"| {name} | {r['requests']} | {r['rps']:.1f} | {r['p50']:.0f} | "
              f"{r['p95']:.0f} | {r['p99']:.0f} | {r['errors']} | {cpu} |")
    for name, r in rows:
        if r["errors"]:
            print(f"{name}: first error: {r['first_error']}")


if __name__ == "__main__":
    main()
