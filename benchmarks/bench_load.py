"""Load check: N concurrent browser sessions (Playwright contexts in one Chromium) browse a release's latent
cards, meta-latent cards and the latent map on a local server for a bounded time.

    .venv/bin/python benchmarks/bench_load.py [--sessions 20] [--seconds 90] [--release smollm2-wordnet]

Each session loops: open a random latent's card, a random meta-latent's card, the map (coloured by
meta-latent), each in a fresh page. "Ready" is the time from navigation to the view's proof (the
card's heading and first top example, the meta card's member list, the map's WebGL plot). Errors are
pages that show an `st.error`/exception box or time out. Server memory is sampled every second (RSS of
the Streamlit process). Prints one table; not a test.
"""

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
TIMEOUT_MS = 120_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def visit(context, url: str, proof: str) -> tuple[float, bool]:
    page = await context.new_page()
    start = time.perf_counter()
    try:
        await page.goto(url)
        await page.locator(proof).first.wait_for(timeout=TIMEOUT_MS)
        ok = await page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count() == 0
    except Exception:
        ok = False
    finally:
        elapsed = time.perf_counter() - start
        await page.close()
    return elapsed, ok


def view_maker(release: str, sae: str, d_sae: int, n_meta: int):
    def pick(draw: random.Random) -> tuple[str, str, str]:
        kind = draw.choice(["card", "card", "meta", "map"])
        if kind == "card":
            return (
                kind,
                f"/latent?release={release}&sae={sae}&latent={draw.randrange(d_sae)}",
                ".example, [data-testid='stAlert']",
            )
        if kind == "meta":
            return kind, f"/meta?release={release}&sae={sae}&m={draw.randrange(n_meta)}", "text=Member latents"
        return kind, f"/map?release={release}&sae={sae}", ".js-plotly-plot"

    return pick


async def run(args: argparse.Namespace, base: str, pid: int) -> None:
    from playwright.async_api import async_playwright

    from backend.sources.catalog import get_release

    release = get_release(args.release)
    meta = release.meta_saes[0]
    pick = view_maker(release.id, meta.over, release.sae(meta.over).d_sae or 1, meta.d_sae or 1)
    results: list[tuple[str, float, bool]] = []
    memory: list[float] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        # Warm the caches once (model, SAE, decompositions, map), as a deployment is warm after its first visitor.
        warm = await browser.new_context()
        for kind in ("card", "meta", "map"):
            draw = random.Random(0)
            while True:
                view = pick(draw)
                if view[0] == kind:
                    break
            await visit(warm, base + view[1], view[2])
        await warm.close()
        until = time.time() + args.seconds
        cpu_start = cpu_seconds(pid)

        async def sample() -> None:
            while time.time() < until:
                memory.append(rss_mb(pid))
                await asyncio.sleep(1)

        async def one(number: int) -> None:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            draw = random.Random(number)
            while time.time() < until:
                kind, url, proof = pick(draw)
                elapsed, ok = await visit(context, base + url, proof)
                results.append((kind, elapsed, ok))
            await context.close()

        await asyncio.gather(sample(), *(one(i) for i in range(args.sessions)))
        server_cpu = cpu_seconds(pid) - cpu_start
        await browser.close()
    report(results, memory, args)
    # Browser and server share the machine: the server's share of its CPU says which one was the bottleneck.
    cores = os.cpu_count() or 1
    print(
        f"server CPU {server_cpu:.0f} s of {args.seconds * cores} core-seconds ({server_cpu / (args.seconds * cores):.0%})"
    )


def report(results: list[tuple[str, float, bool]], memory: list[float], args: argparse.Namespace) -> None:
    print(f"{args.sessions} sessions for {args.seconds} s on {args.release}:")
    print("| view | pages | errors | p50 ready s | p95 ready s |")
    print("| --- | --- | --- | --- | --- |")
    for kind in ("card", "meta", "map", "all"):
        rows = [r for r in results if kind in ("all", r[0])]
        times = sorted(r[1] for r in rows)
        if not times:
            continue
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        errors = sum(not r[2] for r in rows)
        print(f"| {kind} | {len(rows)} | {errors} | {statistics.median(times):.2f} | {p95:.2f} |")
    if memory:
        print(f"server RSS: start {memory[0]:.0f} MB, max {max(memory):.0f} MB, end {memory[-1]:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=90)
    parser.add_argument("--release", default="smollm2-wordnet")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "scripts/serve.py", "--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(120):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        asyncio.run(run(args, f"http://127.0.0.1:{port}", server.pid))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
