"""The scripts Streamlit runs draw nothing by accident: its "magic" renders any bare expression statement."""

import ast
import asyncio
import importlib.util
import socket
from pathlib import Path
from types import ModuleType

import pytest

from pages.specs import PAGE_SPECS

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = [ROOT / "app.py", *(ROOT / spec.script for spec in PAGE_SPECS)]


def test_every_page_script_is_on_the_list_and_every_listed_script_exists() -> None:
    scripts = {path for path in (ROOT / "pages" / "views").glob("*.py") if path.name != "__init__.py"}
    assert scripts == set(SCRIPTS[1:])


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_no_bare_expression_after_the_docstring(script: Path) -> None:
    body = ast.parse(script.read_text()).body
    bare = [node.lineno for node in body[1:] if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)]
    assert not bare, f"{script.name}: bare strings or constants at lines {bare} would be drawn on the page"


def serve_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("serve", ROOT / "scripts" / "serve.py")
    assert spec is not None and spec.loader is not None
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    return serve


def test_the_server_listens_on_loopback_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    serve = serve_module()
    monkeypatch.delenv("STREAMLIT_SERVER_ADDRESS", raising=False)
    assert serve.with_address(["--server.port", "8502"]) == ["--server.port", "8502", "--server.address", "127.0.0.1"]
    assert serve.with_address(["--server.address", "0.0.0.0"]) == ["--server.address", "0.0.0.0"]
    assert serve.with_address(["--server.address=::"]) == ["--server.address=::"]
    monkeypatch.setenv("STREAMLIT_SERVER_ADDRESS", "0.0.0.0")
    assert serve.with_address([]) == []


def _accepted_nodelay(listening: socket.socket) -> int:
    """TCP_NODELAY of a connection that an asyncio server on `listening` accepted, as Streamlit's uvicorn does."""

    async def accept() -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                accepted.set_result(
                    transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                )

        server = await asyncio.get_running_loop().create_server(Probe, sock=listening)
        _, writer = await asyncio.open_connection(*listening.getsockname()[:2])
        try:
            return await asyncio.wait_for(accepted, 10)
        finally:
            writer.close()
            server.close()

    return asyncio.run(accept())


def test_the_servers_connections_send_without_waiting_for_an_ack() -> None:
    """Streamlit's own binding leaves Nagle's algorithm on for every connection (each rerun's messages after the
    first then wait for the browser's delayed ACK); serve.py's wrapping of that same function turns it off."""
    from streamlit.web.server.starlette import starlette_server

    bind = starlette_server._bind_socket
    assert _accepted_nodelay(bind("127.0.0.1", 0, 8)) == 0, "Streamlit now names TCP itself: drop declare_tcp"
    assert _accepted_nodelay(serve_module().declare_tcp(bind)("127.0.0.1", 0, 8)) != 0


def test_several_server_processes_serve_behind_nginx(tiny_release: str) -> None:
    """scripts/serve_many.sh: two Streamlit processes behind nginx; a session over the proxy's websocket runs a
    page to the end (the upgrade, the Host header and the routing all work)."""
    import asyncio
    import os
    import signal
    import subprocess
    import time

    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    from tests.test_e2e import free_port

    port = free_port()
    proc = subprocess.Popen(
        ["bash", "scripts/serve_many.sh", "2", str(port)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        line = ""
        while "server processes behind" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
        assert f"2 server processes behind http://127.0.0.1:{port}" in line

        async def overview() -> list[str]:
            msg = BackMsg()
            msg.rerun_script.query_string = f"release={tiny_release}&sae=128"
            url = f"ws://127.0.0.1:{port}/_stcore/stream"
            kinds: list[str] = []
            for _ in range(50):
                try:
                    async with websockets.connect(url, subprotocols=["streamlit"], max_size=None) as ws:  # type: ignore[list-item]
                        await ws.send(msg.SerializeToString())
                        while "script_finished" not in kinds:
                            reply = ForwardMsg()
                            reply.ParseFromString(await asyncio.wait_for(ws.recv(), 120))
                            kinds.append(str(reply.WhichOneof("type")))
                            if reply.WhichOneof("type") == "delta" and reply.delta.new_element.WhichOneof("type"):
                                kinds.append(str(reply.delta.new_element.WhichOneof("type")))
                        return kinds
                except (OSError, websockets.InvalidStatus):
                    await asyncio.sleep(0.5)  # nginx is still starting
            return kinds

        kinds = asyncio.run(overview())
        assert "script_finished" in kinds and "exception" not in kinds and "heading" in kinds
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def test_the_warm_up_reads_what_a_first_view_would_wait_for(tiny_copy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from backend.data.lexicon import load_lexicon
    from backend.sources.catalog import get_release
    from pages.access import indexes

    meta = get_release(tiny_copy).meta_saes[0]  # so its meanings read WordNet's categories
    worked_out = []

    def meaning(*args: object) -> str:
        worked_out.append(args)
        return "meant"

    monkeypatch.setattr(indexes, "meaning", meaning)
    load_lexicon.cache_clear()
    serve_module().warm_up()
    assert load_lexicon.cache_info().currsize == 1
    assert len(worked_out) >= 1  # this copy's, among the built families'
    before = len(worked_out)
    assert indexes.decomposition_meaning(tiny_copy, meta.over, meta.id) == "meant"  # the first view's, from the cache
    assert len(worked_out) == before
