// gradspec merge: the folders of `gen --suite NAME --shard i/n` (one per shard, from parallel jobs)
// into one folder, after checking that together they are exactly the suite (cases/merge_suite.hpp).
#include "verbs.hpp"

#include "gradspec/cases/merge_suite.hpp"

#include <iostream>
#include <memory>

namespace gradspec::cli {

verb merge_verb() {
  return {"merge", "check that shard folders of gen --suite --shard are exactly the suite, and merge them", [](CLI::App& app) {
            auto o = std::make_shared<cases::merge_run>();
            auto quiet = std::make_shared<bool>(false);
            app.add_option("shards", o->shards, "the shard folders (gen --suite NAME --shard i/n --out FOLDER), in any order")->required();
            app.add_option("--suite", o->suite, "the suite the shards are of (standard, edge, examples, sweep)")->required();
            app.add_option("--out", o->out, "folder to write the suite's files into (copied byte for byte)")->required();
            app.add_flag("--quiet", *quiet, "no summary on stderr");
            return std::function<int()>([o, quiet] {
              const std::size_t n = cases::merge_suite(*o);
              if (!*quiet)
                std::cerr << "gradspec: merged " << n << " files of suite " << o->suite << " from " << o->shards.size()
                          << " shard folders into " << o->out << "\n";
              return 0;
            });
          }};
}

} // namespace gradspec::cli
