"""Dataset checks: measure how varied a Textual Inversion training set is before training.

Modules, in the order a run uses them: :mod:`.loading` (safe decoding), :mod:`.faces` and
:mod:`.subject` (where the subject is), :mod:`.features` (what each image looks like),
:mod:`.checks` (one finding per question), :mod:`.captions_aware` (explained vs. real risks),
:mod:`.report` (verdict, HTML, JSON) and :mod:`.store` (last report per folder).
:mod:`.prepare` writes a cropped training folder from sources.
"""
