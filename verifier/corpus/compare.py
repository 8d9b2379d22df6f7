"""Reads every image of a corpus (generate.py) with edl-verify and with zbarimg (zbar, the
usual open-source reader) and prints, per category, how many each read correctly.

Usage: compare.py CORPUS_DIR EDL_VERIFY CONFIG

edl-verify counts an image when `check --offline --json --image FILE` says VALID: the
code was found, read and its credential verified. zbarimg counts it when it prints exactly
the expected QR text. Both run as whole processes, as a user would run them.
"""

import collections
import json
import subprocess
import sys
import time


def edl_reads(binary, config, path):
    run = subprocess.run(
        [binary, "--config", config, "check", "--offline", "--json", "--image", path],
        capture_output=True,
        text=True,
    )
    if run.returncode != 0 or not run.stdout.strip():
        return False
    return json.loads(run.stdout)["verdict"] == "valid"


def zbar_reads(path, expected):
    run = subprocess.run(
        ["zbarimg", "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", path],
        capture_output=True,
        text=True,
    )
    return expected in run.stdout.splitlines()


def main():
    corpus, binary, config = sys.argv[1:4]
    counts = collections.OrderedDict()
    seconds = {"edl": 0.0, "zbar": 0.0}
    missed = []
    with open(f"{corpus}/manifest.tsv") as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    for file, category, expected in rows:
        path = f"{corpus}/{file}"
        started = time.perf_counter()
        edl = edl_reads(binary, config, path)
        seconds["edl"] += time.perf_counter() - started
        started = time.perf_counter()
        zbar = zbar_reads(path, expected)
        seconds["zbar"] += time.perf_counter() - started
        total, edl_count, zbar_count = counts.get(category, (0, 0, 0))
        counts[category] = (total + 1, edl_count + edl, zbar_count + zbar)
        if zbar and not edl:
            missed.append(file)
    print(f"{'category':<12} {'images':>6} {'edl-verify':>10} {'zbarimg':>8}")
    totals = [0, 0, 0]
    for category, (total, edl, zbar) in counts.items():
        print(f"{category:<12} {total:>6} {edl:>10} {zbar:>8}")
        totals = [totals[0] + total, totals[1] + edl, totals[2] + zbar]
    print(f"{'all':<12} {totals[0]:>6} {totals[1]:>10} {totals[2]:>8}")
    print(
        f"time: edl-verify {seconds['edl']:.1f} s, zbarimg {seconds['zbar']:.1f} s "
        f"(whole processes, {totals[0]} images each)"
    )
    if missed:
        print("read by zbarimg only: " + " ".join(missed))


if __name__ == "__main__":
    main()
