"""Teaching aids: the figures the chapters draw (``plots``) and the interactive explorers (``widgets``)."""
