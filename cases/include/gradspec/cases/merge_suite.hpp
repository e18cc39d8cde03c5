// Merging the shards of a suite (`gen --suite NAME --shard i/n`, each into its own folder) into one
// folder, after checking that the shards together are exactly the suite: each of its files present
// once, each a golden case file from the same gradspec version and precision as the others, each
// case with the id, op, params and inputs the suite defines. The golden values themselves are not
// re-derived (that is `gradspec verify`): this checks the spec side only, so it costs no evaluation.
#pragma once

#include <string>
#include <vector>

namespace gradspec::cases {

struct merge_run {
  std::string suite, out;          // suite name; the folder to write
  std::vector<std::string> shards; // the shard folders
};

// Checks every shard file, then copies them byte for byte into `out` (each atomically) and returns
// the number of files written. Any mismatch throws bad_input naming the file and the JSON path, and
// then nothing is written.
std::size_t merge_suite(const merge_run& run);

} // namespace gradspec::cases
