"""Server capacity at the protocol level: N sessions speak Streamlit's websocket protocol directly (no browser),
each looping over random views of a built release, for a bounded time, on loopback.

    .venv/bin/python benchmarks/bench_load_protocol.py [--sessions 1 5 20 50] [--seconds 60] [--servers 1]
    .venv/bin/python benchmarks/bench_load_protocol.py --against REV [--reruns 100] [--views "latent card"]

What is timed is the server: from a `rerun_script` BackMsg (the query string of a latent card, a meta-latent
card, the overview or a label search; or, asked for by `--views`, the near-empty Add page) to the ForwardMsg
`script_finished`. Errors are reruns that send an exception element or an error box, end in a page-not-found, or
do not finish in 120 s. Server CPU and RSS are read from /proc (all server processes summed; with `--servers N`,
N Streamlit processes each take whole sessions, as behind a sticky proxy). Prints one table per run; not a test.

`--against REV` is an A/B in one sitting: this working tree's server and one of commit REV (a git worktree in a
temporary folder, same data), each rerun drawn once and sent to both, one at a time, in alternating order; it
prints each view's median on both and their ratio (the machine's speed drifts 10-20% between sittings).
"""

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from backend.sources.catalog import default_release_id, get_release, load_catalog  # noqa: E402
from backend.web.urlstate import MAP_COLOURS  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_load import cpu_seconds, free_port, rss_mb  # noqa: E402

RERUN_TIMEOUT = 120.0
KINDS = ("latent card", "meta card", "overview", "search")
TABLES = ("canonical table", "map")
"""Not in the default mix: the Canonical page with its latent table sorted and filtered, and the latent map (the
views whose cost grows with an SAE's size: issue 47 times them on the paper's SAE-98,304)."""
SORTS = ("novel", "seed_cosine", "meta_cosine", "split_coverage", "facets", "family_cosine")
FILTERS = ("", "novel", "not novel", "not novel,no split")
LIGHT = "add form"
"""Not in the default mix: the Add page of a read-only server (a few sentences), where a rerun's cost is the
router's and the transport's, as a fragment's or a widget's rerun mostly is."""
WORDS = ("the", "river", "king", "German", "music", "food", "north", "science")


@dataclass
class Views:
    """The views sessions pick from: (name, page url path, query parameters)."""

    release: str
    sae: str
    d_sae: int
    d_meta: int
    kinds: tuple[str, ...] = KINDS

    def draw(self, rng: random.Random) -> tuple[str, str, dict[str, str]]:
        base = {"release": self.release, "sae": self.sae}
        kind = rng.choice(self.kinds)
        if kind == "latent card":
            return kind, "latent", {**base, "latent": str(rng.randrange(self.d_sae))}
        if kind == "meta card":
            return kind, "meta", {**base, "m": str(rng.randrange(self.d_meta))}
        if kind == "overview":
            return kind, "", base
        if kind == LIGHT:
            return kind, "add", base
        if kind == "canonical table":
            return kind, "canonical", {**base, "sort": rng.choice(SORTS), "only": rng.choice(FILTERS)}
        if kind == "map":
            return kind, "map", {**base, "colour": rng.choice(MAP_COLOURS)}
        return kind, "search", {**base, "q": rng.choice(WORDS)}


@dataclass
class Results:
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    messages: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    """ForwardMsgs each rerun received: every element, block and status the page sends is one."""
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def rerun_message(page: str, params: dict[str, str]) -> bytes:
    msg = BackMsg()
    msg.rerun_script.query_string = urlencode(params)
    msg.rerun_script.page_name = page
    return msg.SerializeToString()


def failure(msg: ForwardMsg) -> str | None:
    """What makes this ForwardMsg a failed view, if anything."""
    kind = msg.WhichOneof("type")
    if kind == "page_not_found":
        return "page not found"
    if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
        element = msg.delta.new_element
        if element.WhichOneof("type") == "exception":
            return f"exception {element.exception.type}: {element.exception.message[:100]}"
        if element.WhichOneof("type") == "alert" and element.alert.format == element.alert.ERROR:
            return f"error box: {element.alert.body[:100]}"
    return None


