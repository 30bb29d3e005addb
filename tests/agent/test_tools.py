from __future__ import annotations

from pathlib import Path

import pytest

from bot.agent.tools import MAX_VIEW_LINES, TOOLS, ToolError, Workspace, run_tool

A, B = "training/train_gpt.py", "training/train_gpt_mlx.py"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.create(
        tmp_path / "ws",
        {A: "alpha = 1\nbeta = 2\nalpha_too = 1\n", B: "x = 1\nx = 1\ny = 3\n"},
    )


def test_view_numbers_lines_and_clamps(ws: Workspace) -> None:
    out = ws.view(A, 2, 99)
    assert out.splitlines()[1:] == ["2\tbeta = 2", "3\talpha_too = 1"]
    assert "lines 2-3 of 3" in out
    with pytest.raises(ToolError, match="start_line 5 is outside"):
        ws.view(A, 5)
    with pytest.raises(ToolError, match="before start_line"):
        ws.view(A, 3, 2)


def test_view_is_capped(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "w", {A: "".join(f"l{i}\n" for i in range(1000)), B: "b\n"})
    out = ws.view(A)
    assert f"view limited to {MAX_VIEW_LINES} lines" in out
    assert f"{MAX_VIEW_LINES}\tl{MAX_VIEW_LINES - 1}" in out and f"{MAX_VIEW_LINES + 1}\t" not in out


def test_replace_exact_unique(ws: Workspace) -> None:
    out = ws.replace(A, "beta = 2", "beta = 5")
    assert "line 2" in out
    assert ws.read(A) == "alpha = 1\nbeta = 5\nalpha_too = 1\n"
    assert ws.changed() == {A: "alpha = 1\nbeta = 5\nalpha_too = 1\n"}


def test_replace_non_unique_names_every_line_and_changes_nothing(ws: Workspace) -> None:
    with pytest.raises(ToolError, match=r"occurs 2 times .*lines 1, 2"):
        ws.replace(B, "x = 1", "x = 2")
    assert ws.changed() == {}


def test_replace_missing_and_whitespace_hint(ws: Workspace) -> None:
    with pytest.raises(ToolError, match="not found"):
        ws.replace(A, "gamma", "delta")
    with pytest.raises(ToolError, match="without its leading/trailing whitespace"):
        ws.replace(A, "  beta = 2  ", "beta = 3")
    with pytest.raises(ToolError, match="identical"):
        ws.replace(A, "beta = 2", "beta = 2")
    assert ws.changed() == {}


def test_insert_positions(ws: Workspace) -> None:
    ws.insert(A, 0, "# top")
    ws.insert(A, 4, "omega = 9")
    assert ws.read(A) == "# top\nalpha = 1\nbeta = 2\nalpha_too = 1\nomega = 9\n"
    with pytest.raises(ToolError, match="outside"):
        ws.insert(A, 99, "x")


@pytest.mark.parametrize(
    "path",
    ["../secrets.txt", "/etc/passwd", "training/../program.md", "results.tsv", "training/other.py", ""],
)
def test_confined_to_training_scripts(ws: Workspace, path: str) -> None:
    with pytest.raises(ToolError):
        ws.read(path)
    text, is_error = run_tool(ws, "replace_in_file", {"path": path, "old_string": "a", "new_string": "b"})
    assert is_error and text.startswith("error:")


def test_symlink_refused(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "w", {A: "a\n", B: "b\n"})
    target = tmp_path / "outside.txt"
    target.write_text("secret\n")
    (tmp_path / "w" / A).unlink()
    (tmp_path / "w" / A).symlink_to(target)
    with pytest.raises(ToolError, match="symlink"):
        ws.read(A)


def test_bare_file_name_and_dot_prefix_resolve(ws: Workspace) -> None:
    assert ws.normalise("train_gpt_mlx.py") == B
    assert ws.normalise("./training/train_gpt.py") == A


def test_run_tool_dispatch_and_errors(ws: Workspace) -> None:
    text, err = run_tool(ws, "insert_in_file", {"path": A, "line": "1", "text": "z = 0"})
    assert not err and "Inserted 1 line(s) after line 1" in text
    text, err = run_tool(ws, "rm_rf", {})
    assert err and "unknown tool" in text
    text, err = run_tool(ws, "view_file", {"path": A, "start_line": "one"})
    assert err and "integer" in text
    assert {t["name"] for t in TOOLS} == {"view_file", "replace_in_file", "insert_in_file", "submit_proposal"}
    assert all("input_schema" in t for t in TOOLS)
