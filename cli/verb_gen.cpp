// gradspec gen: golden cases from a spec file (--from) or one random case of an op (--op).
#include "verbs.hpp"

#include "gradspec/cases/generate.hpp"
#include "gradspec/cases/generators.hpp"
#include "gradspec/cases/write_suite.hpp"
#include "gradspec/errors.hpp"
#include "option_checks.hpp"

#include <iostream>
#include <memory>
#include <unistd.h>

namespace gradspec::cli {

namespace {

struct gen_options {
  std::string suite, from, op, shape, param, out, shard = "0/1";
  unsigned jobs = 1;
  std::string seed = "0"; // read as text: CLI11 would wrap "-1" into 2^64 - 1
  precision_option precision;
  bool quiet = false, no_intermediates = false;
};

cases::case_file one_case_file(const gen_options& o) {
  std::map<std::string, reference::param_value> params;
  for (const auto& [k, v] : cases::parse_key_values(o.param, "--param")) params[k] = reference::param_from_text(v);
  cases::case_file file;
  file.path = "--op " + o.op;
  file.header["format"] = "gradspec-cases/1";
  try {
    file.cases.push_back(cases::make_case(o.op, cases::parse_key_values(o.shape, "--shape"), params, unsigned_option(o.seed, "--seed")));
  } catch (const bad_input& e) {
    // validate_params reports "params/NAME": say which option that came from.
    throw bad_input(e.path().rfind("params", 0) == 0 ? "--param " + e.path().substr(std::min<std::size_t>(7, e.path().size())) : e.path(),
                    e.message());
  }
  return file;
}

int run_gen(const gen_options& o) {
  if (o.from.empty() + o.op.empty() + o.suite.empty() != 2)
    throw bad_input("", "gen: give exactly one of --suite NAME, --from SPEC or --op OP");
  if (o.out.empty()) throw bad_input("", o.suite.empty() ? "gen: give --out FILE" : "gen: give --out DIR");
  if (!o.suite.empty()) {
    cases::suite_run run;
    run.suite = o.suite;
    run.dir = o.out;
    run.generation.bits = o.precision.bits;
    run.generation.intermediates = !o.no_intermediates;
    run.jobs = o.jobs;
    std::tie(run.shard_index, run.shard_count) = cases::parse_shard(o.shard);
    run.progress = !o.quiet && ::isatty(2);
    const int code = cases::write_suite(run);
    if (code == 0 && !o.quiet) std::cerr << "gradspec: wrote suite " << o.suite << " to " << o.out << "\n";
    return code;
  }
  if (!o.from.empty()) cases::refuse_overwriting_inputs(o.out, "--out", {o.from});
  cases::case_file spec = o.from.empty() ? one_case_file(o) : cases::read_case_file(o.from);
  const std::size_t count = spec.cases.size();
  cases::generation_options options;
  options.bits = o.precision.bits;
  options.intermediates = !o.no_intermediates;
  options.text_values = true;
  cases::write_json_atomically(o.out, cases::generate_file(std::move(spec), options));
  if (!o.quiet) std::cerr << "gradspec: wrote " << count << " case(s) to " << o.out << "\n";
  return 0;
}

} // namespace

verb gen_verb() {
  return {"gen", "generate golden cases: from a spec file, or one random case of an op", [](CLI::App& app) {
            auto o = std::make_shared<gen_options>();
            app.add_option("--suite", o->suite, "a named suite (standard, edge, examples, sweep), one file per op into --out DIR");
            app.add_option("--from", o->from, "spec file: the case format without `expected`");
            app.add_option("--op", o->op, "generate one case of this op (see `gradspec ops` for shape keys)");
            app.add_option("--shape", o->shape, "sizes as k=v,...: batch (e.g. 2 or 2x3; 0 = none) and the op's shape keys (default: batch=0 and each key's "
                           "default, listed by `gradspec ops`)");
            app.add_option("--param", o->param, "op params as k=v,... (default: the op's defaults, listed by `gradspec ops`)");
            app.add_option("--seed", o->seed, defaulted("seed of the generated values (part of the case id)", o->seed));
            app.add_option("--out", o->out, "file to write (a folder for --suite)");
            app.add_option("--jobs", o->jobs, defaulted("worker processes for --suite", o->jobs))->check(CLI::Range(1u, 256u));
            app.add_option("--shard", o->shard, defaulted("write only shard i of n of the suite's files (i/n, 0-based)", o->shard + ": all"));
            o->precision.add(app);
            app.add_flag("--no-intermediates", o->no_intermediates,
                         "leave expected.intermediates out (large cases); the file records generator.intermediates = false");
            app.add_flag("--quiet", o->quiet, "no progress or summary on stderr");
            return std::function<int()>([o] { return run_gen(*o); });
          }};
}

} // namespace gradspec::cli
