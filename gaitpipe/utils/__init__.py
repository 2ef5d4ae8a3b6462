"""Small helpers shared by every stage, each defined exactly once.

* :mod:`gaitpipe.utils.files`: atomic writes (bytes, text, JSON, torch payloads) and file hashes.
* :mod:`gaitpipe.utils.device`: choosing and validating a torch device.
* :mod:`gaitpipe.utils.batching`: grouping sequences of similar length into batches.
* :mod:`gaitpipe.utils.console`: logging setup, progress bars, tables and JSON for people.
"""
