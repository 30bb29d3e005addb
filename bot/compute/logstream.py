"""Training output in the Actions log: streamed live, folded, inert, summarised, linked.

Training output is untrusted (PR code prints it), so it is shown between
``::stop-commands::<token>`` and ``::<token>::`` with a fresh random token: a line such as
``::add-mask::`` or ``::error::`` that the training prints is shown, never obeyed. Everything sits
in one folded group (``::group::`` … ``::endgroup::``). At the end the last lines of every log
are appended to the job summary (``$GITHUB_STEP_SUMMARY``) as escaped text.

``pgolf logs stream --follow .pgolf/runs -- <command>`` runs a command (e.g. the promotion) and,
while it runs, follows every ``*.log`` file under the given folders (the per-seed training logs
the pod streams back), so the Actions log shows training as it happens. The full logs and the
result JSON are uploaded by the workflow's ``actions/upload-artifact`` step; :func:`run_links`
gives the sticky comment its links to the run and to the artifact.
"""

from __future__ import annotations

import html
import os
import secrets
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from bot.errors import InputError
from bot.forge.sticky import ARTIFACT_NAME, RunLinks, run_links

__all__ = ["ARTIFACT_NAME", "ActionsLog", "RunLinks", "run_links", "stream", "summary_markdown"]

DEFAULT_TAIL = 40


class ActionsLog:
    """One folded group of untrusted text with workflow commands switched off."""

    def __init__(self, out: TextIO, title: str, token: str | None = None):
        self.out = out
        self.title = " ".join(title.split()) or "output"
        self.token = token or secrets.token_hex(16)
        self._lock = threading.Lock()

    def __enter__(self) -> ActionsLog:
        self._raw(f"::group::{self.title}")
        self._raw(f"::stop-commands::{self.token}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._raw(f"::{self.token}::")
        self._raw("::endgroup::")

    def _raw(self, text: str) -> None:
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()

    def line(self, text: str) -> None:
        # A line cannot resume commands without the token; strip a stray resume attempt anyway.
        clean = text.rstrip("\r\n").replace(f"::{self.token}::", "::<token>::")
        self._raw(clean)


def summary_markdown(title: str, logs: Mapping[str, str], tail: int = DEFAULT_TAIL) -> str:
    """The job-summary block: the last ``tail`` lines of each log, HTML-escaped."""
    parts = [f"### {html.escape(title)}"]
    for name, text in logs.items():
        lines = text.splitlines()[-tail:]
        parts.append(
            f"<details open><summary>{html.escape(name)} — last {len(lines)} line(s)</summary>\n\n"
            f"<pre>{html.escape(chr(10).join(lines))}</pre>\n</details>"
        )
    links = run_links()
    if links.artifact_url:
        parts.append(f"Full logs and result JSON: [artifact `{ARTIFACT_NAME}`]({links.artifact_url})")
    return "\n\n".join(parts) + "\n"


def write_summary(markdown: str, env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    path = env.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    with Path(path).open("a", encoding="utf-8") as fh:
        fh.write(markdown[:900_000] + "\n")
    return True


class _Follower(threading.Thread):
    """Polls folders for ``*.log`` files and prints their new complete lines."""

    def __init__(
        self, roots: Sequence[Path], log: ActionsLog, interval: float = 0.5, *, skip_existing: bool = True
    ):
        super().__init__(daemon=True)
        self.roots = list(roots)
        self.log = log
        self.interval = interval
        self.offsets: dict[Path, int] = {}
        self.partial: dict[Path, str] = {}
        self.stop = threading.Event()
        # Old runs' logs are not this run's: while a command runs, what is there now is followed
        # only from its present end. No clock decides it (pod logs arrive by rsync with the pod's
        # mtimes). Without a command (a dump of the folders) everything is printed.
        for path in self._logs() if skip_existing else []:
            try:
                self.offsets[path] = path.stat().st_size
            except OSError:
                continue

    def _logs(self) -> list[Path]:
        out: list[Path] = []
        for root in self.roots:
            if root.is_dir():
                # never through a link: a log the pod sent could point at a runner file
                out += [p for p in root.rglob("*.log") if not p.is_symlink() and p.is_file()]
        return out

    def files(self) -> list[Path]:
        out = [root for root in self.roots if root.is_file() and not root.is_symlink()]
        return sorted(set(out + self._logs()))

    def poll(self) -> None:
        for path in self.files():
            try:
                if path.stat().st_size < self.offsets.get(path, 0):  # rewritten from the start
                    self.offsets[path] = 0
                    self.partial.pop(path, None)
                with path.open("rb") as fh:
                    fh.seek(self.offsets.get(path, 0))
                    data = fh.read()
                    self.offsets[path] = fh.tell()
            except OSError:
                continue
            if not data:
                continue
            text = self.partial.pop(path, "") + data.decode("utf-8", "replace")
            lines = text.split("\n")
            if lines[-1]:
                self.partial[path] = lines[-1]
            for line in lines[:-1]:
                self.log.line(f"[{path.name}] {line}")

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            self.poll()

    def finish(self) -> None:
        self.stop.set()
        self.join(timeout=5)
        self.poll()
        for path, rest in self.partial.items():
            self.log.line(f"[{path.name}] {rest}")
        self.partial.clear()


def stream(
    command: Sequence[str],
    *,
    title: str,
    follow: Sequence[Path] = (),
    out: TextIO,
    tail: int = DEFAULT_TAIL,
    env: Mapping[str, str] | None = None,
    save: Path | None = None,
) -> int:
    """Run ``command`` (or only follow files when it is empty), its output and the followed logs
    folded with workflow commands off; the tails go to the job summary. Returns its exit code."""
    if tail < 0:
        raise InputError("must be 0 or more", field="tail")
    collected: list[str] = []
    rc = 0
    with ActionsLog(out, title) as log:
        follower = _Follower(follow, log, skip_existing=bool(command))
        follower.start()
        try:
            if command:
                try:
                    proc = subprocess.Popen(
                        list(command),
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        env=dict(os.environ if env is None else env),
                    )
                except OSError as exc:
                    raise InputError(f"cannot run {command[0]!r}: {exc}", field="command") from None
                assert proc.stdout is not None
                for raw in proc.stdout:
                    text = raw.decode("utf-8", "replace").rstrip("\r\n")
                    collected.append(text)
                    log.line(text)
                rc = proc.wait()
        finally:
            follower.finish()
    logs: dict[str, str] = {}
    if command:
        logs[" ".join(command[:3])] = "\n".join(collected)
    for path in follower.files():
        if path.name != "promote.log" or not command:
            try:
                logs[str(path)] = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
    if save is not None:
        save.parent.mkdir(parents=True, exist_ok=True)
        save.write_text("\n".join(collected) + "\n", encoding="utf-8")
    if tail:
        write_summary(summary_markdown(title, logs, tail), env)
    return rc
