"""Git object ids computed exactly as git does, so commits and trees are content-addressed for real.

The Hub is a git server: a file's `oid` in tree listings is its git blob id (for an LFS file, the blob
id of its pointer file), folders carry git tree ids and every commit id hashes its tree, parents,
author and message. Computing them the same way keeps the local server honest: identical content gives
identical blob and tree ids, and any change to history changes every later commit id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

FILE_MODE = b"100644"
TREE_MODE = b"40000"


def git_object_id(kind: str, body: bytes) -> str:
    header = f"{kind} {len(body)}\0".encode()
    return hashlib.sha1(header + body, usedforsecurity=False).hexdigest()


def blob_id(content: bytes) -> str:
    return git_object_id("blob", content)


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The pointer file git stores in place of an LFS object (git-lfs spec v1)."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass(frozen=True)
class FileEntry:
    """One file of a commit's tree: its git blob id and size, plus the LFS object when stored in LFS."""

    blob: str
    size: int
    lfs_sha256: str | None = None
    pointer_size: int | None = None

    def to_json(self) -> dict:
        out: dict = {"blob": self.blob, "size": self.size}
        if self.lfs_sha256 is not None:
            out["lfs"] = {"sha256": self.lfs_sha256, "pointerSize": self.pointer_size}
        return out

    @classmethod
    def from_json(cls, data: Mapping) -> FileEntry:
        lfs = data.get("lfs")
        if lfs:
            return cls(data["blob"], data["size"], lfs["sha256"], lfs["pointerSize"])
        return cls(data["blob"], data["size"])

    @classmethod
    def regular(cls, content: bytes) -> FileEntry:
        return cls(blob_id(content), len(content))

    @classmethod
    def lfs(cls, sha256: str, size: int) -> FileEntry:
        pointer = lfs_pointer(sha256, size)
        return cls(blob_id(pointer), size, sha256, len(pointer))


def tree_ids(files: Mapping[str, FileEntry]) -> dict[str, str]:
    """Git tree ids of the root ("") and of every folder of a flat `{path: FileEntry}` map."""
    children: dict[str, dict[str, tuple[bytes, str]]] = {"": {}}
    for path in files:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            children.setdefault("/".join(parts[:depth]), {})
    for path, entry in files.items():
        parent, _, name = path.rpartition("/")
        children[parent][name] = (FILE_MODE, entry.blob)
    ids: dict[str, str] = {}
    # Deepest folders first, so that a folder's id is known before its parent needs it.
    for folder in sorted(children, key=lambda p: p.count("/") + (p != ""), reverse=True):
        entries = children[folder]
        # git sorts tree entries by name, comparing a sub-tree's name as if it ended with "/".
        order = sorted(entries, key=lambda n: n.encode() + (b"/" if entries[n][0] == TREE_MODE else b""))
        body = b"".join(
            entries[n][0] + b" " + n.encode() + b"\0" + bytes.fromhex(entries[n][1]) for n in order
        )
        ids[folder] = git_object_id("tree", body)
        if folder:
            parent, _, name = folder.rpartition("/")
            children[parent][name] = (TREE_MODE, ids[folder])
    return ids


def commit_id(tree: str, parents: list[str], author: str, email: str, timestamp: int, message: str) -> str:
    lines = [f"tree {tree}"] + [f"parent {p}" for p in parents]
    ident = f"{author} <{email}> {timestamp} +0000"
    lines += [f"author {ident}", f"committer {ident}", "", message.rstrip("\n")]
    return git_object_id("commit", ("\n".join(lines) + "\n").encode())
