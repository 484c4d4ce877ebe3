"""Every verb with ftplib: reply codes from RFC 959, 3659 and 2428, and the
effect on the files on disk."""

from __future__ import annotations

import calendar
import ftplib
import hashlib
import io
import os
import re
import socket
import stat
import time

import pytest
from ringftptest import Raw


def retr(ftp: ftplib.FTP, name: str, rest: int | None = None) -> bytes:
    buf = io.BytesIO()
    ftp.retrbinary(f"RETR {name}", buf.write, rest=rest)
    return buf.getvalue()


def quoted(reply: str) -> str:
    """The path inside a 257 reply's quotes (with "" unescaped)."""
    m = re.search(r'"((?:[^"]|"")*)"', reply)
    assert m, f"no quoted path in {reply!r}"
    return m.group(1).replace('""', '"')


def test_syst(ftp):
    assert ftp.sendcmd("SYST").startswith("215 ")


def test_feat_lists_extensions(ftp):
    resp = ftp.sendcmd("FEAT")
    lines = resp.splitlines()
    assert lines[0].startswith("211-"), resp
    assert lines[-1].startswith("211 "), resp
    feats = [ln.strip().upper() for ln in lines[1:-1]]
    for ln in lines[1:-1]:
        assert ln.startswith(" "), (
            f"feature lines start with a space (RFC 2389): {ln!r}"
        )
    for want in ["EPSV", "EPRT", "MDTM", "MFMT", "SIZE", "UTF8", "TVFS", "REST STREAM"]:
        assert any(f == want or f.startswith(want + " ") for f in feats), (want, feats)
    assert any(f.startswith("MLST") for f in feats), feats


def test_opts(ftp):
    assert ftp.sendcmd("OPTS UTF8 ON").startswith("200")
    assert ftp.sendcmd("OPTS MLST type;size;").startswith("200")
    # Facts not enabled are not shown.
    resp = ftp.sendcmd("MLST " + ftp.pwd())
    facts = resp.splitlines()[1].strip().split(" ")[0].lower()
    assert "modify=" not in facts, resp
    assert "type=" in facts, resp
    assert ftp.sendcmd("OPTS MLST type;size;modify;perm;").startswith("200")
    with pytest.raises(ftplib.error_perm):
        ftp.sendcmd("OPTS NOSUCHOPTION x")


def test_help_noop_stat(ftp):
    assert ftp.sendcmd("HELP")[:3] == "214"
    assert ftp.sendcmd("NOOP")[:3] == "200"
    assert ftp.sendcmd("STAT")[:3] == "211"


def test_stat_of_a_path(ftp, workdir):
    (workdir / "f.txt").write_bytes(b"x")
    resp = ftp.sendcmd("STAT f.txt")
    assert resp[:3] in ("211", "212", "213"), resp
    assert "f.txt" in resp


def test_unknown_verb_is_500(ftp):
    with pytest.raises(ftplib.error_perm, match="^500"):
        ftp.sendcmd("FOOBAR baz")


def test_pwd_and_xpwd(ftp, workdir):
    resp = ftp.sendcmd("PWD")
    assert resp.startswith("257 "), resp
    assert quoted(resp) == "/" + workdir.name
    assert quoted(ftp.sendcmd("XPWD")) == "/" + workdir.name


def test_mkd_cwd_cdup_rmd(ftp, workdir):
    resp = ftp.sendcmd("MKD sub")
    assert resp.startswith("257 "), resp
    assert quoted(resp) == f"/{workdir.name}/sub"
    assert (workdir / "sub").is_dir()
    assert ftp.sendcmd("CWD sub").startswith("250")
    assert quoted(ftp.sendcmd("PWD")) == f"/{workdir.name}/sub"
    assert ftp.sendcmd("CDUP")[:3] in ("200", "250")
    assert quoted(ftp.sendcmd("PWD")) == f"/{workdir.name}"
    assert ftp.sendcmd("RMD sub").startswith("250")
    assert not (workdir / "sub").exists()


