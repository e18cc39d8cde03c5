#include "gradspec/cases/merge_suite.hpp"

#include "gradspec/cases/suites.hpp"
#include "gradspec/errors.hpp"

#include <algorithm>
#include <filesystem>
#include <map>

namespace gradspec::cases {

namespace fs = std::filesystem;

namespace {

// A shard's file once checked: its bytes (copied as they are) and its generator header. The parsed
// cases are dropped after the check: a merge holds every file's text until it writes, and the
// parsed models of a large suite would be several times that.
struct shard_file {
  std::string path, text;
  json generator;
};

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

// A param as the file writes it, so that values of different kinds never compare equal.
std::string param_text(const reference::param_value& v) {
  using kind = reference::param_value::kind;
  switch (v.type) {
  case kind::null: return "null";
  case kind::boolean: return v.boolean ? "true" : "false";
  case kind::integer: return std::to_string(v.integer);
  case kind::number: return v.text;
  case kind::string: return quoted(v.text);
  }
  return "?";
}

// The spec side of a case read from a shard (`got`) against the suite's (`want`): id, op, params
// (defaults filled in on both sides) and inputs, value by value as decimal text. Cotangents are not
// compared: the suite leaves most to generation, and they would need a forward pass.
void compare_case(const test_case& got, const test_case& want, const std::string& suite) {
  const std::string at = case_path(got.index);
  auto differ = [&](const std::string& where, const std::string& has, const std::string& should) {
    throw bad_input(at + where, "file has " + has + ", suite " + suite + " has " + should);
  };
  if (got.id != want.id) differ("/id", quoted(got.id), quoted(want.id));
  if (got.op != want.op) differ("/op", quoted(got.op), quoted(want.op));
  for (const auto& [name, value] : want.params.values) {
    auto it = got.params.values.find(name);
    const std::string has = it == got.params.values.end() ? "none" : param_text(it->second);
    if (has != param_text(value)) differ("/params/" + name, has, param_text(value));
  }
  for (const auto& [name, t] : got.inputs)
    if (!want.inputs.count(name)) throw bad_input(at + "/inputs/" + name, "not an input of the suite's case");
  for (const auto& [name, t] : want.inputs) {
    const std::string p = "/inputs/" + name;
    auto it = got.inputs.find(name);
    if (it == got.inputs.end()) throw bad_input(at + p, "missing: suite " + suite + " has this input");
    const raw_tensor& g = it->second;
    if (g.shape != t.shape) differ(p + "/shape", reference::shape_to_string(g.shape), reference::shape_to_string(t.shape));
    if (g.integer != t.integer) differ(p + "/dtype", g.integer ? "int64" : "real", t.integer ? "int64" : "real");
    for (std::size_t i = 0; i < t.values.size(); ++i)
      if (g.values[i] != t.values[i]) differ(p + "/values/" + std::to_string(i), g.values[i], t.values[i]);
    for (std::size_t i = 0; i < t.ints.size(); ++i)
      if (g.ints[i] != t.ints[i]) differ(p + "/values/" + std::to_string(i), std::to_string(g.ints[i]), std::to_string(t.ints[i]));
  }
}

// A shard file read once (the bytes checked are the bytes copied) and checked against the suite's file.
shard_file read_shard_file(const std::string& path, const suite_file& want, const std::string& suite) {
  shard_file f;
  f.path = path;
  f.text = read_text_file(path);
  const case_file file = parse_case_file(parse_json_text(f.text, path), path); // errors name the file already
  try {
    if (!file.header.contains("generator"))
      throw bad_input("/generator", "missing: not a golden file written by gradspec gen");
    if (file.cases.size() != want.cases.size())
      throw bad_input("/cases", std::to_string(file.cases.size()) + " cases, suite " + suite + " has " +
                                    std::to_string(want.cases.size()) + " in this file");
    for (std::size_t i = 0; i < want.cases.size(); ++i) {
      if (!file.cases[i].expected) throw bad_input(case_path(i), "no \"expected\": a spec file, not a golden file");
      compare_case(file.cases[i], want.cases[i], suite);
    }
  } catch (const bad_input& e) {
    throw e.in_file(path);
  }
  f.generator = file.header.at("generator");
  return f;
}

// Every shard must come from the same gradspec and the same generation options: `generator` (name,
// version, precision_bits, check_precision_bits, intermediates) equal to the first file's.
void require_same_generator(const shard_file& f, const shard_file& first) {
  const json &g = f.generator, &r = first.generator;
  std::vector<std::string> keys; // both sides' keys, each once, in file order
  for (const json* side : {&g, &r})
    for (auto it = side->begin(); it != side->end(); ++it)
      if (std::find(keys.begin(), keys.end(), it.key()) == keys.end()) keys.push_back(it.key());
  for (const auto& key : keys) {
    const std::string has = g.contains(key) ? g[key].dump() : "none", other = r.contains(key) ? r[key].dump() : "none";
    if (has != other)
      throw bad_input(f.path + ": /generator/" + key, "file has " + has + ", " + first.path + " has " + other +
                                                         " (shards must come from the same gradspec version, --bits and --no-intermediates)");
  }
}

} // namespace

std::size_t merge_suite(const merge_run& run) {
  if (run.shards.empty()) throw bad_input("", "merge: give the shard folders");
  const std::vector<suite_file> suite = build_suite(run.suite); // bad_input for an unknown name
  std::map<std::string, const suite_file*> wanted;                 // "softmax.json" -> the suite's file
  for (const auto& f : suite) wanted[f.op + ".json"] = &f;

  // Everything is checked before anything is written, so a failed merge leaves no partial folder.
  std::map<std::string, shard_file> found; // by file name
  const shard_file* first = nullptr;
  for (const auto& dir : run.shards) {
    if (!fs::is_directory(dir)) throw bad_input(dir, "not a folder (merge takes the folders gen --shard wrote)");
    if (fs::exists(run.out) && fs::equivalent(run.out, dir))
      throw bad_input("--out", run.out + " is the shard folder " + dir + ": merge into another folder");
    std::vector<fs::path> entries;
    for (const auto& e : fs::directory_iterator(dir)) entries.push_back(e.path());
    std::sort(entries.begin(), entries.end()); // the first error is the same on every file system
    for (const auto& entry : entries) {
      // Strict: a shard folder holds the suite's files and nothing else. A stray file may be a
      // shard of another suite, or a temporary left by a killed job.
      const std::string path = entry.string(), name = entry.filename().string();
      auto want = wanted.find(name);
      if (want == wanted.end()) throw bad_input(path, "not a file of suite " + run.suite + " (a shard folder holds only its files)");
      if (auto other = found.find(name); other != found.end())
        throw bad_input(path, "duplicate: " + other->second.path + " holds this file of suite " + run.suite + " too");
      shard_file f = read_shard_file(path, *want->second, run.suite);
      if (first) require_same_generator(f, *first);
      const shard_file& kept = found[name] = std::move(f);
      if (!first) first = &kept; // map nodes do not move
    }
  }
  std::string missing;
  for (const auto& [name, f] : wanted)
    if (!found.count(name)) missing += (missing.empty() ? "" : ", ") + name;
  if (!missing.empty())
    throw bad_input("", "merge: suite " + run.suite + " has files that no shard folder holds: " + missing +
                            " (a shard missing or unfinished?)");

  std::error_code ec;
  fs::create_directories(run.out, ec);
  if (!fs::is_directory(run.out)) throw bad_input("--out", "cannot create folder " + run.out);
  std::vector<std::string> inputs;
  for (const auto& [name, f] : found) inputs.push_back(f.path);
  for (const auto& [name, f] : found) refuse_overwriting_inputs((fs::path(run.out) / name).string(), "--out", inputs);
  for (const auto& [name, f] : found) write_file_atomically((fs::path(run.out) / name).string(), f.text);
  return found.size();
}

} // namespace gradspec::cases
