#!/usr/bin/python3
"""Validates gradspec's files against the JSON Schemas in docs/schemas/ (Debian's python3-jsonschema).

    /usr/bin/python3 tests/schemas/validate_schemas.py GRADSPEC_BINARY

Every committed suite file (gradspec-cases/1), a spec file, a fresh `run --results` file
(gradspec-results/1), fresh `run`/`check` summaries (gradspec-check/1), the request lines of
`--emit-requests`, and the handshake and answers of the zoo adapter. Each schema must also reject a
few broken documents, so a schema that accepts anything fails here. Prints "N passed, N failed".
"""

import glob
import json
import os
import subprocess
import sys
import tempfile

import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCHEMAS = os.path.join(ROOT, "docs", "schemas")
passed = failed = 0


def schema(name):
    with open(os.path.join(SCHEMAS, name + ".schema.json")) as f:
        s = json.load(f)
    jsonschema.Draft202012Validator.check_schema(s)
    return jsonschema.Draft202012Validator(s)


def expect(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def valid(validator, doc, what):
    errors = list(validator.iter_errors(doc))
    expect(not errors, f"{what}: {errors[0].message if errors else ''} at {list(errors[0].absolute_path) if errors else ''}")


def invalid(validator, doc, what):
    expect(not validator.is_valid(doc), f"{what}: a broken document was accepted")


def gradspec(binary, *args):
    p = subprocess.run([binary, *args], cwd=ROOT, capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def main():
    binary = sys.argv[1]
    cases, results, check = schema("gradspec-cases-1"), schema("gradspec-results-1"), schema("gradspec-check-1")
    handshake, request, answer = schema("adapter-handshake"), schema("adapter-request"), schema("adapter-answer")

    files = sorted(glob.glob(os.path.join(ROOT, "cases", "*", "*.json")))
    suites = [f for f in files if os.path.basename(os.path.dirname(f)) in ("standard", "edge", "examples")]
    expect(len(suites) > 30, f"committed suite files found: {len(suites)}")
    for f in suites:
        with open(f) as fh:
            valid(cases, json.load(fh), os.path.relpath(f, ROOT))
    with open(os.path.join(ROOT, "cases", "specs", "catalogue.json")) as fh:
        valid(cases, json.load(fh), "cases/specs/catalogue.json (a spec file)")
    with open(os.path.join(ROOT, "cases", "slides_results.json")) as fh:
        valid(results, json.load(fh), "cases/slides_results.json")

    with open(os.path.join(ROOT, "cases", "edge", "attention.json")) as fh:
        golden = json.load(fh)
    broken = json.loads(json.dumps(golden))
    del broken["format"]
    invalid(cases, broken, "case file without format")
    broken = json.loads(json.dumps(golden))
    broken["cases"][0]["inputs"]["q"]["values"][0] = "one half"
    invalid(cases, broken, "case file with a non-decimal value")
    broken = json.loads(json.dumps(golden))
    broken["notes"]["masked_nan"]["acceptable"][0]["result"] = "anything"
    invalid(cases, broken, "case file with an unknown acceptable result")

    with tempfile.TemporaryDirectory() as tmp:
        res, summary = os.path.join(tmp, "results.json"), os.path.join(tmp, "summary.json")
        for suite in ("cases/standard/attention.json", "cases/edge"):
            code, out = gradspec(binary, "run", "--suite", suite, "--builtin", "reference-f32", "--quiet",
                                 "--results", res, "--json", summary)
            expect(code == 0, f"run {suite}: exit {code}: {out[-300:]}")
            with open(res) as fh:
                doc = json.load(fh)
            valid(results, doc, f"run --results of {suite}")
            for entry in doc["results"][:50]:
                valid(answer, entry, f"an entry of run --results of {suite}")
            with open(summary) as fh:
                valid(check, json.load(fh), f"run --json of {suite}")
        code, out = gradspec(binary, "check", "--cases", "cases/standard/attention.json", "--results", res, "--quiet")
        expect(code == 2, f"check of edge results against standard cases (ids that name no case): exit {code}")
        code, out = gradspec(binary, "check", "--cases", "cases/edge", "--results", res, "--json", summary, "--quiet")
        expect(code == 0, f"check: exit {code}: {out[-300:]}")
        with open(summary) as fh:
            doc = json.load(fh)
        valid(check, doc, "check --json")
        doc["cases"][0]["verdict"] = "maybe"
        invalid(check, doc, "summary with an unknown verdict")
        with open(res) as fh:
            doc = json.load(fh)
        doc["results"][0]["outputs"]["y" if "y" in doc["results"][0]["outputs"] else next(iter(doc["results"][0]["outputs"]))]["values"][0] = "0.5"
        invalid(results, doc, "result file with a value as a decimal string")

        # The protocol's lines: requests written by gradspec, handshake and answers of the zoo adapter.
        req, resp = os.path.join(tmp, "requests.jsonl"), os.path.join(tmp, "responses.jsonl")
        code, out = gradspec(binary, "run", "--suite", "cases/edge", "--dtype", "float32", "--emit-requests", req)
        expect(code == 0, f"emit-requests: exit {code}: {out[-300:]}")
        with open(req) as fh:
            lines = [json.loads(line) for line in fh]
        expect(len(lines) > 10, "request lines written")
        for line in lines:
            valid(request, line, f"request {line.get('id')}")
        with open(req) as fin, open(resp, "w") as fout:
            subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tests", "zoo", "zoo_adapter.py"), "--bug", "none"],
                           stdin=fin, stdout=fout, check=True)
        with open(resp) as fh:
            answers = [json.loads(line) for line in fh]
        valid(handshake, answers[0], "zoo handshake")
        invalid(handshake, {"adapter": "gradspec-adapter/2", "dtypes": [], "ops": []}, "handshake of another protocol")
        for a in answers[1:]:
            valid(answer, a, f"zoo answer {a.get('id')}")
        invalid(answer, {"id": "x", "outputs": {"y": {"shape": [1], "values": [[1]]}}}, "answer with a nested value")

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
