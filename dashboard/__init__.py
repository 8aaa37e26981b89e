"""The Streamlit moderation app (``moderation dashboard``): ``app.py`` is the entry file and
``views/`` holds one module per page (not ``pages/``: see ``app.py``). It reads and writes the
store only through ``moderation.review`` and ``moderation.store``; ``render`` turns comment
text into escaped HTML.
"""
