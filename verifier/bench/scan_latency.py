"""Measures `edl-verify scan` as an officer sees it: the time from a scanner's line to the
verdict screen on the terminal, with a warm cache.

Usage: scan_latency.py EDL_VERIFY CONFIG QR_FILE [SCANS]

Runs edl-verify scan on a pseudo-terminal (the way a USB scanner in keyboard mode types
into it), types the QR text followed by Enter SCANS times (default 50), and times each
until the screen's last line ("scan N at …") has arrived. Prints the median and the slowest.
"""

import os
import pty
import select
import statistics
import subprocess
import sys
import time


def main():
    binary, config, qr_file = sys.argv[1:4]
    scans = int(sys.argv[4]) if len(sys.argv) > 4 else 50
    with open(qr_file) as f:
        text = f.read().strip()
    controller, terminal = pty.openpty()
    env = dict(os.environ, TERM="xterm-256color", LANG="zh_CN.UTF-8")
    env.pop("NO_COLOR", None)
    child = subprocess.Popen(
        [binary, "--config", config, "scan", "--offline", "--log", os.devnull],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
        close_fds=True,
    )
    os.close(terminal)
    seen = b""

    def wait_for(marker):
        nonlocal seen
        deadline = time.monotonic() + 30
        while marker not in seen:
            ready, _, _ = select.select([controller], [], [], max(0, deadline - time.monotonic()))
            if not ready:
                raise SystemExit(f"no {marker!r} within 30 s")
            seen += os.read(controller, 65536)

    wait_for(b"ready")
    times = []
    for n in range(1, scans + 1):
        seen = b""
        started = time.perf_counter()
        os.write(controller, text.encode() + b"\r")
        wait_for(f"scan {n} at".encode())
        wait_for(b"Ctrl-D to finish")
        times.append((time.perf_counter() - started) * 1000)
    os.write(controller, b"\x04")
    child.wait(timeout=30)
    print(
        f"scan: line to verdict screen, {scans} scans, warm cache: "
        f"median {statistics.median(times):.2f} ms, slowest {max(times):.2f} ms"
    )


if __name__ == "__main__":
    main()
