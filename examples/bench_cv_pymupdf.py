"""PyMuPDF's text extraction, in-process, for examples/bench_cv_extraction.rs.

Usage: python3 bench_cv_pymupdf.py RUNS FILE...   Prints one JSON object: {file: [ms per run, ...]}.
Each run opens the file and reads the text of every page, as a Python service would per CV.
"""

import json
import sys
import time

import pymupdf


def main() -> None:
    runs = int(sys.argv[1])
    timings = {}
    for path in sys.argv[2:]:
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            with pymupdf.open(path) as document:
                text = "".join(page.get_text() for page in document)
            samples.append((time.perf_counter() - started) * 1000.0)
            if not text.strip():
                raise SystemExit(f"{path}: PyMuPDF read no text")
        timings[path] = samples
    json.dump(timings, sys.stdout)


if __name__ == "__main__":
    main()
