// Sharded generation (issue 12): `gen --suite --shard i/n` run as parallel local processes, as a job
// array would run them, and `merge` checking that the shards together are exactly the suite; and
// `gen --no-intermediates`. Runs the real binary.
#include "gradspec/cases/json_io.hpp"
#include "support/run_binary.hpp"
#include "support/scratch.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

namespace fs = std::filesystem;

namespace {

using gradspec::testing::run_gradspec;
using gradspec::testing::slurp;

struct scratch : gradspec::testing::scratch_dir {
  scratch() : scratch_dir("gradspec_shard_merge_test") {}
  std::string copy(const std::string& from, const std::string& name) const { return write(name, slurp(from)); }
};

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string source(const std::string& path) { return std::string(GRADSPEC_SOURCE_DIR) + "/" + path; }

// A folder's files by name, with their bytes.
std::map<std::string, std::string> files_of(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out[e.path().filename().string()] = slurp(e.path());
  return out;
}

// The three shards of the edge suite, generated at once by three background processes (what a job
// array does on three machines); true when every one exits 0. `extra` goes to shard 2 only.
bool generate_shards_in_parallel(const scratch& s, const std::string& extra = "") {
  std::string command = "cd " + std::string(GRADSPEC_SOURCE_DIR) + " && (";
  for (int i = 0; i < 3; ++i)
    command += std::string(GRADSPEC_BINARY) + " gen --suite edge --quiet --shard " + std::to_string(i) + "/3 --out " +
               s.path("shard" + std::to_string(i)) + (i == 2 ? " " + extra : "") + " & p" + std::to_string(i) + "=$!; ";
  command += "wait $p0 && wait $p1 && wait $p2)";
  return std::system(command.c_str()) == 0;
}

std::string shards(const scratch& s) { return s.path("shard0") + " " + s.path("shard1") + " " + s.path("shard2"); }

// A file name that shard `i` holds (the first in name order).
std::string a_file_of(const scratch& s, int i) { return files_of(s.path("shard" + std::to_string(i))).begin()->first; }

} // namespace

BOOST_AUTO_TEST_SUITE(shard_merge_test)

BOOST_AUTO_TEST_CASE(parallel_shards_merge_into_the_unsharded_suite_byte_for_byte) {
  scratch s;
  BOOST_TEST_REQUIRE(run_gradspec("gen --suite edge --quiet --out " + s.path("whole")).code == 0);
  BOOST_TEST_REQUIRE(generate_shards_in_parallel(s));
  for (int i = 0; i < 3; ++i) BOOST_TEST(!files_of(s.path("shard" + std::to_string(i))).empty());

  auto r = run_gradspec("merge --suite edge --out " + s.path("merged") + " " + shards(s));
  BOOST_TEST(r.code == 0, r.output);
  BOOST_TEST(has(r.output, "merged 17 files of suite edge from 3 shard folders"), r.output);
  const auto whole = files_of(s.path("whole")), merged = files_of(s.path("merged"));
  BOOST_TEST(whole.size() == 17u);
  BOOST_TEST(merged.size() == whole.size());
  for (const auto& [name, bytes] : whole) BOOST_TEST((merged.count(name) && merged.at(name) == bytes), name);

  // The order of the shard folders does not matter.
  r = run_gradspec("merge --quiet --suite edge --out " + s.path("merged2") + " " + s.path("shard2") + " " + s.path("shard0") + " " +
                   s.path("shard1"));
  BOOST_TEST(r.code == 0, r.output);
  BOOST_TEST(r.output.empty(), r.output);
  BOOST_TEST((files_of(s.path("merged2")) == whole));
}

