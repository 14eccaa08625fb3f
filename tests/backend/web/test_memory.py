"""The server's heap is frozen after runs that import modules, and only then (backend/web/memory.py)."""

import gc
import sys
import types

import pytest

from backend.web import memory


def test_the_heap_is_frozen_after_imports_and_left_alone_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(gc, "collect", lambda: calls.append("collect") or 0)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "set_threshold", lambda *limits: calls.append(f"thresholds {limits}"))
    monkeypatch.setattr(memory, "_frozen_with", 0)
    memory.freeze_after_imports()
    once = ["collect", "freeze", f"thresholds {memory.THRESHOLDS}"]
    assert calls == once
    memory.freeze_after_imports()
    assert calls == once, "no module was imported since: no collection"
    monkeypatch.setitem(sys.modules, "atlas_test_module", types.ModuleType("atlas_test_module"))
    memory.freeze_after_imports()
    assert calls == once + once
