"""Atomic writes: leftovers of a killed writer are removed at the next write, a half-swapped folder is restored."""

import pytest

from sview_assets.util.files import atomic_directory, atomic_path, remove_leftovers


def test_leftover_temporaries_of_every_kind_go_at_the_next_write(tmp_path):
    (tmp_path / ".batch_000.h5.tmp-0123abcd").write_bytes(b"half a file")
    (tmp_path / ".income.tmp-89abcdef").mkdir()
    (tmp_path / ".income.tmp-89abcdef" / "fold_0.keras").write_bytes(b"x")
    (tmp_path / ".batch_001.h5.tmp-0123abcd").write_bytes(b"another file's leftover stays")
    (tmp_path / ".batch_000.h5.tmp-notmine").write_bytes(b"not our pattern")
    with atomic_path(tmp_path / "batch_000.h5") as tmp:
        tmp.write_bytes(b"new")
    with atomic_directory(tmp_path / "income") as folder:
        (folder / "final.keras").write_bytes(b"model")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [".batch_000.h5.tmp-notmine", ".batch_001.h5.tmp-0123abcd", "batch_000.h5", "income"]
    assert [p.name for p in (tmp_path / "income").iterdir()] == ["final.keras"]


def test_a_folder_swap_killed_halfway_is_restored_not_deleted(tmp_path):
    aside = tmp_path / ".income.old-0123abcd"
    aside.mkdir()
    (aside / "final.keras").write_bytes(b"the previous model")
    (tmp_path / ".income.tmp-89abcdef").mkdir()
    removed = remove_leftovers(tmp_path / "income")
    assert [p.name for p in removed] == [".income.tmp-89abcdef"]
    assert (tmp_path / "income" / "final.keras").read_bytes() == b"the previous model"
    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "income") as folder:
        (folder / "final.keras").write_bytes(b"broken")
        raise RuntimeError("training failed")
    assert (tmp_path / "income" / "final.keras").read_bytes() == b"the previous model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["income"]


def test_a_full_disk_names_the_file_and_keeps_the_previous_one(tmp_path):
    import errno

    final = tmp_path / "batch_000.h5"
    final.write_bytes(b"previous features")
    with pytest.raises(OSError, match=r"No space left on the disk holding .* while writing batch_000.h5; the previous batch_000.h5 is untouched") as error:
        with atomic_path(final) as tmp:
            tmp.write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert error.value.errno == errno.ENOSPC
    assert final.read_bytes() == b"previous features" and sorted(p.name for p in tmp_path.iterdir()) == ["batch_000.h5"]
    with pytest.raises(PermissionError), atomic_path(final):
        raise PermissionError("other errors pass through unchanged")
