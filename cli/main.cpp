// gradspec <verb> [options]: the verbs are rows of one table.
#include "verbs.hpp"

#include "gradspec/cases/generate.hpp"
#include "gradspec/errors.hpp"

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <unistd.h>
#include <malloc.h>
#include <vector>

namespace {

// `check` touches gigabytes of fresh memory for 10^7 values, and the first touch of each 4 KiB page
// costs this kind of VM more than a third of check's time (kernel page faults). glibc backs its heap
// with transparent huge pages when the tunable glibc.malloc.hugetlb=1 is set, and reads tunables at
// start-up only: so check sets it and starts itself again, once (4.0 s instead of 6.1 s for 10^7
// values here). GRADSPEC_THP=0 turns this off. The variable is restored at the second start, so
// nothing check might start inherits it.
void restart_check_with_huge_pages(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "check") != 0) return;
  if (const char* thp = std::getenv("GRADSPEC_THP"); thp && std::strcmp(thp, "0") == 0) return;
  if (const char* restarted = std::getenv("GRADSPEC_THP_RESTARTED")) { // the second start: put the environment back
    if (*restarted) ::setenv("GLIBC_TUNABLES", restarted + 1, 1); // "=" + the former value
    else ::unsetenv("GLIBC_TUNABLES");
    ::unsetenv("GRADSPEC_THP_RESTARTED");
    return;
  }
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables && std::strstr(tunables, "glibc.malloc.hugetlb")) return; // the user's own choice
  ::setenv("GRADSPEC_THP_RESTARTED", tunables ? (std::string("=") + tunables).c_str() : "", 1);
  ::setenv("GLIBC_TUNABLES", tunables ? (std::string(tunables) + ":glibc.malloc.hugetlb=1").c_str() : "glibc.malloc.hugetlb=1", 1);
  ::execv("/proc/self/exe", argv);
  ::unsetenv("GRADSPEC_THP_RESTARTED"); // exec failed: go on as we are
}

} // namespace

int main(int argc, char** argv) {
  using namespace gradspec::cli;
  restart_check_with_huge_pages(argc, argv);
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
