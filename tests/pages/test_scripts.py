"""The scripts Streamlit runs draw nothing by accident: its "magic" renders any bare expression statement."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = [ROOT / "app.py", *(ROOT / "pages" / "views" / f"{name}.py" for name in
           ("overview", "latent", "meta", "search", "stitching", "map", "polysemy"))]  # fmt: skip


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_no_bare_expression_after_the_docstring(script: Path) -> None:
    body = ast.parse(script.read_text()).body
    bare = [node.lineno for node in body[1:] if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)]
    assert not bare, f"{script.name}: bare strings or constants at lines {bare} would be drawn on the page"


def test_the_server_listens_on_loopback_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("serve", ROOT / "scripts" / "serve.py")
    assert spec is not None and spec.loader is not None
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    monkeypatch.delenv("STREAMLIT_SERVER_ADDRESS", raising=False)
    assert serve.with_address(["--server.port", "8502"]) == ["--server.port", "8502", "--server.address", "127.0.0.1"]
    assert serve.with_address(["--server.address", "0.0.0.0"]) == ["--server.address", "0.0.0.0"]
    assert serve.with_address(["--server.address=::"]) == ["--server.address=::"]
    monkeypatch.setenv("STREAMLIT_SERVER_ADDRESS", "0.0.0.0")
    assert serve.with_address([]) == []


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
