// docs/ops.json is the committed output of `gradspec ops --json`: the catalogue that Python tools read
// (the PyTorch adapter and its selftest, the bug zoo, the mpmath cross-check) instead of keeping their
// own op lists. It must be what the registry says now (drift check, like the committed suites').
#include "support/run_binary.hpp"
#include "support/scratch.hpp"

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

using gradspec::testing::run_gradspec;
namespace fs = std::filesystem;

namespace {
using gradspec::testing::slurp;

// "line N: committed ... / gradspec ops --json ..." for the first line that differs.
std::string first_difference(const std::string& committed, const std::string& fresh) {
  std::istringstream a(committed), b(fresh);
  std::string la, lb;
  for (int line = 1;; ++line) {
    const bool more_a = static_cast<bool>(std::getline(a, la)), more_b = static_cast<bool>(std::getline(b, lb));
    if (!more_a && !more_b) return "no line differs (line endings?)";
    if (!more_a || !more_b || la != lb)
      return "line " + std::to_string(line) + ":\n  docs/ops.json:        " + (more_a ? la : "(end of file)") +
             "\n  gradspec ops --json:  " + (more_b ? lb : "(end of output)");
  }
}
} // namespace

BOOST_AUTO_TEST_SUITE(ops_json_test)

BOOST_AUTO_TEST_CASE(committed_catalogue_is_current) {
  const auto r = run_gradspec("ops --json");
  BOOST_REQUIRE_MESSAGE(r.code == 0, r.output);
  const auto committed = slurp(fs::path(GRADSPEC_SOURCE_DIR) / "docs" / "ops.json");
  const bool current = committed == r.output; // not BOOST_TEST(a == b): that would print both files
  BOOST_TEST(current,
             "docs/ops.json differs from `gradspec ops --json`; regenerate it from the source root with\n"
             "  build/cli/gradspec ops --json > docs/ops.json\nand commit it. First difference, "
                 << first_difference(committed, r.output));
}

BOOST_AUTO_TEST_SUITE_END()
