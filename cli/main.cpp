// gradspec <verb> [options]: the verbs are rows of one table.
#include "verbs.hpp"

#include "gradspec/cases/generate.hpp"
#include "gradspec/errors.hpp"

#include <iostream>
#include <malloc.h>
#include <vector>

int main(int argc, char** argv) {
  using namespace gradspec::cli;
  // Large tensors come and go (a case's values, a baseline's results): glibc would map each one
  // fresh and unmap it when freed, and first touches of fresh pages dominate (a third of check's
  // time on this VM). Keep them in the heap, reused, and grow it in 64 MiB steps.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 << 20);
  const std::vector<verb> verbs = {ops_verb(), gen_verb(), merge_verb(), check_verb(), run_verb(), gradcheck_verb(), report_verb(), verify_verb()};

  CLI::App app{"gradspec: arbitrary-precision golden values for transformer ops, and checkers", "gradspec"};
  app.set_version_flag("--version", std::string("gradspec ") + gradspec::cases::generator_version,
                       "print the version (the one golden files and summaries record) and exit");
  app.require_subcommand(1);
  std::vector<std::pair<CLI::App*, std::function<int()>>> runners;
  for (const auto& v : verbs) {
    CLI::App* sub = app.add_subcommand(v.name, v.summary);
    runners.emplace_back(sub, v.define(*sub));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    for (auto& [sub, run] : runners)
      if (sub->parsed()) return run();
  } catch (const gradspec::bad_input& e) {
    std::cerr << "gradspec: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "gradspec: error: " << e.what() << "\n";
    return 1;
  }
  return 2;
}
