"""What a build leaves is read from its layers as overlayfs merges them: a setuid file or a
file capability that shows in the image is found; one a higher layer replaced, deleted
(a whiteout) or hid (an opaque folder) is not."""

from __future__ import annotations

import os
import struct

from environments.layer_check import privileged_files

NET_RAW = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)


def _file(layer, rel: str, mode: int = 0o755) -> str:
    path = layer / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"#!/bin/sh\n")
    os.chmod(path, mode)
    return str(path)


def test_privileged_files_in_the_merged_view_and_only_those(tmp_path):
    upper, middle, base = (tmp_path / n for n in ("upper", "middle", "base"))
    for layer in (upper, middle, base):
        layer.mkdir()
    _file(base, "usr/bin/su", 0o4755)  # the base's, stripped by a copy without the bit above
    _file(upper, "usr/bin/su", 0o755)
    _file(base, "usr/bin/passwd", 0o4755)  # deleted above: a whiteout
    os.mknod(upper / "usr/bin/passwd", 0o600 | 0o020000, os.makedev(0, 0))
    _file(base, "opt/tool/rootsh", 0o6755)  # under a folder made opaque above
    (upper / "opt" / "tool").mkdir(parents=True)
    os.setxattr(upper / "opt" / "tool", "trusted.overlay.opaque", b"y")
    _file(base, "srv/x/hidden", 0o4755)  # its folder replaced by a file above
    _file(middle, "srv/x", 0o644)
    _file(base, "usr/local/bin/left", 0o4755)  # the base's, left as it was: shows
    _file(middle, "usr/lib/pinger")  # a capability added in the middle: shows
    os.setxattr(middle / "usr" / "lib" / "pinger", "security.capability", NET_RAW)
    _file(upper, "usr/local/lib/.p", 0o2755)  # what the build made: shows
    found = privileged_files([str(upper), str(middle), str(base)])
    assert sorted(found) == ["/usr/lib/pinger", "/usr/local/bin/left", "/usr/local/lib/.p"]
    assert privileged_files([str(upper), str(middle), str(base)], most=1) != []


def test_what_a_lower_layer_hides_below_a_folder_kept_above_stays_hidden(tmp_path):
    upper, middle, base = (tmp_path / n for n in ("upper", "middle", "base"))
    for layer in (upper, middle, base):
        layer.mkdir()
    # The middle layer made /opt/tool afresh (opaque) and deleted /opt/gone (a whiteout); the
    # build then wrote into /opt/tool: the base's setuid files there never show.
    _file(base, "opt/tool/helper", 0o4755)
    _file(base, "opt/gone/rootsh", 0o4755)
    (middle / "opt" / "tool").mkdir(parents=True)
    os.setxattr(middle / "opt" / "tool", "trusted.overlay.opaque", b"y")
    os.mknod(middle / "opt" / "gone", 0o600 | 0o020000, os.makedev(0, 0))
    _file(upper, "opt/tool/new.txt", 0o644)
    (upper / "opt" / "gone").mkdir()
    assert privileged_files([str(upper), str(middle), str(base)]) == []


def test_a_user_xattr_a_build_may_set_hides_nothing(tmp_path):
    upper, base = tmp_path / "upper", tmp_path / "base"
    _file(base, "usr/bin/su", 0o4755)
    (upper / "usr" / "bin").mkdir(parents=True)
    os.setxattr(upper / "usr" / "bin", "user.overlay.opaque", b"y")  # rootful: not opaque
    assert privileged_files([str(upper), str(base)]) == ["/usr/bin/su"]
