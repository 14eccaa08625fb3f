"""Sections and widgets that more than one page draws (card sections, figures, links, the build's status)."""
