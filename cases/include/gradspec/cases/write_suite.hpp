// Writing a named suite to a folder, one file per op: optionally a shard of it (files i, i+n, ...)
// and over several worker processes (MPFR's default precision is per process, so workers are
// processes, not threads). Each file is written atomically as soon as it is complete.
#pragma once

#include "gradspec/cases/generate.hpp"

#include <string>

namespace gradspec::cases {

struct suite_run {
  std::string suite, dir;
  generation_options generation;
  unsigned jobs = 1;
  unsigned shard_index = 0, shard_count = 1;
  bool progress = false; // a progress bar on stderr
};

// Returns the process exit code: 0, 1 (generation failed) or 2 (bad input); workers print their own
// errors. Throws bad_input for a bad suite name, shard or folder.
int write_suite(const suite_run& run);

// "i/n" with 0 <= i < n.
std::pair<unsigned, unsigned> parse_shard(const std::string& text);

} // namespace gradspec::cases
