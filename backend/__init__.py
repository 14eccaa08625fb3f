"""Compute and storage side of SAE Atlas: everything the pages read comes from here."""

import warnings

# The backend uses sparse CSR tensors knowingly (exact values, tested); torch's "beta" notice is noise to users.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
