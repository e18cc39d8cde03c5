// gradspec check --cases PATH --results FILE [--dtype D]: compares a candidate's results (a result
// file, or adapter response lines) with golden cases.
#include "verbs.hpp"

#include "check_options.hpp"
#include "provenance.hpp"
#include "gradspec/cases/fast_golden.hpp"
#include "gradspec/cases/mapped_pages.hpp"
#include "gradspec/checkers/summary.hpp"

#include <filesystem>
#include <future>
#include <iostream>
#include <map>
#include <optional>
#include <memory>
#include <set>

namespace gradspec::cli {

namespace {

struct options {
  std::string cases_path, results;
  check_options check;
};

// The candidate's dtype as the results declare it (CONTRACT v1.1): the result file's
// implementation.dtype, else the answers' "dtype" (all the same), else the handshake's only dtype.
std::string declared_dtype(const checkers::result_set& r, const std::string& file) {
  if (!r.implementation.dtype.empty()) return r.implementation.dtype;
  if (r.line_dtypes.size() > 1)
    throw bad_input(file, "the answers declare more than one dtype; check each dtype's answers separately, or give --dtype");
  if (r.line_dtypes.size() == 1) return *r.line_dtypes.begin();
  if (r.handshake_dtypes.size() == 1) return *r.handshake_dtypes.begin();
  return "";
}

// The fast readers met something they leave to the validating ones: check again with those.
struct fast_path_abandoned {};

int run_check(const options& o, bool fast) {
  // SHA-1s for the provenance on another thread from the start, of regular files only (mapped: a
  // device or a pipe is never read there, and is refused by the readers below); the others are
  // hashed at the end, once read.
  std::vector<std::string> regular = {o.results};
  if (std::error_code ec; std::filesystem::is_regular_file(o.cases_path, ec)) regular.push_back(o.cases_path);
  auto hashes = std::async(std::launch::async, [regular] {
    std::map<std::string, std::string> out;
    for (const auto& path : regular)
      if (auto h = mapped_file_sha1(path)) out[path] = *h;
    return out;
  });
  // The result file on the second core while the golden files are read (a bad golden file is still
  // reported first: its error comes from this thread).
  std::future<std::optional<checkers::result_set>> fast_results;
  if (fast) fast_results = std::async(std::launch::async, [&o] { return checkers::read_results_fast(o.results); });
  // hardening: --json must not overwrite an input file
  std::vector<cases::case_file> files = read_case_files(o.cases_path, true, fast); // a spec file is bad input
  auto inputs = paths_of(files);
  inputs.push_back(o.results);
  cases::refuse_overwriting_inputs(o.check.json_path, "--json", inputs);
  std::optional<checkers::result_set> read = fast ? fast_results.get() : std::nullopt;
  auto results = read ? std::move(*read) : checkers::read_results(o.results);
  checkers::policy p = o.check.make_policy(declared_dtype(results, o.results), o.results + ": --dtype");
  if (!results.gradients) p.forward_only = true;
  std::vector<checkers::case_finding> findings;
  std::set<std::string> ids;
  for (auto& cf : files) {
    for (auto& c : cf.cases) {
      ids.insert(c.id);
      auto it = results.results.find(c.id);
      // This case's answer is read (fast path: its tensors were left unread) on the other core
      // while the case itself is.
      std::future<bool> answer_read;
      if (it != results.results.end() && !it->second.unparsed.empty()) answer_read = std::async(std::launch::async, [&r = it->second] { return checkers::parse_lazy_result(r); });
      // Checked for every case, judged or skipped, as the validating reader checks every case.
      const bool case_read = cases::parse_lazy_expected(c);
      if (answer_read.valid() && !answer_read.get()) throw fast_path_abandoned{};
      if (!case_read) throw fast_path_abandoned{};
      if (results.ops && !results.ops->count(c.op)) {
        findings.push_back({c.id, c.op, "skipped", "op not listed in the handshake", "", {}, 0});
        continue;
      }
      try {
        findings.push_back(check_options::judge(c, it == results.results.end() ? nullptr : &it->second, p, check_options::notes_of(cf)));
      } catch (const bad_input& e) {
        throw e.in_file(cf.path);
      }
      c.expected_tensors = {}; // judged: one case's values in memory at a time
      cases::release_mapped_pages(c.expected_text); // the pages a finding's quoted values brought back
      c.inputs = {};
      c.cotangents = {};
      c.double_args_cache = nullptr;
      if (it != results.results.end() && !it->second.unparsed.empty()) it->second.tensors = {}; // read again if another file has this id
    }
  }
  // Answers no case asked for are read too (the others were, with their cases), as the validating
  // reader reads every answer: a bad value there is reported as such, before the unknown id below.
  for (auto& [id, r] : results.results)
    if (!ids.count(id) && !checkers::parse_lazy_result(r)) throw fast_path_abandoned{};
  // A result for no case is bad input: a misspelt id would otherwise pass by being skipped.
  for (const auto& [id, where] : results.where)
    if (!ids.count(id)) throw bad_input(where, "id \"" + id + "\" names no case in " + o.cases_path);
  checkers::implementation_info impl = results.implementation;
  const auto sha1 = hashes.get();
  const std::string results_sha1 = sha1.count(o.results) ? sha1.at(o.results) : file_sha1(o.results);
  cases::json candidate = {{"name", impl.name}, {"version", impl.version}, {"results", o.results}, {"results_sha1", results_sha1}};
  if (!results.handshake_dtypes.empty()) candidate["dtypes"] = results.handshake_dtypes;
  if (results.ops) candidate["ops"] = *results.ops;
  candidate["gradients"] = results.gradients;
  o.check.report(impl, p, findings, provenance_json(files, candidate, sha1));
  return checkers::exit_code(findings, p);
}

} // namespace

verb check_verb() {
  return {"check", "compare a result file (or adapter responses) with golden cases", [](CLI::App& app) {
            auto o = std::make_shared<options>();
            app.add_option("--cases", o->cases_path, "golden case file, or a folder (its golden files, subfolders included; other JSON files are skipped)")->required();
            app.add_option("--results", o->results, "result file, or adapter response lines")->required();
            o->check.add(app);
            return std::function<int()>([o] {
              try {
                return run_check(*o, true);
              } catch (const fast_path_abandoned&) {
                return run_check(*o, false);
              }
            });
          }};
}

} // namespace gradspec::cli
