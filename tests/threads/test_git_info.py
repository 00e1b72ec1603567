"""server.sessions.git_info on its own: the patch rules, the stored form, and a lookup that never fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol._generated.types import GitInfo, ThreadMetadataGitInfoUpdateParams
from server.errors import InvalidRequest
from server.sessions import git_info

FOUND = GitInfo(sha="abc", branch="main", origin_url="https://example.com/r.git")


def test_a_patch_keeps_what_it_leaves_out_clears_nulls_and_trims_strings() -> None:
    changes = git_info.check_patch(ThreadMetadataGitInfoUpdateParams(branch=" dev\n", origin_url=None))
    assert changes == {"branch": "dev", "origin_url": None}
    assert git_info.apply_patch(FOUND, changes) == GitInfo(sha="abc", branch="dev", origin_url=None)


@pytest.mark.parametrize(("patch", "words"), [
    (None, "thread metadata update must include at least one field"),
    (ThreadMetadataGitInfoUpdateParams(), "gitInfo must include at least one field"),
    (ThreadMetadataGitInfoUpdateParams(branch="\t "), "gitInfo.branch must not be empty"),
])
def test_an_empty_or_blank_patch_is_refused(patch: ThreadMetadataGitInfoUpdateParams | None, words: str) -> None:
    with pytest.raises(InvalidRequest, match=words):
        git_info.check_patch(patch)


def test_the_stored_form_tells_never_looked_up_from_nothing_found_and_both_show_null() -> None:
    assert git_info.decode(None) is None
    assert git_info.decode(git_info.encode(git_info.NOTHING_FOUND)) == git_info.NOTHING_FOUND
    assert git_info.wire_view(None) is None and git_info.wire_view(git_info.encode(git_info.NOTHING_FOUND)) is None
    assert git_info.wire_view(git_info.encode(FOUND)) == FOUND


@pytest.mark.anyio
async def test_a_lookup_without_git_or_without_its_directory_finds_nothing(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert await git_info.detect(str(tmp_path / "gone")) == git_info.NOTHING_FOUND
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on PATH
    assert await git_info.detect(str(tmp_path)) == git_info.NOTHING_FOUND


@pytest.mark.anyio
async def test_a_git_that_hangs_is_given_up_on_and_finds_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "git"
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.setattr(git_info, "_GIT_SECONDS", 0.2)
    assert await git_info.detect(str(tmp_path)) == git_info.NOTHING_FOUND
