#!/usr/bin/python3
"""A misbehaving adapter for the protocol tests: relu only, correct except that it crashes on ids
ending in /1, hangs on ids containing 2x3x8, and answers garbage on relu_at_zero."""
import json
import sys
import time

print(json.dumps({"adapter": "gradspec-adapter/1", "implementation": {"name": "fake", "version": "0"},
                  "dtypes": ["float64"], "ops": ["relu"]}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    rid = req["id"]
    if rid.endswith("/1"):
        sys.exit(3)
    if "2x3x8" in rid:
        time.sleep(600)
    if "relu_at_zero" in rid:
        print("this is not json", flush=True)
        continue
    x = req["inputs"]["x"]
    dy = req["cotangents"]["y"]["values"]
    y = [max(v, 0.0) for v in x["values"]]
    dx = [d if v > 0 else 0.0 for v, d in zip(x["values"], dy)]
    print(json.dumps({"id": rid, "outputs": {"y": {"shape": x["shape"], "values": y}},
                      "gradients": {"x": {"shape": x["shape"], "values": dx}}}), flush=True)
