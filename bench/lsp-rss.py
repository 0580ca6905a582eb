#!/usr/bin/env python3
"""Resident memory of a language server with N files open: open them all, wait until each has
had its first publishDiagnostics, read VmRSS of the server process. Standard library only.

Usage: lsp-rss.py [--files 100] DIR -- SERVER CMD...
"""
import argparse, json, os, pathlib, subprocess, sys, time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("dir")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    files = sorted(p for p in pathlib.Path(a.dir).rglob("*.py") if p.stat().st_size > 2000)[: a.files]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def send(m):
        b = json.dumps(m).encode()
        p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(b) + b)
        p.stdin.flush()

    def recv():
        n = None
        while True:
            line = p.stdout.readline()
            if line in (b"\r\n", b"\n"):
                break
            if line.lower().startswith(b"content-length:"):
                n = int(line.split(b":")[1])
        return json.loads(p.stdout.read(n))

    root = pathlib.Path(a.dir).resolve().as_uri()
    send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"processId": os.getpid(), "rootUri": root, "capabilities": {}}})
    while recv().get("id") != 1:
        pass
    send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
    pending = set()
    for f in files:
        uri = f.resolve().as_uri()
        pending.add(uri)
        send({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": f.read_text(errors="replace")}}})
    t = time.time()
    while pending and time.time() - t < 120:
        m = recv()
        if m.get("method") == "textDocument/publishDiagnostics":
            pending.discard(m["params"]["uri"])
        elif "id" in m and "method" in m:
            send({"jsonrpc": "2.0", "id": m["id"], "result": None})
    time.sleep(0.5)
    rss = next(int(l.split()[1]) for l in open(f"/proc/{p.pid}/status") if l.startswith("VmRSS:"))
    print(json.dumps({"files": len(files), "unanswered": len(pending), "rss_mb": round(rss / 1024, 1)}))
    p.kill()


if __name__ == "__main__":
    main()
