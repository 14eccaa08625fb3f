"""Start the dashboard: `streamlit run app.py ARGS`, on 127.0.0.1 unless ARGS name an address, with
Streamlit's legacy `pages/` probe off.

Streamlit listens on every interface by default, and a server that is not read-only lets its visitors add
SAEs and run the model: a laptop's dashboard must not be open to its network by accident. Serve others on
purpose with `--server.address 0.0.0.0` (or STREAMLIT_SERVER_ADDRESS), read-only where strangers can reach
it (SECURITY.md).

Streamlit treats a `pages/` folder beside the main script as a legacy multipage app until the
script first calls `st.navigation`, so the very first deep link a fresh server receives (say
/latent?...) pops up a "Page not found" dialog over the right page. app.py always calls
`st.navigation`, which clears the same class flag; clearing it before the server starts makes the
first request behave like every later one.

A fresh server's first view paid for every module the pages import and the SHA-256 of every SAE's weights (the key
of the app's caches): 7-11 s at the paper's scale; and the first view of a meta-SAE's meanings (the overview, the
Canonical page's family comparison) for reading WordNet's categories, 1.1 s, and working out what the decompositions
mean, 1-2 s a meta-SAE. `warm_up` does these in a thread beside the starting server.

Streamlit binds its listening socket itself without naming the protocol (`socket.socket(family)`: proto 0), so
asyncio, which turns Nagle's algorithm off only on sockets that say they are TCP, leaves it on for every
connection: the first message of a rerun goes out, the rest wait for the browser's delayed ACK (40 ms on Linux),
on every rerun of every page. `declare_tcp` wraps the binding so the socket says it is TCP.
"""

import importlib
import logging
import os
import pkgutil
import socket
import sys
import threading
from collections.abc import Callable

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli
from streamlit.web.server.starlette import starlette_server

LOOPBACK = "127.0.0.1"


def with_address(args: list[str]) -> list[str]:
    """`args`, plus `--server.address 127.0.0.1` unless they or the environment name an address."""
    named = any(a == "--server.address" or a.startswith("--server.address=") for a in args)
    if named or os.environ.get("STREAMLIT_SERVER_ADDRESS"):
        return args
    return [*args, "--server.address", LOOPBACK]


def declare_tcp(bind: Callable[..., socket.socket]) -> Callable[..., socket.socket]:
    """`bind`, returning its listening socket as one whose protocol is TCP, so that the connections it accepts
    (which inherit the protocol) get TCP_NODELAY from asyncio."""

    def bound(*args: object, **kwargs: object) -> socket.socket:
        sock = bind(*args, **kwargs)
        if sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6):
            return sock
        blocking = sock.getblocking()
        tcp = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
        tcp.setblocking(blocking)
        return tcp

    return bound


def warm_up() -> None:
    """Import every module the pages can reach, hash the weights of every SAE already on this machine, read
    WordNet's categories where a release has a meta-SAE and what the meta-SAEs built here mean."""
    try:
        import backend
        import pages
        from backend.data.lexicon import load_lexicon
        from backend.models.loading import warm_source_keys
        from backend.sources.catalog import load_catalog
        from pages.access.indexes import warm_meanings

        # Not the views (scripts: importing one draws it), nor Ray's (an optional extra the pages never import).
        for package, skip in ((pages, "pages.views"), (backend, "backend.cluster")):
            for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
                if not module.name.startswith(skip):
                    importlib.import_module(module.name)
        releases = load_catalog().values()
        for release in releases:
            warm_source_keys(release)
        if any(release.meta_saes for release in releases):
            load_lexicon()  # read once per process (the decompositions' meanings judge their words by it)
        for release in releases:
            warm_meanings(release.id)
    except Exception:  # whatever failed here, the first view meets again and reports on its page
        logging.getLogger(__name__).warning("Warming up stopped early; the first view will do the rest.", exc_info=True)


if __name__ == "__main__":
    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    PagesManager.uses_pages_directory = False
    starlette_server._bind_socket = declare_tcp(starlette_server._bind_socket)
    sys.argv = ["streamlit", "run", "app.py", *with_address(sys.argv[1:])]
    sys.exit(cli.main(prog_name="streamlit"))