async def session(port: int, views: Views, deadline: float, seed: int, results: Results) -> None:
    """Reruns until the deadline; a connection the server drops is an error, and the session connects again."""
    rng = random.Random(seed)
    url = f"ws://127.0.0.1:{port}/_stcore/stream"
    while time.monotonic() < deadline:
        try:
            async with websockets.connect(url, subprotocols=["streamlit"], max_size=None, open_timeout=60) as ws:  # type: ignore[list-item]
                while time.monotonic() < deadline:
                    await timed_rerun(ws, views.draw(rng), results)
        except websockets.ConnectionClosed as closed:
            results.errors += 1
            results.error_kinds[f"connection dropped ({closed})"] += 1


async def timed_rerun(ws: websockets.ClientConnection, view: tuple[str, str, dict[str, str]], results: Results) -> None:
    name, page, params = view
    start = time.perf_counter()
    await ws.send(rerun_message(page, params))
    problem = None
    received = 0
    try:
        async with asyncio.timeout(RERUN_TIMEOUT):
            while True:
                msg = ForwardMsg()
                msg.ParseFromString(await ws.recv())
                received += 1
                problem = problem or failure(msg)
                if msg.WhichOneof("type") == "script_finished":
                    if msg.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                        continue
                    break
    except TimeoutError:
        problem = "timeout"
    elapsed = time.perf_counter() - start
    if problem:
        results.errors += 1
        results.error_kinds[f"{name}: {problem}"] += 1
    else:
        results.times[name].append(elapsed)
        results.messages[name].append(received)


def start_servers(
    count: int, env: dict[str, str], log: Path | None, root: Path = ROOT
) -> tuple[list[subprocess.Popen[bytes]], list[int]]:
    ports = [free_port() for _ in range(count)]
    out = log.open("ab") if log else subprocess.DEVNULL
    servers = [
        subprocess.Popen(
            [sys.executable, "scripts/serve.py", "--server.port", str(port), "--server.address", "127.0.0.1"],
            cwd=root,
            env=env,
            stdout=out,
            stderr=out,
        )
        for port in ports
    ]
    for port in ports:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
    return servers, ports


async def warm(ports: list[int], views: Views) -> Results:
    """Reruns of every view kind on each server for 20 s first, so caches and the model are loaded before timing;
    the first rerun of each kind (on the first server) is a visitor's first open of that view."""
    results = Results()
    for port in ports:
        await session(port, views, time.monotonic() + 20, 0, results)
    return results


async def run(sessions: int, seconds: float, ports: list[int], views: Views) -> Results:
    results = Results()
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(session(ports[i % len(ports)], views, deadline, 1000 + i, results) for i in range(sessions)))
    return results


async def rerun(ws: websockets.ClientConnection, page: str, params: dict[str, str]) -> tuple[float, int]:
    """Seconds to the rerun's end, and the messages it sent."""
    start = time.perf_counter()
    await ws.send(rerun_message(page, params))
    received = 0
    while True:
        msg = ForwardMsg()
        msg.ParseFromString(await ws.recv())
        received += 1
        if msg.WhichOneof("type") == "script_finished" and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
            return time.perf_counter() - start, received


Sides = tuple[list[tuple[float, int]], list[tuple[float, int]]]


async def alternate(ports: list[int], views: Views, reruns: int) -> dict[str, Sides]:
    """Each drawn view rerun on both servers, one after the other, the first server alternating: (seconds,
    messages) of each rerun, by view and side."""
    rng = random.Random(7)
    times: dict[str, Sides] = defaultdict(lambda: ([], []))
    url = "ws://127.0.0.1:{}/_stcore/stream"
    async with (
        websockets.connect(url.format(ports[0]), subprotocols=["streamlit"], max_size=None) as a,  # type: ignore[list-item]
        websockets.connect(url.format(ports[1]), subprotocols=["streamlit"], max_size=None) as b,  # type: ignore[list-item]
    ):
        for number in range(reruns):
            name, page, params = views.draw(rng)
            for side in (0, 1) if number % 2 == 0 else (1, 0):
                times[name][side].append(await rerun((a, b)[side], page, params))
    return times


