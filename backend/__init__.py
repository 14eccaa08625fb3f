"""Compute and storage side of SAE Atlas: everything the pages read comes from here."""
