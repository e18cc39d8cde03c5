// gradspec run --suite PATH --adapter CMD --dtype D: drives an implementation through the adapter
// protocol, then checks it. --emit-requests FILE writes the request lines instead (offline use).
#include "verbs.hpp"

#include "check_options.hpp"
#include "provenance.hpp"
#include "gradspec/checkers/adapter.hpp"

#include <cstdio>
#include <iostream>
#include <memory>
#include <unistd.h>

namespace gradspec::cli {

namespace {

struct options {
  std::string suite, adapter, builtin, results, emit, log;
  double timeout = 60;
  check_options check;
};

std::string number_text(double v) {
  if (std::isnan(v)) return "\"nan\"";
  if (std::isinf(v)) return v > 0 ? "\"inf\"" : "\"-inf\"";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// The collected responses as a result file ("gradspec-results/1").
std::string result_file_text(const checkers::implementation_info& impl, const std::vector<checkers::candidate_result>& results) {
  std::string out = "{\n  \"format\": \"gradspec-results/1\",\n  \"implementation\": " +
                    cases::json({{"name", impl.name}, {"version", impl.version}, {"dtype", impl.dtype}}).dump() + ",\n  \"results\": [";
  bool first_result = true;
  for (const auto& r : results) {
    out += first_result ? "\n    " : ",\n    ";
    first_result = false;
    out += "{\"id\": " + cases::json(r.id).dump();
    if (r.error) {
      out += ", \"error\": " + cases::json(*r.error).dump() + "}";
      continue;
    }
    for (const char* group : {"outputs", "gradients", "intermediates"}) {
      const std::string prefix = std::string(group) + ".";
      std::string body;
      for (const auto& [name, t] : r.tensors) {
        if (name.rfind(prefix, 0) != 0) continue;
        body += body.empty() ? "" : ", ";
        body += cases::json(name.substr(prefix.size())).dump() + ": {\"shape\": " + cases::json(t.shape).dump() + ", \"values\": [";
        for (std::size_t i = 0; i < t.values.size(); ++i) body += (i ? ", " : "") + number_text(t.values[i]);
        body += "]}";
      }
      if (!body.empty()) out += ", \"" + std::string(group) + "\": {" + body + "}";
    }
    out += "}";
  }
  return out + "\n  ]\n}\n";
}

int run(const options& o) {
  checkers::policy p;
  std::vector<cases::case_file> files;
  // hardening: golden files only; no output may overwrite one; a finite positive --timeout
  files = read_case_files(o.suite, true);
  for (const auto& [path, option] : {std::pair{o.results, "--results"}, {o.check.json_path, "--json"}, {o.emit, "--emit-requests"}})
    cases::refuse_overwriting_inputs(path, option, paths_of(files));
  if (!(o.timeout > 0 && o.timeout <= 1e6)) throw bad_input("--timeout", "must be a number of seconds in (0, 1e6]");

  if (!o.emit.empty()) {
    p = o.check.make_policy("");
    std::string text;
    std::size_t n = 0;
    for (const auto& f : files)
      for (const auto& c : f.cases)
        if (checkers::exact_in(c, p.dtype)) {
          text += checkers::request_line(c, p.dtype) + "\n";
          ++n;
        }
    cases::write_file_atomically(o.emit, text);
    if (!o.check.quiet) std::cerr << "gradspec: wrote " << n << " request line(s) to " << o.emit << "\n";
    return 0;
  }
  if (o.adapter.empty() == o.builtin.empty())
    throw bad_input("--adapter", "give --adapter 'COMMAND' or --builtin NAME (or --emit-requests FILE)");

  // The candidate: an adapter process, or a built-in implementation evaluated in process.
  std::unique_ptr<checkers::adapter_process> adapter;
  const checkers::builtin_candidate* builtin = nullptr;
  checkers::handshake h;
  if (!o.builtin.empty()) {
    builtin = checkers::find_builtin(o.builtin);
    if (!builtin) throw bad_input("--builtin", "unknown built-in \"" + o.builtin + "\" (reference-f64, reference-f32; armadillo-f64, armadillo-f32 are their former names)");
    p = o.check.make_policy(builtin->dtype);
    h.implementation = {builtin->name, builtin->version, builtin->dtype};
    h.dtypes = {builtin->dtype};
    h.ops = builtin->ops;
  } else {
    adapter = std::make_unique<checkers::adapter_process>(o.adapter, o.timeout, o.log);
    h = adapter->start();
    // The dtype is never guessed: --dtype, or the handshake's only dtype.
    p = o.check.make_policy(h.dtypes.size() == 1 ? *h.dtypes.begin() : "");
    if (!h.gradients) p.forward_only = true;
  }
  if (!h.dtypes.count(p.dtype)) throw bad_input("--dtype", h.implementation.name + " does not support " + p.dtype);
  checkers::implementation_info impl = h.implementation;
  impl.dtype = p.dtype;

  std::size_t total = 0, done = 0;
  for (const auto& f : files) total += f.cases.size();
  const bool bar = !o.check.quiet && ::isatty(2);
  std::vector<checkers::case_finding> findings;
  std::vector<checkers::candidate_result> responses;
  for (const auto& f : files) {
    for (const auto& c : f.cases) {
      ++done;
      if (bar) std::fprintf(stderr, "\r%zu/%zu cases", done, total);
      checkers::case_finding skipped{c.id, c.op, "skipped", "", "", {}, 0};
      if (!h.ops.count(c.op)) {
        skipped.reason = "op not supported by the adapter";
        findings.push_back(skipped);
        continue;
      }
      if (!checkers::exact_in(c, p.dtype)) {
        skipped.reason = "inputs not exact in " + p.dtype;
        findings.push_back(skipped);
        continue;
      }
      checkers::candidate_result r;
      if (builtin) {
        r = builtin->evaluate(c);
      } else {
        try {
          adapter->start();
          r = adapter->ask(c.id, checkers::request_line(c, p.dtype), checkers::reply_limit(c));
        } catch (const std::runtime_error& e) {
          r.id = c.id;
          r.error = e.what();
        }
      }
      try {
        findings.push_back(check_options::judge(c, &r, p, check_options::notes_of(f)));
      } catch (const bad_input& e) {
        throw e.in_file(f.path);
      }
      responses.push_back(std::move(r));
    }
  }
  if (bar) std::fprintf(stderr, "\n");
  if (adapter) adapter->stop();
  if (!o.results.empty()) cases::write_file_atomically(o.results, result_file_text(impl, responses));
  if (adapter && adapter->restarts() && !o.check.quiet)
    std::cerr << "gradspec: the adapter was restarted " << adapter->restarts() << " time(s)\n";
  cases::json candidate = {{"name", h.implementation.name}, {"version", h.implementation.version}, {"dtypes", h.dtypes},
                           {"ops", h.ops}, {"gradients", h.gradients}};
  candidate[builtin ? "builtin" : "adapter"] = builtin ? o.builtin : o.adapter;
  o.check.report(impl, p, findings, provenance_json(files, candidate));
  return checkers::exit_code(findings, p);
}

} // namespace

verb run_verb() {
  return {"run", "drive an implementation through the adapter protocol, then check it", [](CLI::App& app) {
            auto o = std::make_shared<options>();
            app.add_option("--suite", o->suite, "golden case file, or a folder (its golden files, subfolders included; other JSON files are skipped)")->required();
            auto* adapter = app.add_option("--adapter", o->adapter, "the adapter command (run with /bin/sh -c)");
            auto* builtin = app.add_option("--builtin", o->builtin, "a built-in candidate instead of an adapter: reference-f64, reference-f32 (the reference in float64, float32; armadillo-f64, armadillo-f32: former names)");
            app.add_option("--timeout", o->timeout, defaulted("seconds per case (and for the handshake)", o->timeout))->check(timeout_seconds());
            app.add_option("--results", o->results, "also write the candidate's results here (gradspec-results/1)");
            app.add_option("--emit-requests", o->emit, "write the request lines to this file instead of running an adapter")
                ->excludes(adapter)->excludes(builtin);
            app.add_option("--adapter-log", o->log, "append the adapter's stderr here (default: passed through)");
            o->check.add(app);
            return std::function<int()>([o] { return run(*o); });
          }};
}

} // namespace gradspec::cli
