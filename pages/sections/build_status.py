"""The embedded build, seen from the app: its progress while it runs behind the app, and what is ready.

The app opens once the first SAE and its index are built (`scripts/run.sh`); the rest of the family
is built by a background process that writes its progress to a file (backend/pipeline/progress.py).
"""

import pandas as pd
import streamlit as st

from backend.pipeline.build import read_summary, ready_saes
from backend.pipeline.progress import read_progress
from backend.sources.release import Release
from backend.web.urlstate import View
from pages.access.keyed import memo
from pages.access.saes import build_artifacts
from pages.access.state import catalog, page

REFRESH_SECONDS = 5


def build_complete(release: Release) -> bool:
    """True for releases that are not built here, and for built ones whose build has finished."""
    return not release.built or _finished(release.id)


@memo
def _finished(release_id: str) -> bool:
    """The build summary's verdict, read once per run (the router and the page ask it)."""
    return bool(read_summary(catalog()[release_id]).get("complete"))


def still_building(release: Release) -> list[str]:
    """The family's SAEs whose weights or index are not finished yet ([] once the build is complete)."""
    if build_complete(release):
        return []
    ready = ready_saes(release)
    return [sae_id for sae_id in release.sae_ids if sae_id not in ready]


def _resume_hint(release: Release) -> str:
    return f"Resume it with `python -m backend build --release {release.id}` (it picks up where it stopped)."


@st.fragment(run_every=REFRESH_SECONDS)
def build_panel(release: Release) -> None:
    """The background build's progress, refreshed every few seconds; reruns the app when it finishes."""
    if build_complete(release):
        st.rerun(scope="app")
    progress = read_progress(release)
    if progress is None and release.on_request:
        st.info(
            f"The {release.family_name} family is built only when asked for: `python -m backend build --release "
            f"{release.id}`. The app stays usable meanwhile, and its progress shows here."
        )
        return
    if progress is None and release.data_of is not None:
        st.info(
            f"This family is trained from the activations of {release.data_of}, after it: the build of "
            f"{release.data_of} goes on to it (`python -m backend build --release {release.data_of}`), and its "
            "progress shows here once it starts."
        )
        return
    if progress is None:
        st.info(f"This release is not built yet. Build it with `python -m backend build --release {release.id}`.")
        return
    ready = ready_saes(release)
    # Its place in the plan: stages run beside it finish out of order, so a count of finished ones would run ahead.
    # While the main lane waits for the trainings run together, the earliest stage under way counts.
    waiting = progress.stage in progress.finished and bool(progress.beside)
    under_way = progress.beside if waiting else [progress.stage]
    planned = [progress.stages.index(name) for name in under_way if name in progress.stages]
    stage_number = min(planned) + 1 if planned else len(progress.finished) + 1
    if progress.state == "running":
        others = f"; under way: {', '.join(progress.beside)}" if waiting else ""
        others = others or (f"; beside it: {', '.join(progress.beside)}" if progress.beside else "")
        st.progress(
            progress.fraction,
            text=f"Building the rest of the family in the background — stage {stage_number} of "
            f"{len(progress.stages)}: {progress.step}"
            + (f" ({progress.done}/{progress.total})" if progress.total else "")
            + others,
        )
    elif progress.state == "failed":
        st.error(f"The build failed at stage '{progress.stage}': {progress.error}. {_resume_hint(release)}")
    else:
        st.warning(f"The build stopped after stage '{progress.stage}'. {_resume_hint(release)}")
    st.caption(
        f"Ready to browse: {', '.join(f'SAE-{s}' for s in ready) or 'nothing yet'}. "
        "Meta-SAE decompositions, stitching curves and maps come at the end; this panel updates by itself."
    )
    if progress.seconds:
        stages, wall = sum(progress.seconds.values()), progress.wall()
        beside = f" (their own {stages:.0f} s: some ran beside others)" if stages > wall + 1 else ""
        ran = sorted(progress.seconds, key=lambda name: progress.started.get(name, 0.0))  # the file sorts its keys
        with st.expander(f"Stages finished in this run: {wall:.0f} s{beside}"):
            st.dataframe(
                pd.DataFrame({"stage": ran, "seconds": [progress.seconds[name] for name in ran]}),
                hide_index=True,
            )
            if progress.inputs:
                st.caption(f"Within those stages, loading what they share: {progress.inputs_said()}.")
    with st.expander("What the build makes, in order"):
        st.dataframe(build_artifacts(release.id), hide_index=True)


def require_family(view: View, release: Release, what: str) -> None:
    """Stop the page (with the build's progress) when `what` needs every SAE and the build is not done."""
    if not build_complete(release):
        st.info(f"{what} needs the whole family, which is still being built.")
        build_panel(release)
        st.stop()


def require_sae(view: View, release: Release) -> None:
    """Stop the page (with the build's progress and links to what is ready) when the view's SAE is not built."""
    if build_complete(release) or view.sae in ready_saes(release):
        return
    st.info(f"SAE-{view.sae} is not built yet.")
    for sae_id in ready_saes(release):
        st.page_link(page("overview"), label=f"Open SAE-{sae_id}", query_params=view.params(sae=sae_id))
    build_panel(release)
    st.stop()
