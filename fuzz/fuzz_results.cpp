// libFuzzer target: the result reader, checkers::read_results, on a file holding the fuzzer's bytes:
// a "gradspec-results/1" document or adapter response lines (handshake first), detected from the
// first line as `check --results` does. bad_input is the only acceptable failure.
#include "fuzz_input.hpp"

#include "gradspec/checkers/results.hpp"
#include "gradspec/errors.hpp"

using namespace gradspec;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::scratch_file file;
  try {
    (void)checkers::read_results(file.write(data, size));
  } catch (const bad_input&) {
  }
  return 0;
}
