// A test's private temporary folder (emptied when made, removed at the end) and whole-file reading,
// for the tests that drive gradspec through files.
#pragma once

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>

namespace gradspec::testing {

// The whole file, bytes as they are ("" when it cannot be read).
inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// TMPDIR/<prefix>_<pid>: one per test process, so suites run in parallel do not meet.
struct scratch_dir {
  std::filesystem::path dir;
  explicit scratch_dir(const std::string& prefix)
      : dir(std::filesystem::temp_directory_path() / (prefix + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  ~scratch_dir() { std::filesystem::remove_all(dir); }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;

  std::string path(const std::string& name) const { return (dir / name).string(); }
  // Writes `text` to `name` (making its folders) and returns the file's path.
  std::string write(const std::string& name, const std::string& text) const {
    std::filesystem::create_directories((dir / name).parent_path());
    std::ofstream(dir / name, std::ios::binary) << text;
    return path(name);
  }
  std::string read(const std::string& name) const { return slurp(dir / name); }
};

} // namespace gradspec::testing
