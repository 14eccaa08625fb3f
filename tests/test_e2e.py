"""End to end in real Chromium against `streamlit run` on localhost (the tiny release)."""

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is installed by scripts/setup.sh --dev")
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tiny_release: str) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing: run scripts/setup.sh --dev")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "scripts/serve.py", "--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def no_dialog(page) -> None:  # type: ignore[no-untyped-def]
    """scripts/serve.py switches off Streamlit's legacy `pages/` probe, whose "Page not found" dialog
    would otherwise cover a fresh server's first deep link."""
    assert page.get_by_role("dialog").count() == 0


def test_deep_link_card_neighbour_search_and_restore(server: str, browser, tiny_release: str) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server}/latent?release={tiny_release}&sae=128&latent=4")
    page.get_by_role("heading", name="Latent 4:").wait_for(timeout=120_000)
    no_dialog(page)
    page.locator(".example").first.wait_for(timeout=60_000)
    assert page.locator(".example .tok").count() > 10, "top examples are rendered with per-token highlighting"
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    # A neighbour in the same SAE: "#N label" (links into other SAEs read "SAE-M #N ...").
    neighbour_link = page.get_by_role("link", name=re.compile(r"^#(?!4 )\d+ "))
    neighbour_link.first.wait_for(timeout=60_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "latent-card.png"), full_page=True)

    neighbour_link.first.click()
    page.wait_for_function(
        "() => !location.search.includes('latent=4&') && !location.search.endsWith('latent=4')", timeout=60_000
    )
    neighbour = page.url
    # The link changes the URL before the card reruns: wait for the neighbour's own heading, not any heading.
    number = re.search(r"latent=(\d+)", neighbour)
    assert number and number.group(1) != "4"
    page.get_by_role("heading", name=f"Latent {number.group(1)}:").wait_for(timeout=60_000)
    assert page.get_by_role("heading", name="Latent 4:").count() == 0

    page.goto(f"{server}/search?release={tiny_release}&sae=128")
    box = page.get_by_label("Label or token contains")
    box.wait_for(timeout=60_000)
    box.fill("the")
    box.press("Enter")
    page.wait_for_function("() => location.search.includes('q=the')", timeout=60_000)
    shared = page.url
    fresh = browser.new_page()
    fresh.goto(shared)
    fresh.get_by_text("latents match 'the'").wait_for(timeout=60_000)
    assert "q=the" in fresh.url
    fresh.goto(neighbour)
    fresh.get_by_role("heading", name="Latent ").first.wait_for(timeout=60_000)


def test_the_overview_opens_at_its_own_path_too(server: str, browser, tiny_release: str) -> None:  # type: ignore[no-untyped-def]
    """Streamlit serves the default page at "/" only: a typed `/overview?...` link opened under "Page not found"."""
    page = browser.new_context().new_page()
    page.goto(f"{server}/overview?release={tiny_release}&sae=64")
    page.get_by_role("heading", name=re.compile(r"SAE 64$")).wait_for(timeout=60_000)
    no_dialog(page)
    assert page.get_by_text("Page not found").count() == 0
    # The sidebar marks the page open (a background on its link), as it does at "/".
    links = page.locator('[data-testid="stSidebar"] a[data-testid="stPageLink-NavLink"]')
    shade = [links.nth(i).evaluate("e => getComputedStyle(e).backgroundColor") for i in range(2)]
    assert links.first.inner_text() == "SAE overview" and shade[0] != shade[1] and shade[1] == "rgba(0, 0, 0, 0)"


def test_the_card_downloads_as_json_with_its_profile_and_its_partner_in_the_other_family(
    server: str, browser, tiny_release: str
) -> None:  # type: ignore[no-untyped-def]
    import json

    page = browser.new_context(accept_downloads=True).new_page()
    page.goto(f"{server}/latent?release={tiny_release}&sae=64&latent=3")
    button = page.get_by_role("button", name="⬇ Card (JSON)")
    button.wait_for(timeout=60_000)
    with page.expect_download(timeout=60_000) as download:
        button.click()
    body = json.loads(Path(download.value.path()).read_text())
    assert body["release"] == tiny_release and body["card"]["latent"] == 3
    assert body["canonicality"]["family_of"] == "tiny-matryoshka"
    (nearest,) = body["nearest_in_families"]
    assert nearest["release"] == "tiny-matryoshka" and nearest["sae"] == "64"
    assert nearest["latent"] == body["canonicality"]["family_partner"]


def test_decomposition_links_to_a_meta_latent_card(server: str, browser, tiny_release: str) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server}/latent?release={tiny_release}&sae=128&latent=4")
    no_dialog(page)
    link = page.get_by_role("link", name=re.compile(r"^meta \d+")).first
    link.wait_for(timeout=120_000)
    link.click()
    page.get_by_role("heading", name="Meta-latent ").wait_for(timeout=60_000)
    page.wait_for_function(
        "() => location.pathname.endsWith('/meta') && location.search.includes('m=')", timeout=60_000
    )


