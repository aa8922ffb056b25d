"""Learning-rate schedules in the host's exact ``rate:step, …`` syntax: parse, trace, lint (:mod:`.parse`), presets, plot."""
