// Hostile input through the real binary: a generator of malformed golden, result, summary and spec
// files (mutations of the committed cases at known JSON paths, and text-level damage) and the
// reproductions of the hardening issue. Every malformed input must exit 2 naming the file and the
// JSON path (or line/column), and leave no output file; nothing may crash, hang, pass wrongly or
// write an invalid file.
#include "gradspec/cases/json_io.hpp"
#include "support/scratch.hpp"
#include "support/run_binary.hpp"

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sys/stat.h>
#include <unistd.h>

using gradspec::cases::json;
namespace fs = std::filesystem;

namespace {

using gradspec::testing::run_result;

// 'text' for /bin/sh.
std::string quote(const std::string& text) {
  std::string out = "'";
  for (char ch : text) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

run_result run(const std::string& args) { return gradspec::testing::run_gradspec(args); }

// With environment `env` and at most 4 GiB of address space, so that a regression (reading
// /dev/zero forever, allocating a 10^10-value tensor) fails the test instead of the machine.
// Under AddressSanitizer (scripts/sanitize.sh) the address-space limit cannot work (ASan reserves
// terabytes of shadow memory up front), so the sanitizer's own limits stand in for it: an allocation
// over 4 GiB fails as bad_alloc would, and more than 4 GiB resident ends the process.
#if defined(__SANITIZE_ADDRESS__)
#define GRADSPEC_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GRADSPEC_TEST_ASAN 1
#endif
#endif
#ifdef GRADSPEC_TEST_ASAN
const std::string memory_bound = "ASAN_OPTIONS=\"$ASAN_OPTIONS:max_allocation_size_mb=4096:allocator_may_return_null=1:hard_rss_limit_mb=4096\"";
#else
const std::string memory_bound = "ulimit -v 4194304 &&";
#endif

run_result run_bounded(const std::string& args, const std::string& env = "") {
  const std::string command = std::string("cd ") + GRADSPEC_SOURCE_DIR + " && " + memory_bound + " " + env + " " + GRADSPEC_BINARY +
                              " " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  std::string output;
  char buffer[4096];
  while (std::size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

struct scratch : gradspec::testing::scratch_dir {
  scratch() : scratch_dir("gradspec_hardening") {}
};

std::string source(const std::string& relative) { return std::string(GRADSPEC_SOURCE_DIR) + "/" + relative; }

json load(const std::string& path) { return gradspec::cases::read_json_file(path); }

std::string nested(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// One malformed file: a name and its text.
struct mutant {
  std::string name, text;
};

// Mutations of `doc` at JSON pointers: set to a JSON value, erase, nest 30000 deep; plus text-level
// damage (truncation, a stray byte). Paths that do not exist in `doc` are skipped.
class mutator {
public:
  explicit mutator(json doc) : doc_(std::move(doc)) {}
  std::vector<mutant> out;

  void set(const std::string& pointer, const std::string& value) {
    json d = doc_;
    const json::json_pointer p(pointer);
    if (!d.contains(p.parent_pointer())) return;
    d[p] = value == "DEEP" ? json("@DEEP@") : gradspec::cases::parse_json_text(value, "mutation");
    std::string text = gradspec::cases::to_text(d);
    if (value == "DEEP") text.replace(text.find("\"@DEEP@\""), 8, nested(30000));
    out.push_back({pointer + " = " + value.substr(0, 20), text});
  }
  void erase(const std::string& pointer) {
    json d = doc_;
    const json::json_pointer p(pointer);
    if (!d.contains(p)) return;
    json& parent = d[p.parent_pointer()];
    if (parent.is_array()) parent.erase(std::stoul(p.back()));
    else parent.erase(p.back());
    out.push_back({"erase " + pointer, gradspec::cases::to_text(d)});
  }
  void damage() {
    const std::string text = gradspec::cases::to_text(doc_);
    // Cut at least the closing "}\n": what is left is never a whole document.
    for (double at : {0.0, 0.3, 0.7, 0.999})
      out.push_back({"truncated", text.substr(0, std::min(static_cast<std::size_t>(at * text.size()), text.size() - 2))});
    out.push_back({"trailing garbage", text + "x"});
    out.push_back({"duplicate key", "{\"format\": 1, " + text.substr(text.find('{') + 1)});
  }

private:
  json doc_;
};

// The names of the first case's first real input, output and gradient.
struct names {
  std::string input, output, gradient;
  explicit names(const json& c) {
    for (auto it = c["inputs"].begin(); it != c["inputs"].end(); ++it)
      if (!it.value().contains("dtype")) {
        input = it.key();
        break;
      }
    output = c["expected"]["outputs"].begin().key();
    const json& g = c["expected"].contains("gradients") ? c["expected"]["gradients"] : json::object();
    gradient = g.empty() ? input : g.begin().key();
  }
};

std::vector<mutant> golden_mutants(const json& golden) {
  const names n(golden["cases"][0]);
  const std::string c = "/cases/0", in = c + "/inputs/" + n.input, out = c + "/expected/outputs/" + n.output;
  mutator m(golden);
  for (const char* v : {"\"other\"", "5"}) m.set("/format", v);
  m.erase("/format");
  for (const char* v : {"{}", "5", "DEEP"}) m.set("/cases", v);
  m.erase("/cases");
  for (const char* v : {"5", "[]", "null"}) m.set(c, v);
  for (const char* v : {"5", "\"\"", "[]"}) m.set(c + "/id", v);
  m.erase(c + "/id");
  for (const char* v : {"\"no_such_op\"", "5"}) m.set(c + "/op", v);
  m.erase(c + "/op");
  for (const char* v : {"5", "[]"}) m.set(c + "/params", v);
  m.erase(c + "/params");
  m.set(c + "/params/bogus", "1");
  m.set(c + "/bogus", "1");
  m.set(c + "/comment", "5");
  for (const char* v : {"5", "[5]"}) m.set(c + "/flags", v);
  for (const char* v : {"5", "[]"}) m.set(c + "/inputs", v);
  if (!n.input.empty()) m.set(c + "/inputs", "{}"); // positional_encoding takes no inputs
  m.erase(c + "/inputs");
  m.set(in, "5");
  m.set(in + "/shape", "\"2\"");
  m.set(in + "/shape", "[-1]");
  m.set(in + "/shape", "[18446744073709551615]");
  m.set(in + "/shape", "[1.5]");
  m.set(in + "/shape", "[1099511627776, 1099511627776]");
  m.erase(in + "/shape");
  m.set(in + "/shape/0", "DEEP");
  m.set(in + "/values", "5");
  m.set(in + "/values/0", "\"abc\"");
  m.set(in + "/values/0", "true");
  m.set(in + "/values/0", "[1]");
  m.set(in + "/values/0", "DEEP");
  m.set(in + "/values/-", "\"0.5\""); // one value too many
  m.erase(in + "/values/0");
  m.set(in + "/dtype", "5");
  m.set(in + "/bogus", "1");
  for (const char* v : {"5", "{}", "{\"outputs\": []}", "{\"outputs\": {}}", "DEEP", "[]"}) m.set(c + "/expected", v);
  m.erase(c + "/expected"); // a spec case in a golden file
  m.set(c + "/expected/bogus", "{}");
  m.set(c + "/expected/outputs/bogus", golden["cases"][0]["expected"]["outputs"][n.output].dump());
  m.set(out + "/values/-", "\"0.5\"");
  m.set(out + "/values/0", "\"x\"");
  m.set(out + "/shape", "[1]");
  m.set(out + "/shape/-", "1");
  m.set(c + "/expected/gradients/" + n.gradient + "/shape/-", "2");
  m.set(c + "/expected/gradients/bogus", golden["cases"][0]["expected"]["outputs"][n.output].dump());
  m.set(c + "/cotangents/" + n.output + "/shape/-", "2");
  for (const char* v : {"\"x\"", "-1", "1000000000"}) m.set(c + "/certified_digits", v);
  for (const char* v : {"\"float32\"", "[\"float8\"]", "5"}) m.set(c + "/exact_in", v);
  for (const char* v : {"5", "[]", "{\"f\": 5}", "{\"f\": {\"kind\": \"edge_case\"}}", "{\"f\": {\"description\": 5}}"})
    m.set("/notes", v);
  m.set("/generator", "5");
  for (const char* v : {"4294967553", "-1", "\"257\"", "1.5"}) m.set("/generator/precision_bits", v);
  m.damage();
  return m.out;
}

std::vector<mutant> result_mutants(const json& results) {
  std::size_t first = 0; // the first result with tensors (not an error)
  while (first < results["results"].size() && !results["results"][first].contains("outputs")) ++first;
  if (first == results["results"].size()) return {};
  const std::string r = "/results/" + std::to_string(first);
  const std::string t = r + "/outputs/" + results["results"][first]["outputs"].begin().key();
  mutator m(results);
  m.set("/format", "\"x\"");
  m.erase("/format");
  for (const char* v : {"5", "{}", "DEEP"}) m.set("/results", v);
  m.erase("/results");
  m.set(r, "5");
  for (const char* v : {"5", "[]"}) m.set(r + "/id", v);
  m.erase(r + "/id");
  for (const char* v : {"5", "[]"}) m.set(r + "/outputs", v);
  m.set(t, "5");
  for (const char* v : {"\"x\"", "[-1]", "[1.5]", "[18446744073709551615]"}) m.set(t + "/shape", v);
  m.erase(t + "/shape");
  for (const char* v : {"5", "DEEP"}) m.set(t + "/values", v);
  for (const char* v : {"\"abc\"", "[1]", "true", "{}"}) m.set(t + "/values/0", v);
  m.set(t + "/values/-", "0.5");
  m.erase(t + "/values/0");
  m.set("/implementation", "5");
  m.damage();
  return m.out;
}

std::vector<mutant> summary_mutants(const json& summary) {
  const std::string c = "/cases/0", t = c + "/tensors/0";
  mutator m(summary);
  m.set("/format", "\"x\"");
  m.erase("/format");
  for (const char* v : {"5", "DEEP"}) m.set("/implementation", v);
  m.erase("/implementation");
  for (const char* v : {"5", "[]"}) m.set("/implementation/name", v);
  for (const char* v : {"5", "{}", "[]", "DEEP"}) m.set("/cases", v);
  m.erase("/cases");
  m.set(c, "5");
  for (const char* key : {"verdict", "op", "id"}) {
    m.erase(c + "/" + key);
    m.set(c + "/" + key, "5");
  }
  m.set(c + "/verdict", "\"maybe\"");
  m.set(c + "/reason", "5");
  m.set(c + "/tensors", "5");
  m.set(t, "5");
  for (const char* key : {"max_ulp", "min_digits"}) {
    m.erase(t + "/" + key);
    m.set(t + "/" + key, "\"abc\"");
    m.set(t + "/" + key, "[]");
  }
  m.set("/policy", "5");
  m.set("/policy/rule", "5");
  // The report states the provenance: its fields are checked like the rest.
  for (const char* path : {"/provenance", "/provenance/gradspec", "/provenance/gradspec/version", "/provenance/candidate",
                           "/provenance/candidate/name", "/provenance/candidate/dtypes", "/provenance/suites",
                           "/provenance/suites/0", "/provenance/suites/0/sha1", "/provenance/suites/0/file"})
    m.set(path, "5");
  for (const char* path : {"/provenance/suites/0/sha1", "/provenance/gradspec/version"}) m.erase(path);
  m.set("/provenance/suites/0/cases", "-1");
  m.damage();
  return m.out;
}

std::vector<mutant> spec_mutants(const json& golden) {
  json spec = golden;
  for (auto& c : spec["cases"])
    for (const char* key : {"expected", "certified_digits", "exact_in"}) c.erase(key);
  spec.erase("generator");
  const names n(golden["cases"][0]);
  const std::string c = "/cases/0", in = c + "/inputs/" + n.input;
  mutator m(spec);
  m.set("/format", "5");
  m.set(c + "/op", "\"nope\"");
  m.set(c + "/params", "[]");
  m.set(c + "/params/bogus", "1");
  m.set(in + "/values/-", "\"0.5\"");
  m.set(in + "/values/0", "\"1/2\"");
  m.set(in + "/shape", "[2, 1099511627776]");
  m.set(c + "/cotangents", "{\"bogus\": {\"shape\": [], \"values\": [\"1\"]}}");
  for (const char* v : {"5", "[]", "{\"f\": {\"kind\": \"edge_case\"}}"}) m.set("/notes", v);
  m.set("/generator", "[]");
  m.set(c + "/comment", "DEEP");
  m.damage();
  return m.out;
}

// Exit 2, the file and a place in it named, no output written.
struct tally {
  int total = 0, exit_2 = 0, named = 0;
  void judge(const std::string& what, const mutant& mu, const std::string& file, const run_result& r, bool nothing_written) {
    ++total;
    BOOST_TEST(r.code == 2, what << " [" << mu.name << "]: exit " << r.code << ": " << r.output.substr(0, 300));
    BOOST_TEST(nothing_written, what << " [" << mu.name << "]: an output was written");
    if (r.code == 2) ++exit_2;
    const bool place = r.output.find(": /") != std::string::npos || r.output.find(": line ") != std::string::npos;
    if (r.output.find(file) != std::string::npos && place) ++named;
    else BOOST_TEST_MESSAGE("not named: " << what << " [" << mu.name << "]: " << r.output.substr(0, 200));
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(hardening_input_test)

BOOST_AUTO_TEST_CASE(malformed_files_exit_2_naming_file_and_path) {
  scratch s;
  tally t;
  std::vector<std::string> bases = {"cases/standard/relu.json", "cases/standard/linear.json", "cases/edge/softmax.json"};
  if (std::getenv("GRADSPEC_HARDENING_ALL")) { // the measurement over every committed file
    bases.clear();
    for (const char* dir : {"cases/standard", "cases/edge", "cases/examples"})
      for (const auto& e : fs::directory_iterator(source(dir))) bases.push_back(fs::relative(e.path(), GRADSPEC_SOURCE_DIR).string());
    std::sort(bases.begin(), bases.end());
  }
  for (const auto& base : bases) {
    const std::string golden = source(base), results = s.path("results.json"), summary = s.path("summary.json");
    auto made = run("run --suite " + golden + " --builtin reference-f64 --quiet --results " + results + " --json " + summary);
    BOOST_REQUIRE_MESSAGE(made.code == 0 || made.code == 1, base << ": " << made.output);
    const json golden_doc = load(golden);

    int k = 0;
    for (const auto& mu : golden_mutants(golden_doc)) {
      const std::string file = s.write("golden_" + std::to_string(++k) + ".json", mu.text), out = s.path("out.json");
      fs::remove(out);
      t.judge(base + " golden", mu, file, run("check --cases " + file + " --results " + results + " --quiet --json " + out), !fs::exists(out));
    }
    for (const auto& mu : result_mutants(load(results))) {
      const std::string file = s.write("results_" + std::to_string(++k) + ".json", mu.text), out = s.path("out.json");
      fs::remove(out);
      t.judge(base + " results", mu, file, run("check --cases " + golden + " --results " + file + " --quiet --json " + out), !fs::exists(out));
    }
    for (const auto& mu : summary_mutants(load(summary))) {
      const std::string file = s.write("summary_" + std::to_string(++k) + ".json", mu.text), out = s.path("report");
      fs::remove_all(out);
      t.judge(base + " summary", mu, file, run("report " + file + " --out " + out), !fs::exists(out));
    }
    for (const auto& mu : spec_mutants(golden_doc)) {
      const std::string file = s.write("spec_" + std::to_string(++k) + ".json", mu.text), out = s.path("out.json");
      fs::remove(out);
      t.judge(base + " spec", mu, file, run("gen --quiet --from " + file + " --out " + out), !fs::exists(out));
    }
  }
  BOOST_TEST_MESSAGE(t.total << " malformed inputs: " << t.exit_2 << " exit 2, " << t.named << " name the file and the place");
  std::cout << "hardening: " << t.total << " malformed inputs, " << t.exit_2 << " exit 2, " << t.named << " name file and place\n";
  BOOST_TEST(t.total >= 150);
  BOOST_TEST(t.named == t.total);
}

BOOST_AUTO_TEST_CASE(user_strings_are_never_written_as_numbers) {
  scratch s;
  // A comment, a header key and an id that start with U+0001 (once the writer's raw-number marker).
  const std::string spec = s.write("spec.json", R"({"format": "gradspec-cases/1", "title": "\u00011.5", "cases": [
    {"id": "\u0001x", "op": "relu", "comment": "\u00012", "params": {}, "inputs": {"x": {"shape": [2], "values": [0.5, -1]}}}]})");
  auto r = run("gen --quiet --from " + spec + " --out " + s.path("golden.json"));
  BOOST_TEST(r.code == 0, r.output);
  const json golden = load(s.path("golden.json"));
  BOOST_TEST(golden["title"] == "\x01" "1.5");
  BOOST_TEST(golden["cases"][0]["comment"] == "\x01" "2");
  BOOST_TEST(golden["cases"][0]["id"] == "\x01x");

  // An adapter whose name and error message start with U+0001: the summary and results stay valid.
  const std::string adapter = s.write("adapter.py", R"(import json, sys
print(json.dumps({"adapter": "gradspec-adapter/1", "implementation": {"name": "\u00017", "version": "\u00018"},
                  "dtypes": ["float64"], "ops": ["relu"]}), flush=True)
for line in sys.stdin:
    print(json.dumps({"id": json.loads(line)["id"], "error": "\u00011.5"}), flush=True)
)");
  r = run("run --quiet --suite " + s.path("golden.json") + " --adapter " + quote("/usr/bin/python3 " + adapter) +
          " --dtype float64 --json " + s.path("summary.json") + " --results " + s.path("results.json"));
  BOOST_TEST(r.code == 1, r.output);
  const json summary = load(s.path("summary.json"));
  BOOST_TEST(summary["implementation"]["name"] == "\x01" "7");
  BOOST_TEST(summary["cases"][0]["reason"] == "\x01" "1.5");
  BOOST_TEST(load(s.path("results.json"))["results"][0]["error"] == "\x01" "1.5");
}

BOOST_AUTO_TEST_CASE(wrong_verdicts_are_refused) {
  scratch s;
  // y = x·w + b = -1: a result of 18446744073709551615 once read as -1 and passed.
  const std::string spec = s.write("spec.json", R"({"format": "gradspec-cases/1", "cases": [{"id": "lin/0", "op": "linear",
    "params": {}, "inputs": {"x": {"shape": [1, 1], "values": [-1]}, "w": {"shape": [1, 1], "values": [1]},
                             "b": {"shape": [1], "values": [0]}}}]})");
  const std::string golden = s.path("golden.json");
  BOOST_REQUIRE(run("gen --quiet --from " + spec + " --out " + golden).code == 0);
  auto results = [&](const std::string& value) {
    return s.write("results.json", R"({"format": "gradspec-results/1", "implementation": {"name": "t", "dtype": "float64"},
      "results": [{"id": "lin/0", "outputs": {"y": {"shape": [1, 1], "values": [)" + value + "]}}}]}");
  };
  const std::string check = "check --quiet --forward-only --baseline none --cases " + golden + " --results ";
  BOOST_TEST(run(check + results("-1")).code == 0);
  BOOST_TEST(run(check + results("18446744073709551615")).code == 1);

  // check and run of a spec file: nothing to judge is bad input, not a pass.
  auto r = run("check --quiet --cases " + spec + " --results " + results("-1"));
  BOOST_TEST(r.code == 2);
  BOOST_TEST(r.output.find(spec + ": /cases/0: no \"expected\": a spec file, not a golden file") != std::string::npos, r.output);
  BOOST_TEST(run("run --quiet --suite " + spec + " --builtin reference-f64").code == 2);

  // Outputs that would overwrite an input (the same file under any name).
  const std::string before = s.read("golden.json");
  fs::create_symlink(golden, s.path("alias.json"));
  r = run("check --quiet --cases " + golden + " --results " + results("-1") + " --json " + s.path("alias.json"));
  BOOST_TEST(r.code == 2);
  BOOST_TEST(r.output.find("--json") != std::string::npos, r.output);
  for (const char* option : {"--results", "--json", "--emit-requests"}) {
    r = run("run --quiet --suite " + golden + " --builtin reference-f64 --dtype float64 " + option + " " + golden);
    BOOST_TEST(r.code == 2, option << ": " << r.output);
    BOOST_TEST(r.output.find(option) != std::string::npos, r.output);
  }
  BOOST_TEST(run("gen --quiet --from " + spec + " --out " + spec).code == 2);
  BOOST_TEST(s.read("golden.json") == before);
}

BOOST_AUTO_TEST_CASE(bad_options_exit_2_naming_the_option) {
  scratch s;
  const std::string golden = source("cases/standard/relu.json"), results = s.path("results.json");
  BOOST_REQUIRE(run("run --quiet --suite " + golden + " --builtin reference-f64 --results " + results).code == 0);
  const std::string check = "check --quiet --cases " + golden + " --results " + results + " ";
  for (const std::string bad : {"--atol nan", "--atol -1", "--atol inf", "--rtol nan", "--rtol -1", "--op-tolerance =1:2",
                                "--op-tolerance relu=:1", "--op-tolerance relu=1:nan", "--op-tolerance nope=1:2"}) {
    auto r = run(check + bad);
    BOOST_TEST(r.code == 2, bad << ": " << r.output);
    BOOST_TEST(r.output.find(bad.substr(0, bad.find(' '))) != std::string::npos, bad << ": " << r.output);
  }
  BOOST_TEST(run(check + "--op-tolerance relu=0.5:0").code == 0);
  for (const std::string bad : {"--seed -1", "--seed 1x", "--seed 18446744073709551616", "--bits 1000000"}) {
    auto r = run("gen --quiet --op relu --out " + s.path("out.json") + " " + bad);
    BOOST_TEST(r.code == 2, bad << ": " << r.output);
    BOOST_TEST(r.output.find(bad.substr(0, bad.find(' '))) != std::string::npos, bad << ": " << r.output);
    BOOST_TEST(!fs::exists(s.path("out.json")));
  }
  // verify reads precision_bits as a checked integer: 2^32 + 257 once wrapped to 257.
  json doc = load(source("cases/standard/relu.json"));
  doc["generator"]["precision_bits"] = 4294967553ull;
  auto r = run("verify " + s.write("wrapped.json", gradspec::cases::to_text(doc)));
  BOOST_TEST(r.code == 2);
  BOOST_TEST(r.output.find("wrapped.json: /generator/precision_bits: must be in [24, 65536]") != std::string::npos, r.output);
  // --out never replaces a link or a device, nor writes into a missing folder.
  fs::create_symlink(s.path("target.json"), s.path("link.json"));
  r = run("gen --quiet --op relu --out " + s.path("link.json"));
  BOOST_TEST(r.code == 2, r.output);
  BOOST_TEST(fs::is_symlink(s.path("link.json")));
  BOOST_TEST(!fs::exists(s.path("target.json")));
  // Not a regular file: a FIFO here stands for a device (never /dev/null: a binary without the fix
  // would rename a file over it).
  BOOST_REQUIRE(::mkfifo(s.path("fifo").c_str(), 0600) == 0);
  BOOST_TEST(run("gen --quiet --op relu --out " + s.path("fifo")).code == 2);
  BOOST_TEST(fs::is_fifo(s.path("fifo")));
  BOOST_TEST(run("gen --quiet --op relu --out " + s.path("missing/out.json")).code == 2);
  // A bad handshake is bad input from --adapter.
  const std::string adapter = s.write("adapter.py", R"(print('{"adapter": "gradspec-adapter/1", "implementation": {"name": 5}, "dtypes": ["float64"], "ops": ["relu"]}', flush=True))");
  r = run("run --quiet --suite " + golden + " --dtype float64 --adapter " + quote("/usr/bin/python3 " + adapter));
  BOOST_TEST(r.code == 2, r.output);
  BOOST_TEST(r.output.find("/implementation/name") != std::string::npos, r.output);
}

BOOST_AUTO_TEST_CASE(sizes_and_devices_are_bounded) {
  scratch s;
  auto r = run_bounded("gen --quiet --from /dev/zero --out " + s.path("out.json"));
  BOOST_TEST(r.code == 2);
  BOOST_TEST(r.output.find("/dev/zero: not a regular file") != std::string::npos, r.output);
  const std::string golden = source("cases/standard/relu.json");
  r = run_bounded("check --quiet --cases " + golden + " --results /dev/zero");
  BOOST_TEST(r.code == 2, r.output);
  BOOST_TEST(run_bounded("gen --quiet --from " + golden + " --out " + s.path("out.json")).code == 0);
  fs::remove(s.path("out.json"));
  // The size limit, lowered for the test.
  r = run_bounded("gen --quiet --from " + golden + " --out " + s.path("out.json"), "GRADSPEC_MAX_INPUT_BYTES=1000");
  BOOST_TEST(r.code == 2);
  BOOST_TEST(r.output.find("larger than the limit of 1000 bytes") != std::string::npos, r.output);
  BOOST_TEST(!fs::exists(s.path("out.json")));

  // Sizes from params: refused up front, naming the param.
  for (const auto& [op, params, path] : {std::tuple{"positional_encoding", R"({"length": 100000, "d_model": 100000})", "/cases/0/params/length"},
                                         std::tuple{"transformer", R"({"layers": 1000000000, "heads": 1})", "/cases/0/params/layers"}}) {
    const std::string spec = s.write("big.json", std::string(R"({"format": "gradspec-cases/1", "cases": [{"id": "big", "op": ")") + op +
                                                     "\", \"params\": " + params + ", \"inputs\": {}}]}");
    r = run_bounded("gen --quiet --from " + spec + " --out " + s.path("out.json"));
    BOOST_TEST(r.code == 2, op << ": " << r.output);
    BOOST_TEST(r.output.find(spec + ": " + path) != std::string::npos, op << ": " << r.output);
  }

  // Sizes implied by the inputs' shapes: x [65536, 1] · w [1, 65536] would make a [65536, 65536]
  // output (2^32 values, ~400 GB at 257 bits) out of 2^17 input values; refused before allocating.
  {
    const std::string n = "65536";
    auto values = [](const std::string& v, int count) {
      std::string out = "[";
      for (int i = 0; i < count; ++i) out += (i ? ", \"" : "\"") + v + "\"";
      return out + "]";
    };
    const std::string spec = s.write("implied.json", R"({"format": "gradspec-cases/1", "cases": [{"id": "implied", "op": "linear", "params": {}, "inputs": {)"
                                                     R"("x": {"shape": [65536, 1], "values": )" + values("0.5", 65536) + "}, " +
                                                     R"("w": {"shape": [1, 65536], "values": )" + values("0.5", 65536) + "}, " +
                                                     R"("b": {"shape": [65536], "values": )" + values("0", 65536) + "}}}]}");
    r = run_bounded("gen --quiet --from " + spec + " --out " + s.path("out.json"));
    BOOST_TEST(r.code == 2, r.output);
    BOOST_TEST(r.output.find(spec + ": /cases/0: a tensor of shape [" + n + ", " + n + "]") != std::string::npos, r.output);
    BOOST_TEST(!fs::exists(s.path("out.json")));
  }
}

BOOST_AUTO_TEST_CASE(report_validates_writes_all_or_nothing_and_never_builds_commands) {
  scratch s;
  const std::string summary = s.path("summary.json");
  BOOST_REQUIRE(run("run --quiet --suite " + source("cases/standard/relu.json") + " --builtin reference-f64 --json " + summary).code == 0);
  json doc = load(summary);
  for (const char* key : {"verdict", "op", "id"}) {
    json d = doc;
    d["cases"][0].erase(key);
    auto r = run("report " + s.write("m.json", gradspec::cases::to_text(d)) + " --out " + s.path("r"));
    BOOST_TEST(r.code == 2, key << ": " << r.output);
    BOOST_TEST(r.output.find("m.json: /cases/0: missing key \"" + std::string(key) + "\"") != std::string::npos, r.output);
    BOOST_TEST(!fs::exists(s.path("r")));
  }
  // No judged case: nothing to report, and no report.md or digits.dat left behind in an existing folder.
  json empty = doc;
  empty["cases"] = json::array();
  fs::create_directories(s.path("existing"));
  auto r = run("report " + s.write("empty.json", gradspec::cases::to_text(empty)) + " --out " + s.path("existing"));
  BOOST_TEST(r.code == 2, r.output);
  BOOST_TEST(fs::is_empty(s.path("existing")));
  // A quote in --out reached gnuplot's command line; now no path is ever part of gnuplot's script.
  const std::string marker = s.path("injected");
  const std::string out = s.path("x'; system('touch " + marker + "'); set output '");
  r = run("report " + summary + " --out " + quote(out));
  BOOST_TEST(r.code == 0, r.output);
  BOOST_TEST(!fs::exists(marker));
  BOOST_TEST(fs::exists(out + "/digits-float64-standard.svg"));
  BOOST_TEST(fs::exists(out + "/report.md"));
  // No temporaries left in the report folder: index.html, report.md, the digits and the error
  // distribution plots as SVG and PNG.
  BOOST_TEST(std::distance(fs::directory_iterator(out), fs::directory_iterator()) == 6);
}

BOOST_AUTO_TEST_SUITE_END()
