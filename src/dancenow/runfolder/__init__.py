"""The run folder: what ``dancenow train`` writes and ``transfer`` / ``evaluate`` read.

- :mod:`~dancenow.runfolder.config`: the typed training configuration (``config.json``'s
  ``train``), its presets and defaults. Imports no torch, so front ends can list presets cheaply.
- :mod:`~dancenow.runfolder.folder`: the folder's format, written, read and checked in one place.

Below both training and inference: loading a model for transfer never imports the trainer.
"""
