"""fresh_copy(): how the quick-start test gets its "fresh clone" of the repository.
A clean working tree is cloned; a dirty one is copied file by file from
`git ls-files -co --exclude-standard`, so uncommitted and untracked files are
tested too, and ignored files (.venv, var/, credentials) never are."""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e.test_quickstart import fresh_copy


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
def repo(tmp_path):
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    (repo / "scripts" / "run.sh").write_text("#!/bin/sh\necho committed\n")
    (repo / "scripts" / "run.sh").chmod(0o755)
    (repo / ".gitignore").write_text(".venv/\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "init")
    return repo


def test_clean_tree_is_cloned(repo, tmp_path):
    dest = tmp_path / "dest"
    assert fresh_copy(repo, dest).startswith("git clone")
    assert (dest / ".git").is_dir()
    assert (dest / "scripts" / "run.sh").read_text() == "#!/bin/sh\necho committed\n"


def test_dirty_tree_is_copied_as_on_disk(repo, tmp_path):
    (repo / "scripts" / "run.sh").write_text("#!/bin/sh\necho edited\n")
    (repo / "new_module.py").write_text("X = 1\n")          # untracked: copied
    (repo / ".venv").mkdir()
    (repo / ".venv" / "marker").write_text("ignored\n")      # ignored: not copied
    (repo / ".gitignore").unlink()                           # tracked but deleted: skipped
    (repo / ".git" / "info" / "exclude").write_text(".venv/\n")
    dest = tmp_path / "dest"
    dest.mkdir()
    assert fresh_copy(repo, dest).startswith("copy of git ls-files")
    assert (dest / "scripts" / "run.sh").read_text() == "#!/bin/sh\necho edited\n"
    assert (dest / "scripts" / "run.sh").stat().st_mode & 0o111  # still executable
    assert (dest / "new_module.py").read_text() == "X = 1\n"
    assert not (dest / ".venv").exists()
    assert not (dest / ".gitignore").exists()


def test_not_a_git_checkout_skips(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(pytest.skip.Exception, match="not a git checkout"):
        fresh_copy(tmp_path / "plain", tmp_path / "dest")