def test_x_variants(ftp, workdir):
    resp = ftp.sendcmd("XMKD xsub")
    assert resp.startswith("257"), resp
    assert (workdir / "xsub").is_dir()
    assert ftp.sendcmd("XCWD xsub").startswith("250")
    assert quoted(ftp.sendcmd("XPWD")).endswith("/xsub")
    assert ftp.sendcmd("XCUP")[:3] in ("200", "250")
    assert ftp.sendcmd("XRMD xsub").startswith("250")
    assert not (workdir / "xsub").exists()


def test_mkd_quotes_in_name(ftp, workdir):
    resp = ftp.sendcmd('MKD say "hi"')
    assert resp.startswith("257"), resp
    assert quoted(resp) == f'/{workdir.name}/say "hi"'
    assert (workdir / 'say "hi"').is_dir()


def test_mkd_errors(ftp, workdir):
    (workdir / "exists").mkdir()
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.sendcmd("MKD exists")
    with pytest.raises(ftplib.error_perm, match="^501"):
        ftp.sendcmd("MKD")
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.sendcmd("MKD no/such/parent")


def test_rmd_errors(ftp, workdir):
    (workdir / "full").mkdir()
    (workdir / "full" / "f").write_bytes(b"x")
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.sendcmd("RMD full")
    assert (workdir / "full" / "f").exists()
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.sendcmd("RMD missing")


def test_cwd_missing_and_file(ftp, workdir):
    (workdir / "plain").write_bytes(b"x")
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.sendcmd("CWD missing")
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.sendcmd("CWD plain")
    assert quoted(ftp.sendcmd("PWD")) == "/" + workdir.name


def test_cwd_absolute_and_root_cdup(ftp):
    assert ftp.sendcmd("CWD /dir").startswith("250")
    assert quoted(ftp.sendcmd("PWD")) == "/dir"
    ftp.sendcmd("CWD /")
    assert ftp.sendcmd("CDUP")[:3] in ("200", "250")
    assert quoted(ftp.sendcmd("PWD")) == "/"


def test_dele(ftp, workdir):
    (workdir / "gone.txt").write_bytes(b"x")
    assert ftp.sendcmd("DELE gone.txt").startswith("250")
    assert not (workdir / "gone.txt").exists()
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.sendcmd("DELE gone.txt")
    (workdir / "adir").mkdir()
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.sendcmd("DELE adir")
    assert (workdir / "adir").is_dir()


def test_rename(ftp, workdir):
    (workdir / "old.txt").write_bytes(b"payload")
    assert ftp.sendcmd("RNFR old.txt").startswith("350")
    assert ftp.sendcmd("RNTO new name.txt").startswith("250")
    assert not (workdir / "old.txt").exists()
    assert (workdir / "new name.txt").read_bytes() == b"payload"


def test_rename_errors(ftp, workdir):
    with pytest.raises(ftplib.error_perm, match="^503"):
        ftp.sendcmd("RNTO whatever")
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.sendcmd("RNFR missing")


def test_type_mode_stru(ftp):
    assert ftp.sendcmd("TYPE A").startswith("200")
    assert ftp.sendcmd("TYPE A N").startswith("200")
    assert ftp.sendcmd("TYPE I").startswith("200")
    assert ftp.sendcmd("TYPE L 8").startswith("200")
    with pytest.raises(ftplib.error_perm, match="^50[14]"):
        ftp.sendcmd("TYPE Z")
    assert ftp.sendcmd("MODE S").startswith("200")
    assert ftp.sendcmd("MODE B") == "200 Mode set to B."
    assert ftp.sendcmd("MODE S") == "200 Mode set to S."
    with pytest.raises(ftplib.error_perm, match="^504"):
        ftp.sendcmd("MODE C")
    assert ftp.sendcmd("STRU F").startswith("200")
    with pytest.raises(ftplib.error_perm, match="^504"):
        ftp.sendcmd("STRU R")
    with pytest.raises(ftplib.error_perm, match="^501"):
        ftp.sendcmd("TYPE")


