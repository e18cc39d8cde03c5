// Keeps README's "Adding an op" true and the catalogue in one place: every path a step starts with
// exists for every op of the registry (templates like `reference/src/ops/X.cpp` with X replaced), every
// shared file it names mentions every op, the per-op folders hold one op per file, and no C++ file
// outside op_list.hpp (and the tests' independent implementations) names the whole catalogue.
#include "support/scratch.hpp"

#include "gradspec/reference/registry.hpp"

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using gradspec::testing::slurp;

namespace {

const fs::path source_dir = GRADSPEC_SOURCE_DIR;

std::vector<std::string> op_names() {
  std::vector<std::string> out;
  for (const auto& op : gradspec::reference::op_catalogue()) out.push_back(op.name);
  return out;
}

// The text of README's "## Adding an op" section, up to the next "## " heading.
std::string adding_an_op_section() {
  const std::string readme = slurp(source_dir / "README.md");
  const auto start = readme.find("\n## Adding an op\n");
  if (start == std::string::npos) return "";
  const auto end = readme.find("\n## ", start + 1);
  return readme.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// The files a step touches: the `backticked` repository paths (a slash and a file extension, no
// spaces) on the first line of each numbered step ("1. `reference/src/ops/X.cpp`: ...").
std::vector<std::string> named_paths(const std::string& section) {
  std::vector<std::string> out;
  const std::regex step(R"(\n[0-9]+\. ([^\n]*))");
  const std::regex code("`([A-Za-z0-9_./-]+/[A-Za-z0-9_.-]+\\.[a-z]+)`");
  for (auto s = std::sregex_iterator(section.begin(), section.end(), step); s != std::sregex_iterator(); ++s) {
    const std::string line = (*s)[1];
    for (auto it = std::sregex_iterator(line.begin(), line.end(), code); it != std::sregex_iterator(); ++it)
      out.push_back((*it)[1]);
  }
  return out;
}

// "reference/src/ops/X.cpp" is a per-op template: its file name starts with "X." or "X_".
bool is_template(const std::string& path) {
  const std::string file = fs::path(path).filename().string();
  return file.rfind("X.", 0) == 0 || file.rfind("X_", 0) == 0;
}

std::string instantiate(const std::string& path, const std::string& op) {
  const auto slash = path.rfind('/');
  return path.substr(0, slash + 1) + op + path.substr(slash + 2);
}

// `name` as a whole identifier (not part of a longer one: "softmax" in "log_softmax" does not count).
bool names_identifier(const std::string& text, const std::string& name) {
  auto is_word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  for (auto pos = text.find(name); pos != std::string::npos; pos = text.find(name, pos + 1)) {
    const bool left = pos == 0 || !is_word(text[pos - 1]);
    const bool right = pos + name.size() >= text.size() || !is_word(text[pos + name.size()]);
    if (left && right) return true;
  }
  return false;
}

} // namespace

BOOST_AUTO_TEST_SUITE(op_layout_test)

BOOST_AUTO_TEST_CASE(readme_lists_files_that_exist_for_every_op) {
  const std::string section = adding_an_op_section();
  BOOST_REQUIRE_MESSAGE(!section.empty(), "README.md has no \"## Adding an op\" section");
  const auto paths = named_paths(section);
  std::size_t templates = 0;
  for (const auto& path : paths) {
    if (!is_template(path)) continue;
    ++templates;
    for (const auto& op : op_names())
      BOOST_TEST(fs::is_regular_file(source_dir / instantiate(path, op)), "README names " << path << ", but " << instantiate(path, op) << " does not exist");
  }
  BOOST_TEST(templates >= 5u, "README's \"Adding an op\" names only " << templates << " per-op files");
}

BOOST_AUTO_TEST_CASE(shared_files_the_readme_names_mention_every_op) {
  std::size_t shared = 0;
  for (const auto& path : named_paths(adding_an_op_section())) {
    if (is_template(path)) continue;
    ++shared;
    BOOST_TEST_REQUIRE(fs::is_regular_file(source_dir / path), "README names " << path << ", which does not exist");
    const std::string text = slurp(source_dir / path);
    for (const auto& op : op_names())
      BOOST_TEST(names_identifier(text, op), "README says adding an op touches " << path << ", but it does not name " << op);
  }
  BOOST_TEST(shared >= 1u); // at least the op list
}

BOOST_AUTO_TEST_CASE(per_op_folders_hold_one_op_per_file) {
  const std::set<std::string> ops = [] {
    const auto v = op_names();
    return std::set<std::string>(v.begin(), v.end());
  }();
  // folder, extension: every such file there is named after one op
  const std::vector<std::pair<std::string, std::string>> folders = {
      {"reference/src/ops", ".cpp"}, {"reference/spec", ".md"}, {"cases/generators", ".cpp"}};
  for (const auto& [folder, extension] : folders) {
    std::size_t seen = 0;
    for (const auto& entry : fs::directory_iterator(source_dir / folder)) {
      if (entry.path().extension() != extension) continue;
      ++seen;
      const std::string stem = entry.path().stem().string();
      BOOST_TEST(ops.count(stem) == 1u, folder << "/" << entry.path().filename().string() << " is not named after an op of the catalogue");
    }
    BOOST_TEST(seen == ops.size(), folder << " holds " << seen << " " << extension << " files for " << ops.size() << " ops");
  }
}

BOOST_AUTO_TEST_CASE(only_the_op_list_names_the_whole_catalogue) {
  // Adapters and the tests' independent implementations are implementations under test or
  // independent derivations; they name their ops by design.
  // Build folders (build, build-asan, ...) hold generated copies and are skipped too.
  const std::set<std::string> skipped = {"adapters", "tests/independent", ".git", "node_modules"};
  std::vector<std::string> naming_all;
  for (auto it = fs::recursive_directory_iterator(source_dir); it != fs::recursive_directory_iterator(); ++it) {
    const std::string relative = fs::relative(it->path(), source_dir).generic_string();
    if (it->is_directory()) {
      if (skipped.count(relative) || relative.rfind("build", 0) == 0) it.disable_recursion_pending();
      continue;
    }
    const auto ext = it->path().extension();
    if (ext != ".cpp" && ext != ".hpp" && ext != ".h") continue;
    const std::string text = slurp(it->path());
    bool all = true;
    for (const auto& op : op_names()) all = all && names_identifier(text, op);
    if (all) naming_all.push_back(relative);
  }
  BOOST_TEST(naming_all.size() == 1u);
  for (const auto& f : naming_all)
    BOOST_TEST(f == "reference/include/gradspec/reference/ops/op_list.hpp", f << " names every op of the catalogue: read op_list.hpp or the registry instead");
}

BOOST_AUTO_TEST_SUITE_END()
