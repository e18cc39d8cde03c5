// Running the real gradspec binary from a test: exit code and combined output.
#pragma once

#include <array>
#include <cstdio>
#include <string>
#include <sys/wait.h>

namespace gradspec::testing {

struct run_result {
  int code;
  std::string output; // stdout and stderr together
};

// Runs `gradspec ARGS` from the source root (so cases/, adapters/ resolve).
inline run_result run_gradspec(const std::string& args) {
  // Appended piece by piece: GCC 12's -Warray-bounds misfires on a chain of + over literals here.
  std::string command = "cd ";
  for (const std::string& piece : {std::string(GRADSPEC_SOURCE_DIR), std::string(" && "), std::string(GRADSPEC_BINARY), " " + args, std::string(" 2>&1")})
    command += piece;
  FILE* pipe = popen(command.c_str(), "r");
  std::string output;
  std::array<char, 4096> buffer;
  while (std::size_t n = fread(buffer.data(), 1, buffer.size(), pipe)) output.append(buffer.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

} // namespace gradspec::testing
