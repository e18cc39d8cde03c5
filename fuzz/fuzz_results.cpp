// libFuzzer target: the result reader, checkers::read_results, on a file holding the fuzzer's bytes:
// a "gradspec-results/1" document or adapter response lines (handshake first), detected from the
// first line as `check --results` does. bad_input is the only acceptable failure.
//
// Differential: the fast reader (read_results_text_fast, check's path for large files) must never
// accept what read_results refuses, and must read what it accepts to the same values.
#include "fuzz_input.hpp"

#include "gradspec/checkers/results.hpp"
#include "gradspec/errors.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

using namespace gradspec;

namespace {

[[noreturn]] void finding(const char* what) {
  std::fprintf(stderr, "fuzz_results: the fast reader %s\n", what);
  std::abort();
}

bool same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || (a == b && std::signbit(a) == std::signbit(b)); }

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::scratch_file file;
  const std::string text = fuzz::text_of(data, size);
  const std::string path = file.write(data, size);
  auto fast = checkers::read_results_text_fast(text, path); // the same name: `where` holds it
  if (fast && !checkers::parse_lazy_results(*fast)) fast.reset(); // check gives up on such a file too
  try {
    const checkers::result_set slow = checkers::read_results(path);
    if (!fast) return 0;
    if (fast->results.size() != slow.results.size() || fast->where != slow.where || fast->gradients != slow.gradients ||
        fast->implementation.name != slow.implementation.name || fast->implementation.dtype != slow.implementation.dtype)
      finding("reads another result set");
    for (const auto& [id, r] : slow.results) {
      const auto& f = fast->results.at(id);
      if (f.error != r.error || f.dtype != r.dtype || f.tensors.size() != r.tensors.size()) finding("reads another answer");
      for (const auto& [name, t] : r.tensors) {
        auto it = f.tensors.find(name);
        if (it == f.tensors.end() || it->second.shape != t.shape || it->second.values.size() != t.values.size()) finding("reads another tensor");
        for (std::size_t i = 0; i < t.values.size(); ++i)
          if (!same(it->second.values[i], t.values[i])) finding("reads another value");
      }
    }
  } catch (const bad_input&) {
    if (fast) finding("accepts a file read_results refuses");
  }
  return 0;
}
