"""Teaching aids: the figures the chapters draw (``plots``), the interactive explorers (``widgets``) and
printed output that fits the page (``tables``: wrapped lines, HTML tables)."""
