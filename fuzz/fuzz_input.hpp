// Shared by the fuzz targets: the fuzzer's bytes as text, and as a file for the readers that take a
// path (read_results, the report's summary reader), so the whole reader runs, file reading included.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace gradspec::fuzz {

inline std::string text_of(const std::uint8_t* data, std::size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// One scratch file per process (in $TMPDIR or /tmp), rewritten for every input and removed at exit.
class scratch_file {
public:
  scratch_file() {
    const char* dir = std::getenv("TMPDIR");
    path_ = std::string(dir && *dir ? dir : "/tmp") + "/gradspec-fuzz-XXXXXX";
    const int fd = ::mkstemp(path_.data());
    if (fd < 0) {
      std::perror("gradspec fuzz: mkstemp");
      std::abort();
    }
    ::close(fd);
  }
  ~scratch_file() { std::remove(path_.c_str()); }
  const std::string& write(const std::uint8_t* data, std::size_t size) {
    std::FILE* f = std::fopen(path_.c_str(), "wb");
    if (!f || std::fwrite(data, 1, size, f) != size || std::fclose(f) != 0) {
      std::perror("gradspec fuzz: writing the scratch file");
      std::abort();
    }
    return path_;
  }

private:
  std::string path_;
};

} // namespace gradspec::fuzz