def test_untrusted_token_text_is_shown_escaped(server: str, browser, tiny_release: str) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    alerts: list[str] = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    text = "<img src=x onerror=alert(1)>"
    page.goto(f"{server}/search?release={tiny_release}&sae=128&text={text}")
    no_dialog(page)
    page.get_by_role("tab", name="By typing text").click()
    page.get_by_text("Top latents of each token").wait_for(timeout=120_000)
    assert page.locator(".example img").count() == 0
    assert not alerts


def test_sidebar_navigation_keeps_the_release_and_sae(server: str, browser, tiny_release: str) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server}/latent?release={tiny_release}&sae=64&latent=2")
    no_dialog(page)
    page.get_by_role("link", name="Search").click()
    page.get_by_role("heading", name="Search latents").wait_for(timeout=60_000)
    page.wait_for_function(
        "() => location.pathname.endsWith('/search') && location.search.includes('sae=64')", timeout=60_000
    )


def test_clicking_a_point_on_the_map_opens_its_card(server: str, browser, tiny_release: str) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server}/map?release={tiny_release}&sae=128")
    page.locator(".js-plotly-plot").first.wait_for(timeout=120_000)
    page.wait_for_function("() => document.querySelector('.js-plotly-plot')._fullLayout", timeout=60_000)
    no_dialog(page)
    # Pixel position of latent 7 from plotly's own axis mapping.
    x, y = page.evaluate(
        """() => { const gd = document.querySelector('.js-plotly-plot'); const fl = gd._fullLayout;
        const tr = gd._fullData[0]; const box = gd.getBoundingClientRect();
        return [box.left + fl._size.l + fl.xaxis.l2p(tr.x[7]), box.top + fl._size.t + fl.yaxis.l2p(tr.y[7])]; }"""
    )
    page.mouse.click(x, y)
    page.wait_for_function("() => location.pathname.endsWith('/latent')", timeout=60_000)
    heading = page.get_by_role("heading", name="Latent ").first
    heading.wait_for(timeout=60_000)
    assert heading.inner_text().startswith("Latent ")
    assert "sae=128" in page.url


def test_start_here_links_open_cards_with_their_decomposition(server: str, browser, tiny_release: str) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server}/?release={tiny_release}&sae=128")
    page.get_by_role("heading", name="Start here").wait_for(timeout=120_000)
    no_dialog(page)
    # The overview opens on the story: Start here and the family above the quality figures and the configuration.
    quality = page.get_by_role("heading", name="Quality on held-out tokens")
    quality.wait_for(timeout=60_000)
    tops = [
        page.get_by_role("heading", name=name).bounding_box()["y"] for name in ("Start here", "The family at a glance")
    ]
    assert max(tops) < quality.bounding_box()["y"]
    assert page.get_by_text("Configuration and weights").is_visible()
    # Showcase links read "#N [👤 |📍 ]label → parts · cosine C".
    link = page.get_by_role("link", name=re.compile(r"^#\d+ (👤 |📍 )?.* · cosine \d\.\d\d$")).first
    link.wait_for(timeout=60_000)
    latent = re.search(r"#(\d+)", link.inner_text()).group(1)  # type: ignore[union-attr]
    link.click()
    page.get_by_role("heading", name=f"Latent {latent}:").wait_for(timeout=120_000)
    assert f"latent={latent}" in page.url
    page.get_by_text("Decomposition by meta-SAE").first.wait_for(timeout=60_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "start-here-card.png"), full_page=True)


SHARED_VIEWS = [
    # (path and query opened first, heading that proves the view, text that proves its state)
    ("/?sae=64", "SAE 64", "Quality on held-out tokens"),
    ("/latent?sae=128&latent=4", "Latent 4:", "Top activations"),
    ("/latent?sae=128&latent=4&prompt=The+river&strength=3&st=0.6", "Latent 4:", "Press Generate"),
    ("/meta?sae=128&m=3", "Meta-latent 3", "Member latents"),
    ("/search?sae=128&text=Albert+Einstein+was+a+physicist.", "Search latents", "Top latents of each token"),
    ("/stitching?order=novel-first", "SAE stitching", "Stitching curves"),
    ("/canonical?sae=64", "Canonical units?", "Every latent of SAE-64"),
    ("/map?sae=128&colour=density", "Latent map · SAE 128", "latents, WebGL"),
    ("/polysemy?word=bank&ctx=The+river+bank.%0AThe+bank+loan.", "Polysemy probes", "Argmax latents"),
]