def against(rev: str, views: Views, reruns: int, log: Path | None) -> None:
    env = {**os.environ, "ATLAS_READ_ONLY": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(other), rev], cwd=ROOT, check=True)
        servers: list[subprocess.Popen[bytes]] = []
        ports: list[int] = []
        try:
            for root in (other, ROOT):
                started, port = start_servers(1, env, log, root)
                servers, ports = servers + started, ports + port
            asyncio.run(warm(ports, views))
            times = asyncio.run(alternate(ports, views, reruns))
        finally:
            for server in servers:
                server.terminate()
                server.wait(30)
            subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=ROOT, check=False)
    print(f"{os.cpu_count()} cores, {views.release}/{views.sae}, {reruns} reruns each side, one at a time")
    print(f"| view | p50 s at {rev} | p50 s here | here / {rev} | messages per rerun at {rev} / here |")
    print("| --- | --- | --- | --- | --- |")
    for name, sides in sorted(times.items()):
        (base, base_sent), (here, here_sent) = ([list(column) for column in zip(*side, strict=True)] for side in sides)
        ratio = statistics.median(here) / statistics.median(base)
        print(
            f"| {name} | {statistics.median(base):.3f} | {statistics.median(here):.3f} | {ratio:.2f} | "
            f"{statistics.mean(base_sent):.0f} / {statistics.mean(here_sent):.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 5, 20, 50])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("--release", default=None)
    parser.add_argument("--server-log", type=Path, help="append the servers' output here (errors' tracebacks)")
    parser.add_argument("--against", metavar="REV", help="A/B: this tree's server against commit REV's, alternately")
    parser.add_argument("--reruns", type=int, default=100, help="with --against: reruns drawn (each sent to both)")
    parser.add_argument(
        "--views", nargs="+", choices=(*KINDS, LIGHT, *TABLES), default=list(KINDS), help="the views sessions pick from"
    )
    parser.add_argument(
        "--first-after",
        type=float,
        default=0,
        help="seconds between the server answering and the first view (a visitor who comes that much later; the "
        "server warms up meanwhile)",
    )
    parser.add_argument("--sae", help="the SAE the views show (default: the one the release's meta-SAE reads)")
    args = parser.parse_args()
    release = get_release(args.release or default_release_id(load_catalog()))
    sae_id = args.sae or (release.meta_saes[0].over if release.meta_saes else release.sae_ids[-1])
    if sae_id not in release.sae_ids:
        sys.exit(f"--sae {sae_id}: release {release.id} has SAEs {', '.join(release.sae_ids)}.")
    d_meta = release.meta_saes[0].d_sae or 1 if release.meta_saes else 1
    views = Views(release.id, sae_id, release.sae(sae_id).d_sae or 1, d_meta, tuple(args.views))
    if args.against:
        against(args.against, views, args.reruns, args.server_log)
        return
    servers, ports = start_servers(args.servers, {**os.environ, "ATLAS_READ_ONLY": "1"}, args.server_log)
    try:
        time.sleep(args.first_after)
        first = asyncio.run(warm(ports, views))
        print(
            f"{os.cpu_count()} cores, {args.servers} server process(es), {release.id}/{sae_id}, {args.seconds:g} s each"
        )
        print(
            f"first open of each view on a fresh server, {args.first_after:g} s after it answered: "
            + ", ".join(f"{k} {v[0]:.2f} s" for k, v in sorted(first.times.items()))
        )
        print(
            "| sessions | reruns/s | p50 s | p95 s | max s | errors | server CPU s/s | RSS MB | p50 / p95 s by view "
            "| messages per rerun by view (mean / max) |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for count in args.sessions:
            cpu0 = sum(cpu_seconds(s.pid) for s in servers)
            start = time.perf_counter()
            results = asyncio.run(run(count, args.seconds, ports, views))
            wall = time.perf_counter() - start
            cpu = (sum(cpu_seconds(s.pid) for s in servers) - cpu0) / wall
            every = sorted(t for ts in results.times.values() for t in ts)
            p50 = statistics.median(every) if every else float("nan")
            p95 = every[int(0.95 * (len(every) - 1))] if every else float("nan")
            by_view = ", ".join(
                f"{k} {statistics.median(v):.3f} / {sorted(v)[int(0.95 * (len(v) - 1))]:.3f}"
                for k, v in sorted(results.times.items())
            )
            rss = sum(rss_mb(s.pid) for s in servers)
            sent = ", ".join(f"{k} {statistics.mean(v):.0f} / {max(v)}" for k, v in sorted(results.messages.items()))
            print(
                f"| {count} | {(len(every) + results.errors) / wall:.1f} | {p50:.3f} | {p95:.3f} | "
                f"{max(every, default=float('nan')):.2f} | {results.errors} | {cpu:.2f} | {rss:.0f} | {by_view} "
                f"| {sent} |"
            )
            for kind, n in results.error_kinds.items():
                print(f"  error: {kind} x{n}")
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(30)


if __name__ == "__main__":
    main()
