"""Image batches: discovery, safe extraction, and the manifest of headings and problems."""

import io
import tarfile
import zipfile

import numpy as np
import pytest
from PIL import Image

from sview_assets.sources.images import UnsafeArchiveError, batch_key, batch_manifest, find_batches, stage_batch


def png_bytes(seed=0):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_batch_keys_and_discovery(tmp_path):
    (tmp_path / "b_folder").mkdir()
    (tmp_path / "a batch.zip").write_bytes(b"")
    (tmp_path / "c.tar.gz").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("ignored")
    assert [b.key for b in find_batches(tmp_path)] == ["a_batch", "b_folder", "c"]
    assert batch_key(tmp_path / "x.tgz") == "x"


def test_fingerprint_changes_with_content(tmp_path):
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "1_a.png").write_bytes(png_bytes())
    batch = find_batches(tmp_path)[0]
    before = batch.fingerprint()
    assert batch.fingerprint() == before
    (folder / "1_b.png").write_bytes(png_bytes(1))
    assert batch.fingerprint() != before


@pytest.mark.parametrize("member", ["../evil.png", "/abs/evil.png", "sub/../../evil.png"])
def test_zip_path_traversal_is_refused(tmp_path, member):
    archive = tmp_path / "raw" / "bad.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("1_a.png", png_bytes())
        zf.writestr(member, png_bytes())
    with pytest.raises(UnsafeArchiveError, match="refusing to extract"):
        stage_batch(find_batches(archive.parent)[0], tmp_path / "staged")
    assert not (tmp_path / "evil.png").exists()
    assert not (tmp_path / "staged" / "bad").exists()


def test_tar_links_are_refused(tmp_path):
    archive = tmp_path / "raw" / "links.tar"
    archive.parent.mkdir()
    with tarfile.open(archive, "w") as tf:
        link = tarfile.TarInfo("1_a.png")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tf.addfile(link)
    with pytest.raises(UnsafeArchiveError, match="link or special file"):
        stage_batch(find_batches(archive.parent)[0], tmp_path / "staged")


def test_failed_extraction_keeps_previous_staging(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    archive = raw / "b.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("1_a.png", png_bytes())
    staged = stage_batch(find_batches(raw)[0], tmp_path / "staged")
    assert (staged / "1_a.png").is_file()
    archive.write_bytes(b"this is no zip")
    with pytest.raises(ValueError, match="not a readable archive"):
        stage_batch(find_batches(raw)[0], tmp_path / "staged")
    assert (staged / "1_a.png").is_file()


def test_manifest_reports_missing_heading_corrupt_image_and_stray_files(tmp_path):
    for heading in "abcd":
        (tmp_path / f"10_{heading}.png").write_bytes(png_bytes())
    for heading in "abc":
        (tmp_path / f"11_{heading}.png").write_bytes(png_bytes())
    for heading in "abcd":
        (tmp_path / f"12_{heading}.png").write_bytes(png_bytes() if heading != "c" else png_bytes()[:60])
    (tmp_path / "readme.txt").write_text("x")
    manifest = batch_manifest(tmp_path, "b").set_index("img_id")
    assert manifest.loc[10, "usable"] and manifest.loc[10, "headings"] == "abcd" and manifest.loc[10, "problems"] == ""
    assert not manifest.loc[11, "usable"] and manifest.loc[11, "problems"] == "missing heading d"
    assert not manifest.loc[12, "usable"] and "12_c.png: unreadable image" in manifest.loc[12, "problems"]
    assert "readme.txt" in manifest.loc[-1, "problems"]