def test_pasv_and_epsv_replies(ftp):
    resp = ftp.sendcmd("PASV")
    assert re.match(r"227 .*\(?127,0,0,1,\d+,\d+\)?", resp), resp
    resp = ftp.sendcmd("EPSV")
    assert re.match(r"229 .*\(\|\|\|\d+\|\)", resp), resp
    with pytest.raises(ftplib.error_perm, match="^522"):
        ftp.sendcmd("EPSV 2")
    assert ftp.sendcmd("EPSV 1").startswith("229")


def test_epsv_all_refuses_pasv_and_port(server):
    ftp = server.ftp("alice")
    assert ftp.sendcmd("EPSV ALL").startswith("2")
    with pytest.raises(ftplib.error_perm, match="^5"):
        ftp.sendcmd("PASV")
    with pytest.raises(ftplib.error_perm, match="^5"):
        ftp.sendcmd("PORT 127,0,0,1,200,1")
    with pytest.raises(ftplib.error_perm, match="^5"):
        ftp.sendcmd("EPRT |1|127.0.0.1|51201|")
    # EPSV still works, and so does a transfer over it (ftplib uses EPSV
    # when it believes the connection is IPv6).
    ftp.af = socket.AF_INET6
    assert retr(ftp, "hello.txt") == b"hello world\n"
    ftp.quit()


def test_size_mdtm(ftp, workdir):
    (workdir / "s.bin").write_bytes(b"x" * 12345)
    mtime = calendar.timegm((2021, 3, 4, 5, 6, 7))
    os.utime(workdir / "s.bin", (mtime, mtime))
    assert ftp.sendcmd("TYPE I")
    assert ftp.sendcmd("SIZE s.bin") == "213 12345"
    resp = ftp.sendcmd("MDTM s.bin")
    assert re.fullmatch(r"213 20210304050607(\.\d+)?", resp), resp
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.sendcmd("SIZE missing")
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.sendcmd("MDTM missing")


def test_mfmt(ftp, workdir):
    (workdir / "m.txt").write_bytes(b"x")
    resp = ftp.sendcmd("MFMT 20200102030405 m.txt")
    assert resp.startswith("213"), resp
    assert "Modify=20200102030405" in resp or "20200102030405" in resp, resp
    assert int((workdir / "m.txt").stat().st_mtime) == calendar.timegm(
        (2020, 1, 2, 3, 4, 5)
    )
    with pytest.raises(ftplib.error_perm, match="^501"):
        ftp.sendcmd("MFMT notatime m.txt")
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.sendcmd("MFMT 20200102030405 missing.txt")


def test_rest(ftp):
    assert ftp.sendcmd("REST 100").startswith("350")
    assert ftp.sendcmd("REST 0").startswith("350")
    with pytest.raises(ftplib.error_perm, match="^501"):
        ftp.sendcmd("REST abc")
    with pytest.raises(ftplib.error_perm, match="^501"):
        ftp.sendcmd("REST -5")


def test_abor_without_transfer(ftp):
    resp = ftp.sendcmd("ABOR")
    assert resp[:3] in ("225", "226"), resp


def test_allo(ftp):
    assert ftp.sendcmd("ALLO 1000")[:3] in ("200", "202")


