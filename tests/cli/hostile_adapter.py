#!/usr/bin/python3
"""Hostile adapters for the process-hardening tests. `hostile_adapter.py MODE [ARG]`, MODE one of:

  stall          handshake, then never read stdin and never answer (a large request fills the pipe)
  answer-early   read only the start of each request, answer with a 1 MiB error line, then read the rest
  spawn-hang     append "PARENT_PID PID CHILD_PID" to the file ARG, start a child `sleep 1000` (same
                 process group), then hang on the first request
  spawn-answer   like spawn-hang, but answer every request with an error and exit cleanly on EOF,
                 leaving the child behind
  segv           handshake, then kill itself with SIGSEGV on the first request
  huge-reply     answer the first request with one line of ARG MiB (a runaway adapter)
  handshake-huge / handshake-deep / handshake-not-object / handshake-number-name: a bad handshake
  marks          handshake name "\\u0001x", version "\\u0001v", every answer {"error": "\\u0001y"}

Every mode but the bad handshakes lists the ops given in the environment variable OPS (default relu).
"""
import json
import os
import signal
import subprocess
import sys
import time

mode = sys.argv[1]
arg = sys.argv[2] if len(sys.argv) > 2 else ""
ops = os.environ.get("OPS", "relu").split(",")
out = sys.stdout.buffer


def send(obj):
    out.write(json.dumps(obj).encode() + b"\n")
    out.flush()


def handshake(name="hostile", version="0"):
    send({"adapter": "gradspec-adapter/1", "implementation": {"name": name, "version": version},
          "dtypes": ["float64", "float32"], "ops": ops})


if mode == "handshake-huge":
    out.write(b'{"adapter": "gradspec-adapter/1", "pad": "' + b"x" * (8 << 20) + b'"}\n')
    out.flush()
    sys.stdin.read()
elif mode == "handshake-deep":
    out.write(b"[" * 30000 + b"]" * 30000 + b"\n")
    out.flush()
    sys.stdin.read()
elif mode == "handshake-not-object":
    out.write(b'"gradspec-adapter/1"\n')
    out.flush()
    sys.stdin.read()
elif mode == "handshake-number-name":
    out.write(b'{"adapter": "gradspec-adapter/1", "implementation": {"name": 1.5}, "dtypes": ["float64"], "ops": ["relu"]}\n')
    out.flush()
    sys.stdin.read()
elif mode == "stall":
    handshake()
    time.sleep(1000)
elif mode == "answer-early":
    handshake()
    stdin = sys.stdin.buffer
    while True:
        head = stdin.read(200)
        if not head:
            break
        rid = head.decode().split('"')[3]  # {"id":"ID",...
        send({"id": rid, "error": "answered early " + "x" * (1 << 20)})
        stdin.readline()
elif mode in ("spawn-hang", "spawn-answer"):
    child = subprocess.Popen(["sleep", "1000"])
    with open(arg, "a") as f:  # one line per start
        f.write(f"{os.getppid()} {os.getpid()} {child.pid}\n")
    handshake()
    for line in sys.stdin:
        rid = json.loads(line)["id"]
        if mode == "spawn-hang":
            time.sleep(1000)
        send({"id": rid, "error": "not implemented"})
    os._exit(0)  # without waiting for the child
elif mode == "segv":
    handshake()
    sys.stdin.readline()
    os.kill(os.getpid(), signal.SIGSEGV)
elif mode == "huge-reply":
    handshake()
    rid = json.loads(sys.stdin.readline())["id"]
    chunk = b"0.125," * ((1 << 20) // 6)  # whole numbers: the line stays valid JSON
    try:
        out.write(b'{"id": ' + json.dumps(rid).encode() + b', "outputs": {"y": {"shape": [1], "values": [')
        for _ in range(int(arg)):
            out.write(chunk)
        out.write(b"0]}}}\n")
        out.flush()
    except BrokenPipeError:
        pass
    time.sleep(1000)
elif mode == "marks":
    handshake("\u0001x", "\u0001v")
    for line in sys.stdin:
        send({"id": json.loads(line)["id"], "error": "\u0001y"})
else:
    sys.exit("unknown mode " + mode)
