"""Host-side facts of the test machine that need no guest."""

from physcall.vm import host


def test_mirror_file_uri_is_expanded(tmp_path):
    mirrors = tmp_path / "debian.list"
    mirrors.write_text("# cloud image mirrors\nhttps://archive.example.invalid/debian priority:1\n")
    assert host._expand_mirror("mirror+file:%s" % mirrors) == ["https://archive.example.invalid/debian"]
    assert host._expand_mirror("mirror+file:%s" % (tmp_path / "missing")) == []
    assert host._expand_mirror("http://x.invalid/debian") == ["http://x.invalid/debian"]


def test_uri_override(monkeypatch):
    monkeypatch.setenv("PHYSCALL_DEBIAN_URI", "http://proxy.invalid:3142/debian/")
    assert host.debian_archive_uri() == "http://proxy.invalid:3142/debian"
