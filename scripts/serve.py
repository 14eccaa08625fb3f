"""Start the dashboard: `streamlit run app.py ARGS`, with Streamlit's legacy `pages/` probe off.

Streamlit treats a `pages/` folder beside the main script as a legacy multipage app until the
script first calls `st.navigation`, so the very first deep link a fresh server receives (say
/latent?...) pops up a "Page not found" dialog over the right page. app.py always calls
`st.navigation`, which clears the same class flag; clearing it before the server starts makes the
first request behave like every later one.
"""

import sys

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli

if __name__ == "__main__":
    PagesManager.uses_pages_directory = False
    sys.argv = ["streamlit", "run", "app.py", *sys.argv[1:]]
    sys.exit(cli.main(prog_name="streamlit"))