def test_avbl(ftp, server):
    resp = ftp.sendcmd("AVBL")
    m = re.fullmatch(r"213 (\d+)", resp)
    assert m, resp
    st = os.statvfs(server.root)
    free = st.f_bavail * st.f_frsize
    # Close to what the filesystem says (other tests write meanwhile).
    assert abs(int(m.group(1)) - free) <= max(free // 10, 1 << 26), (resp, free)


def test_site_chmod(ftp, workdir):
    (workdir / "c.txt").write_bytes(b"x")
    resp = ftp.sendcmd("SITE CHMOD 600 c.txt")
    assert resp.startswith("200"), resp
    assert stat.S_IMODE((workdir / "c.txt").stat().st_mode) == 0o600
    ftp.sendcmd("SITE CHMOD 644 c.txt")
    assert stat.S_IMODE((workdir / "c.txt").stat().st_mode) == 0o644
    with pytest.raises(ftplib.error_perm, match="^5"):
        ftp.sendcmd("SITE CHMOD 999 c.txt")
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.sendcmd("SITE CHMOD 600 missing")


def test_site_symlink(ftp, workdir):
    (workdir / "target.txt").write_bytes(b"linked content")
    resp = ftp.sendcmd("SITE SYMLINK target.txt link.txt")
    assert resp[:1] == "2", resp
    assert os.readlink(workdir / "link.txt") == "target.txt"
    assert retr(ftp, "link.txt") == b"linked content"


def test_site_unknown(ftp):
    with pytest.raises(ftplib.error_perm, match="^5"):
        ftp.sendcmd("SITE NOSUCH thing")


def test_mlst_file_and_dir(ftp, workdir):
    (workdir / "f.bin").write_bytes(b"y" * 77)
    resp = ftp.sendcmd("MLST f.bin")
    lines = resp.splitlines()
    assert lines[0].startswith("250-") and lines[-1].startswith("250"), resp
    entry = lines[1]
    assert entry.startswith(" "), resp
    facts, _, name = entry[1:].partition(" ")
    facts_d = dict(f.split("=", 1) for f in facts.rstrip(";").split(";"))
    facts_l = {k.lower(): v for k, v in facts_d.items()}
    assert facts_l["type"].lower() == "file"
    assert facts_l["size"] == "77"
    assert re.fullmatch(r"\d{14}(\.\d+)?", facts_l["modify"])
    assert name.endswith("f.bin")
    resp = ftp.sendcmd("MLST")
    assert "type=cdir" in resp.lower() or "type=dir" in resp.lower(), resp
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.sendcmd("MLST missing")


def test_mlsd(ftp, workdir):
    (workdir / "one.txt").write_bytes(b"1")
    (workdir / "two dir").mkdir()
    entries = dict(ftp.mlsd())
    assert entries["one.txt"]["type"] == "file"
    assert entries["one.txt"]["size"] == "1"
    assert entries["two dir"]["type"] == "dir"
    with pytest.raises(ftplib.error_perm, match="^501|^550"):
        list(ftp.mlsd("one.txt"))


def test_list_and_nlst(ftp, workdir):
    (workdir / "alpha.txt").write_bytes(b"12345")
    (workdir / "beta").mkdir()
    names = ftp.nlst()
    assert sorted(n.rsplit("/", 1)[-1] for n in names) == ["alpha.txt", "beta"]
    lines: list[str] = []
    ftp.retrlines("LIST", lines.append)
    text = "\n".join(lines)
    alpha = [ln for ln in lines if ln.endswith(" alpha.txt")]
    assert alpha, text
    assert alpha[0].startswith("-"), text
    assert " 5 " in alpha[0], text
    beta = [ln for ln in lines if ln.endswith(" beta")]
    assert beta and beta[0].startswith("d"), text


def test_list_of_missing_is_550(ftp):
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.retrlines("LIST nosuchthing", lambda _: None)


def test_retr_missing_is_550(ftp):
    with pytest.raises(ftplib.error_perm, match="^550"):
        retr(ftp, "missing.bin")
    # A directory is not a file either.
    ftp.sendcmd("MKD d")
    with pytest.raises(ftplib.error_perm, match="^550"):
        retr(ftp, "d")


def test_transfer_replies_150_then_226(ftp, workdir):
    (workdir / "t.txt").write_bytes(b"abc")
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("RETR t.txt")
    # ftplib has checked the 1xx; read its text via lastresp.
    assert ftp.lastresp in ("125", "150"), ftp.lastresp
    data = b""
    while chunk := conn.recv(4096):
        data += chunk
    conn.close()
    assert ftp.voidresp().startswith("226")
    assert data == b"abc"


def test_stor_appe(ftp, workdir):
    ftp.storbinary("STOR up.bin", io.BytesIO(b"first-"))
    assert (workdir / "up.bin").read_bytes() == b"first-"
    resp = ftp.storbinary("APPE up.bin", io.BytesIO(b"second"))
    assert resp.startswith("226"), resp
    assert (workdir / "up.bin").read_bytes() == b"first-second"
    # APPE of a new file creates it.
    ftp.storbinary("APPE fresh.bin", io.BytesIO(b"new"))
    assert (workdir / "fresh.bin").read_bytes() == b"new"
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.storbinary("STOR no/such/dir/x", io.BytesIO(b"x"))


def test_stou(ftp, workdir):
    (workdir / "taken").write_bytes(b"old")
    ftp.voidcmd("TYPE I")
    conn, _ = ftp.ntransfercmd("STOU taken")
    first = ftp.lastresp
    conn.sendall(b"unique data")
    conn.close()
    resp = ftp.voidresp()
    assert first in ("125", "150"), first
    assert resp.startswith("226"), resp
    assert (workdir / "taken").read_bytes() == b"old"
    created = [p for p in workdir.iterdir() if p.name != "taken"]
    assert len(created) == 1, created
    assert created[0].read_bytes() == b"unique data"
    # STOU with no argument also works.
    conn, _ = ftp.ntransfercmd("STOU")
    conn.sendall(b"anon")
    conn.close()
    assert ftp.voidresp().startswith("226")
    assert sum(1 for p in workdir.iterdir() if p.read_bytes() == b"anon") == 1


def test_stou_reply_names_file(server, workdir):
    """RFC 1123 4.1.2.9: the 150 reply says FILE: name."""
    r = Raw(server.host, server.port)
    r.login()
    r.cmd(f"CWD /{workdir.name}")
    code, text = r.cmd("PASV")
    assert code == 227, text
    nums = re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", text).groups()
    data = socket.create_connection(
        ("127.0.0.1", int(nums[4]) * 256 + int(nums[5])), timeout=10
    )
    code, text = r.cmd("STOU")
    assert code in (125, 150), text
    m = re.search(r"FILE: (\S.*)$", text)
    assert m, text
    data.sendall(b"named")
    data.close()
    assert r.reply()[0] == 226
    name = m.group(1).strip().rsplit("/", 1)[-1]
    assert (workdir / name).read_bytes() == b"named"
    r.close()


@pytest.mark.parametrize(
    "name",
    [
        "with spaces in name.txt",
        "Grüße ünïcødé ✓.txt",
        "  leading spaces.txt",
        "日本語のファイル.bin",
    ],
)
def test_special_names_round_trip(ftp, workdir, name):
    payload = hashlib.sha256(name.encode()).digest() * 100
    ftp.storbinary(f"STOR {name}", io.BytesIO(payload))
    assert (workdir / name).read_bytes() == payload
    assert name in [n.rsplit("/", 1)[-1] for n in ftp.nlst()]
    assert name in dict(ftp.mlsd())
    lines: list[str] = []
    ftp.retrlines("LIST", lines.append)
    assert any(ln.endswith(" " + name) for ln in lines), lines
    assert retr(ftp, name) == payload
    assert ftp.sendcmd(f"SIZE {name}") == f"213 {len(payload)}"


def test_existing_utf8_names_listed(server):
    ftp = server.ftp("bob")
    names = ftp.nlst()
    assert "Grüße ünïcødé.txt" in names
    assert "name with spaces.txt" in names
    assert retr(ftp, "Grüße ünïcødé.txt") == "utf-8 name: Grüße\n".encode()
    assert retr(ftp, "name with spaces.txt") == b"spaces in the name\n"
    ftp.quit()


def test_mdtm_matches_disk(server):
    ftp = server.ftp("bob")
    resp = ftp.sendcmd("MDTM hello.txt")
    mt = int((server.root / "hello.txt").stat().st_mtime)
    assert resp[4:18] == time.strftime("%Y%m%d%H%M%S", time.gmtime(mt)), resp
    ftp.quit()


def test_quit(server):
    ftp = server.ftp("alice")
    assert ftp.quit().startswith("221")
