"""Code that runs inside Rasa's own process (Python 3.10, `.venv-rasa`), loaded by Rasa from this repository.

Modules here import only Rasa and the standard library: the rest of `bot` needs Python 3.11 and
libraries that Rasa's pinned environment does not hold (an import-linter contract keeps it so).
"""