BOOST_AUTO_TEST_CASE(merge_refuses_shards_that_are_not_exactly_the_suite) {
  scratch s;
  BOOST_TEST_REQUIRE(generate_shards_in_parallel(s));
  const std::string out = s.path("merged");
  auto merge = [&](const std::string& folders) { return run_gradspec("merge --suite edge --out " + out + " " + folders); };

  // A missing shard: every file of the suite that no folder holds is named; nothing is written.
  auto r = merge(s.path("shard0") + " " + s.path("shard1"));
  BOOST_TEST(r.code == 2, r.output);
  for (const auto& [name, bytes] : files_of(s.path("shard2"))) BOOST_TEST(has(r.output, name), r.output);
  BOOST_TEST(has(r.output, "no shard folder holds"), r.output);
  BOOST_TEST(!fs::exists(out));

  // A duplicated file: two shards both hold one file.
  const std::string twice = a_file_of(s, 1);
  s.copy(s.path("shard1/" + twice), "dup/" + twice);
  r = merge(shards(s) + " " + s.path("dup"));
  BOOST_TEST(r.code == 2, r.output);
  BOOST_TEST(has(r.output, "duplicate"), r.output);
  BOOST_TEST((has(r.output, s.path("dup/" + twice)) && has(r.output, s.path("shard1/" + twice))), r.output);
  BOOST_TEST(!fs::exists(out));

  // The same file name from another suite (the committed standard suite): other cases.
  fs::copy(s.path("shard1"), s.path("other"), fs::copy_options::recursive);
  s.copy(source("cases/standard/relu.json"), "other/relu.json");
  r = merge(s.path("shard0") + " " + s.path("other") + " " + s.path("shard2"));
  BOOST_TEST(r.code == 2, r.output);
  BOOST_TEST(has(r.output, s.path("other/relu.json") + ": /cases"), r.output);
  // A file the suite does not have at all, and any other stray file: strict.
  fs::remove(s.path("other/relu.json"));
  fs::copy(s.path("shard1/relu.json"), s.path("other/relu.json"));
  s.copy(source("cases/standard/linear.json"), "other/linear.json");
  r = merge(s.path("shard0") + " " + s.path("other") + " " + s.path("shard2"));
  BOOST_TEST(r.code == 2, r.output);
  BOOST_TEST(has(r.output, s.path("other/linear.json") + ": not a file of suite edge"), r.output);
  fs::remove(s.path("other/linear.json"));
  s.write("other/notes.json", "{\"format\": \"something-else/2\"}");
  r = merge(s.path("shard0") + " " + s.path("other") + " " + s.path("shard2"));
  BOOST_TEST(r.code == 2, r.output);
  BOOST_TEST(has(r.output, s.path("other/notes.json") + ": not a file of suite edge"), r.output);
  BOOST_TEST(!fs::exists(out));

  // A tampered case: one input value changed; the file and the JSON path are named.
  const std::string victim = a_file_of(s, 0);
  fs::copy(s.path("shard0"), s.path("tampered"), fs::copy_options::recursive);
  std::string text = s.read("tampered/" + victim);
  const auto at = text.find("\"values\": [\"", text.find("\"inputs\"")) + 12;
  text.replace(at, text.find('"', at) - at, "0.123456789");
  s.write("tampered/" + victim, text);
  r = merge(s.path("tampered") + " " + s.path("shard1") + " " + s.path("shard2"));
  BOOST_TEST(r.code == 2, r.output);
  BOOST_TEST(has(r.output, s.path("tampered/" + victim) + ": /cases/0/inputs/"), r.output);
  BOOST_TEST(has(r.output, "/values/0: file has 0.123456789, suite edge has "), r.output);
  BOOST_TEST(!fs::exists(out));

  // A shard generated at other --bits.
  BOOST_TEST_REQUIRE(run_gradspec("gen --suite edge --quiet --shard 1/3 --bits 128 --out " + s.path("bits")).code == 0);
  r = merge(s.path("shard0") + " " + s.path("bits") + " " + s.path("shard2"));
  BOOST_TEST(r.code == 2, r.output);
  BOOST_TEST(has(r.output, "/generator/precision_bits: file has "), r.output);
  BOOST_TEST(!fs::exists(out));

  // Merging into one of the shard folders would change an input.
  r = run_gradspec("merge --suite edge --out " + s.path("shard0") + " " + shards(s));
  BOOST_TEST(r.code == 2, r.output);
  BOOST_TEST(has(r.output, "--out: "), r.output);
  // After all that, the untouched shards still merge.
  BOOST_TEST(merge(shards(s)).code == 0);
}

BOOST_AUTO_TEST_CASE(no_intermediates_leaves_them_out_and_still_checks) {
  scratch s;
  BOOST_TEST_REQUIRE(run_gradspec("gen --op attention --quiet --no-intermediates --out " + s.path("lean.json")).code == 0);
  BOOST_TEST_REQUIRE(run_gradspec("gen --op attention --quiet --out " + s.path("full.json")).code == 0);
  const auto lean = gradspec::cases::read_json_file(s.path("lean.json")), full = gradspec::cases::read_json_file(s.path("full.json"));
  BOOST_TEST(lean["generator"]["intermediates"] == false);
  BOOST_TEST(!full["generator"].contains("intermediates"));
  BOOST_TEST(!lean["cases"][0]["expected"].contains("intermediates"));
  BOOST_TEST(full["cases"][0]["expected"].contains("intermediates")); // attention has scores and weights
  BOOST_TEST(lean["cases"][0]["expected"]["outputs"] == full["cases"][0]["expected"]["outputs"]);

  auto r = run_gradspec("run --suite " + s.path("lean.json") + " --builtin reference-f64");
  BOOST_TEST(r.code == 0, r.output);
  r = run_gradspec("verify " + s.path("lean.json"));
  BOOST_TEST(r.code == 0, r.output);
  BOOST_TEST(has(r.output, "1 of 1 case verifies"), r.output);

  // A suite shard too: every file without intermediates.
  BOOST_TEST_REQUIRE(run_gradspec("gen --suite edge --shard 0/3 --quiet --no-intermediates --out " + s.path("lean")).code == 0);
  for (const auto& e : fs::directory_iterator(s.path("lean")))
    BOOST_TEST(!has(slurp(e.path()), "\"intermediates\": {"), e.path().string());
}

BOOST_AUTO_TEST_SUITE_END()
