// libFuzzer target: the check-summary reader of `report` ("gradspec-check/1", the --json of check and
// run), reports::read_summary, on a file holding the fuzzer's bytes. bad_input is the only
// acceptable failure.
#include "fuzz_input.hpp"

#include "gradspec/errors.hpp"
#include "gradspec/reports/report.hpp"

using namespace gradspec;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::scratch_file file;
  try {
    reports::read_summary(file.write(data, size));
  } catch (const bad_input&) {
  }
  return 0;
}
