"""The web interface (``dancenow ui``): a Gradio page over the workspace, the job manager and the library.

``gradio`` is imported only by :mod:`dancenow.ui.app`'s ``build_app``/``launch``; the workspace and
job manager work without it.
"""
