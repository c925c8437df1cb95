"""Idempotency fingerprints of a big ingest, computed by a second process.

A fingerprint needs only its validated command, not the ledger, so while the ingesting process
decides, chains and writes a file's commands one after the other, a worker on another core parses
the same bytes and fingerprints every valid command (about a tenth of an ingest's work). The
process that writes uses them only if they are all there and agree with its own commands on a
sample; otherwise it computes them itself. So a worker that dies, or is not started, costs time
and never correctness.

Protocol: the worker reads the file's bytes on stdin; it writes one ASCII line with the number of
valid commands, then their fingerprints (32 hex characters each, no separator) in file order.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
from collections.abc import Sequence

from stockmesh.domain.commands import Command
from stockmesh.ledger.codec import command_fingerprint
from stockmesh.service.bulk.command_file import parse_lines

WIDTH = 32  # characters per fingerprint
MIN_BYTES = 2_000_000  # below this (~15,000 commands) starting a process costs more than it saves
SAMPLE = 32  # fingerprints recomputed here to check that the worker's list lines up


def fingerprint_lines(data: bytes) -> list[str]:
    """The fingerprints of the valid commands among ``data``'s lines, in order, parsed as the
    ingest parses them (invalid and blank lines are skipped: the ingest reports those itself)."""
    return [command_fingerprint(command) for command in parse_lines(data)[0]]


def main() -> int:
    prints = fingerprint_lines(sys.stdin.buffer.read())
    sys.stdout.buffer.write(b"%d\n" % len(prints) + "".join(prints).encode("ascii"))
    sys.stdout.buffer.flush()
    return 0


def decode_answer(out: bytes, commands: Sequence[Command]) -> list[str] | None:
    """A worker's output as the fingerprints of ``commands``, or None when it is not exactly one
    per command or disagrees with them on a sample (the first, the last and some at random)."""
    header, _, body = out.partition(b"\n")
    if not header.isdigit() or int(header) != len(commands) or len(body) != WIDTH * len(commands):
        return None
    text = body.decode("ascii")
    prints = [text[i:i + WIDTH] for i in range(0, len(text), WIDTH)]
    checks = {0, len(commands) - 1, *random.sample(range(len(commands)), min(SAMPLE, len(commands)))}
    if any(prints[i] != command_fingerprint(commands[i]) for i in checks if 0 <= i < len(commands)):
        return None
    return prints


THRESHOLD_ENV = "STOCKMESH_HELPERS_FROM_BYTES"


def worth_a_worker(size: int) -> bool:
    """Whether an ingest of ``size`` bytes gets helper processes (this fingerprint worker and the
    ledger's writer process): from ``MIN_BYTES``, or from ``$STOCKMESH_HELPERS_FROM_BYTES`` (0:
    always, negative: never), when there is a second core."""
    try:
        threshold = int(os.environ.get(THRESHOLD_ENV, MIN_BYTES))
    except ValueError:
        threshold = MIN_BYTES
    return 0 <= threshold <= size and (os.cpu_count() or 1) > 1


class FingerprintWorker:
    """A worker process fingerprinting ``data``; ``result(commands, wait)`` collects its answer."""

    argv = (sys.executable, "-m", "stockmesh.service.bulk.fingerprints")

    def __init__(self, data: bytes) -> None:
        self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._output = bytearray()
        self._answer: list[str] | None = None
        self._decided = False
        # Threads feed the input and drain the output: the pipes take 64 KiB at a time, and this
        # process has parsing and deciding to do meanwhile.
        self._feeder = threading.Thread(target=self._feed, args=(self.proc, data), name="fingerprint-feed",
                                        daemon=True)
        self._drainer = threading.Thread(target=self._drain, args=(self.proc, self._output),
                                         name="fingerprint-drain", daemon=True)
        self._feeder.start()
        self._drainer.start()

    @staticmethod
    def _feed(proc: subprocess.Popen[bytes], data: bytes) -> None:
        if proc.stdin is None:
            return
        try:
            proc.stdin.write(data)
        except (BrokenPipeError, OSError, ValueError):
            pass  # the worker is gone: result() notices and the caller computes the fingerprints
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass

    @staticmethod
    def _drain(proc: subprocess.Popen[bytes], into: bytearray) -> None:
        if proc.stdout is None:
            return
        try:
            while chunk := proc.stdout.read(1 << 20):
                into += chunk
        except (OSError, ValueError):
            pass
        finally:
            proc.wait()

    def result(self, commands: Sequence[Command], wait: bool = True) -> list[str] | None:
        """The fingerprints of ``commands`` (the file's valid commands, in order); None when the
        worker failed or its list does not line up with them, or (``wait=False``) is not done yet."""
        if self._decided:
            return self._answer
        if not wait and self._drainer.is_alive():
            return None
        self._feeder.join()
        self._drainer.join()
        proc = self.proc
        self._decided = True
        if proc is not None and proc.returncode == 0:
            self._answer = decode_answer(bytes(self._output), commands)
        self._output.clear()
        return self._answer

    def close(self) -> None:
        """Stop the worker (if it is still running) and its threads."""
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            self._feeder.join()
            self._drainer.join()
            if proc.stdout is not None:
                proc.stdout.close()


if __name__ == "__main__":
    raise SystemExit(main())
