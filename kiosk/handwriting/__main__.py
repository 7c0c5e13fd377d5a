"""`python -m kiosk.handwriting build`: builds (or finds in the cache) the handwriting model before the first resident needs it."""

from __future__ import annotations

import argparse
import logging
import time

from kiosk.handwriting import characters, data, model


def main() -> None:
    """Builds the model and says where it is, how many characters it knows and which ones the data lacks."""
    parser = argparse.ArgumentParser(prog="python -m kiosk.handwriting")
    parser.add_argument("command", choices=["build"])
    parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.perf_counter()
    built = model.ensure()
    print(f"handwriting model: {len(built.labels)} characters, {built.nbytes() / 1e6:.1f} MB, "
          f"ready in {time.perf_counter() - started:.1f} s (cache: {model.cache_dir()})")
    print("characters the stroke data lacks:", "".join(data.missing(characters.wanted())))


if __name__ == "__main__":
    main()
