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


def png_header_only(width, height):
    """A PNG that claims ``width`` x ``height`` gray pixels but stores almost nothing (a bomb's header)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b"")


def test_bombs_thin_and_empty_images_are_refused_from_their_header(tmp_path):
    folder = tmp_path / "batch"
    folder.mkdir()
    for img_id in range(1, 6):
        for heading in "abcd":
            (folder / f"{img_id}_{heading}.png").write_bytes(png_bytes(img_id))
    (folder / "2_a.png").write_bytes(png_header_only(30000, 30000))
    (folder / "3_b.png").write_bytes(png_header_only(8000, 8000))
    Image.new("L", (10000, 1)).save(folder / "4_c.png")
    (folder / "5_d.png").write_bytes(b"")
    manifest = batch_manifest(folder, "batch").set_index("img_id")
    assert manifest["usable"].to_dict() == {1: True, 2: False, 3: False, 4: False, 5: False}
    assert "2_a.png: refused as a decompression bomb" in manifest.loc[2, "problems"]
    assert "3_b.png: 8000x8000 pixels is more than the 40,000,000 accepted" in manifest.loc[3, "problems"]
    assert "4_c.png: 10000x1 is more elongated than 8:1" in manifest.loc[4, "problems"]
    assert manifest.loc[5, "problems"] == "5_d.png: empty file (0 bytes)"


def test_a_zip_bomb_is_refused_and_leaves_nothing_behind(tmp_path):
    from sview_assets.sources.images import ExtractionLimits

    archive = tmp_path / "raw" / "bomb.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("1_a.png", png_bytes())
        zf.writestr("1_b.png", b"\x00" * (32 * 2**20))
    assert archive.stat().st_size < 2**20
    with pytest.raises(UnsafeArchiveError, match=r"bomb.zip: '1_b.png' unpacks to 33,554,432 bytes from .* refusing to extract a likely archive bomb"):
        stage_batch(find_batches(archive.parent)[0], tmp_path / "staged")
    assert not (tmp_path / "staged").exists() or list((tmp_path / "staged").iterdir()) == []
    staged = stage_batch(find_batches(archive.parent)[0], tmp_path / "staged", ExtractionLimits(max_ratio=10_000))
    assert (staged / "1_b.png").stat().st_size == 32 * 2**20


@pytest.mark.parametrize("suffix", [".zip", ".tar.gz"])
def test_archives_may_not_unpack_past_the_batch_size_limit(tmp_path, suffix):
    from sview_assets.sources.images import ExtractionLimits

    archive = tmp_path / "raw" / f"big{suffix}"
    archive.parent.mkdir()
    members = {f"{i}_a.png": png_bytes(i) for i in range(5)}
    if suffix == ".zip":
        with zipfile.ZipFile(archive, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
    else:
        with tarfile.open(archive, "w:gz") as tf:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    limit = 2 * len(members["0_a.png"]) + 10
    with pytest.raises(UnsafeArchiveError, match=f"passes {limit:,} bytes for the batch; refusing to extract"):
        stage_batch(find_batches(archive.parent)[0], tmp_path / "staged", ExtractionLimits(max_total_bytes=limit))
    assert sorted(p.name for p in (tmp_path / "staged").iterdir()) == []
    assert len(list(stage_batch(find_batches(archive.parent)[0], tmp_path / "staged").iterdir())) == 5


@pytest.mark.slow
def test_a_thin_image_does_not_raise_the_peak_memory_of_its_batch(tiny_raw, tmp_path):
    """A 10000x1 PNG once drove extraction to 8.4 GB; now the batch peaks where a normal batch does."""
    import os
    import re
    import shutil
    import subprocess
    import sys

    from sview_assets.config.settings import PROJECT_ROOT, SviewSettings
    from sview_assets.ml.features.feature_store import read_feature_ids

    settings = SviewSettings(data_root=str(tmp_path), city="thin")
    unpacked = tmp_path / "unpacked"
    shutil.unpack_archive(tiny_raw.paths.raw_images / "batch_000.zip", unpacked)
    for batch, thin in (("normal", False), ("with_thin", True)):
        folder = settings.paths.raw_images / batch
        folder.mkdir(parents=True)
        for img_id in (0, 1, 2):
            for heading in "abcd":
                shutil.copy(unpacked / f"{img_id}_{heading}.png", folder)
        if thin:
            Image.new("RGB", (10000, 1), (120, 130, 140)).save(folder / "2_c.png")
    peaks = {}
    for batch in ("normal", "with_thin"):
        code = f"from sview_assets_tests.helpers import extract_batch_and_print_peak_rss as run; run({str(tmp_path)!r}, 'thin', {batch!r})"
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=PROJECT_ROOT, env={**os.environ, "SVIEW_TF_THREADS": "2"}, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-3000:]
        peaks[batch] = float(re.search(r"peak_rss_mb=(\d+)", done.stdout).group(1))
    assert read_feature_ids(settings.paths.feature_file("with_thin")).tolist() == [0, 1]
    assert peaks["with_thin"] <= peaks["normal"] + 150, peaks
