"""`photocap review`: a local web page to check and correct captions.

The server (Starlette on uvicorn, bound to 127.0.0.1) serves one page, its assets, thumbnails and a
small JSON API, all behind a random token (`guard.py`). Corrections are written into the photos as
a person's captions (`edit.py`) and into the index, so `photocap train --from-index` learns from them.
"""