@pytest.mark.parametrize(("start", "heading", "proof"), SHARED_VIEWS)
def test_each_pages_share_link_reproduces_the_view_in_a_fresh_browser(  # type: ignore[no-untyped-def]
    server: str, browser, tiny_release: str, start: str, heading: str, proof: str
) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    joiner = "&" if "?" in start else "?"
    page.goto(f"{server}{start}{joiner}release={tiny_release}")
    page.get_by_role("heading", name=heading).first.wait_for(timeout=120_000)
    code = page.locator('[data-testid="stSidebar"] [data-testid="stCode"] code')
    code.first.wait_for(timeout=60_000)
    link = code.first.inner_text().strip()
    assert link.startswith(server), link
    colleague = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        fresh = colleague.new_page()
        fresh.goto(link)
        fresh.get_by_role("heading", name=heading).first.wait_for(timeout=120_000)
        fresh.get_by_text(proof).filter(visible=True).first.wait_for(timeout=120_000)
        no_dialog(fresh)
        assert fresh.locator('[data-testid="stAlert"]').filter(has_text="⚠️").count() == 0
    finally:
        colleague.close()


def test_the_steering_box_streams_two_continuations(server: str, browser, tiny_release: str) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(f"{server}/latent?release={tiny_release}&sae=128&latent=4&prompt=The+river&strength=4")
    no_dialog(page)
    button = page.get_by_role("button", name="Generate")
    button.wait_for(timeout=120_000)
    page.get_by_text("Press Generate").wait_for(timeout=60_000)
    button.click()
    boxes = page.locator(".continuation")
    seen: set[int] = set()
    deadline = time.time() + 120
    # Streaming: the steered box is read while it grows, so more than one length shows before the end.
    while time.time() < deadline and not page.get_by_text("one generator each").count():
        if boxes.count():
            seen.add(len(boxes.first.inner_text()))
        time.sleep(0.05)
    assert boxes.count() == 2 and all(boxes.nth(i).inner_text().startswith("The river") for i in range(2))
    assert len(seen) > 1, seen
    assert "prompt=The+river" in page.url and "strength=4" in page.url
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "steering.png"), full_page=True)


def test_clicking_a_lineage_node_opens_that_latents_card(server: str, browser, tiny_release: str) -> None:  # type: ignore[no-untyped-def]
    from backend.sources.catalog import get_release
    from backend.stitching.family import PairMatching
    from backend.stitching.lineage import lineage

    release = get_release(tiny_release)
    matching = PairMatching(release, "64", "128").get()
    # A latent of the larger SAE with at least one parent in the smaller one.
    latent = next(i for i in range(128) if lineage(["64", "128"], [matching], "128", i, 0.5).edges)
    tree = lineage(["64", "128"], [matching], "128", latent, 0.5)
    other = next(n for i, n in enumerate(tree.nodes) if i != tree.current)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server}/latent?release={tiny_release}&sae=128&latent={latent}&st=0.5")
    no_dialog(page)
    plot = page.locator(".js-plotly-plot").filter(has=page.locator("text=SAE-64")).first
    plot.wait_for(timeout=120_000)
    plot.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot')].some(g => g._fullData && g._fullData.length && "
        "g._fullData[g._fullData.length - 1].customdata)",
        timeout=60_000,
    )
    x, y = plot.evaluate(
        """(gd, target) => { const fl = gd._fullLayout; const tr = gd._fullData[gd._fullData.length - 1];
        const i = tr.customdata.findIndex(c => c[0] === target[0] && c[1] === target[1]);
        const box = gd.getBoundingClientRect();
        return [box.left + fl._size.l + fl.xaxis.l2p(tr.x[i]), box.top + fl._size.t + fl.yaxis.l2p(tr.y[i])]; }""",
        [tree.sae_ids[other.level], other.latent],
    )
    page.mouse.click(x, y)
    sae = tree.sae_ids[other.level]
    page.wait_for_function(
        f"() => location.search.includes('sae={sae}&') && location.search.includes('latent={other.latent}')",
        timeout=60_000,
    )
    page.get_by_role("heading", name=f"Latent {other.latent}:").wait_for(timeout=60_000)


def test_markdown_in_parameters_is_shown_as_text(server: str, browser, tiny_release: str) -> None:  # type: ignore[no-untyped-def]
    from urllib.parse import quote, urlsplit

    attack = "![p](https://x.invalid/p.png) [Session expired: log in](https://x.invalid/login)"
    page = browser.new_page()
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(f"{server}/search?release={tiny_release}&sae=128&q={quote(attack)}&latent={quote(attack)}")
    no_dialog(page)
    page.get_by_text("latents match").wait_for(timeout=120_000)
    page.get_by_text("Session expired: log in").first.wait_for(timeout=60_000)
    assert page.locator("img[src*='x.invalid']").count() == 0
    assert page.locator("a[href*='x.invalid']").count() == 0
    assert not [url for url in requested if urlsplit(url).hostname == "x.invalid"]
