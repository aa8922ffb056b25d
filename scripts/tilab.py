"""TI Lab's entry in the host: registers the tab, the settings section and the prompt-box API.

Kept tiny on purpose; everything lives in the tested ``lib_ti`` package
(``lib_ti/host.py`` is its only host adapter).
"""

from lib_ti import host

host.register()
