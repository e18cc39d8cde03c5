// gradspec gen --from SPEC --out FILE: fills `expected` for user-given inputs.
#include "verbs.hpp"

#include "gradspec/cases/generate.hpp"
#include "gradspec/errors.hpp"

#include <iostream>
#include <memory>

namespace gradspec::cli {

namespace {

struct gen_options {
  std::string from, out;
  precision_option precision;
  bool quiet = false;
};

int run_gen(const gen_options& o) {
  if (o.from.empty()) throw bad_input("", "gen: give --from SPEC");
  if (o.out.empty()) throw bad_input("", "gen: give --out FILE");
  const cases::case_file spec = cases::read_case_file(o.from);
  cases::generation_options options;
  options.bits = o.precision.bits;
  const cases::json doc = cases::generate_file(spec, options);
  cases::write_file_atomically(o.out, cases::to_text(doc));
  if (!o.quiet) std::cerr << "gradspec: wrote " << spec.cases.size() << " case(s) to " << o.out << "\n";
  return 0;
}

} // namespace

verb gen_verb() {
  return {"gen", "generate golden cases (from a spec file)", [](CLI::App& app) {
            auto o = std::make_shared<gen_options>();
            app.add_option("--from", o->from, "spec file: the case format without `expected`");
            app.add_option("--out", o->out, "file to write");
            o->precision.add(app);
            app.add_flag("--quiet", o->quiet, "no progress or summary on stderr");
            return std::function<int()>([o] { return run_gen(*o); });
          }};
}

} // namespace gradspec::cli
