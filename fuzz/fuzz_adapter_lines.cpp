// libFuzzer target: what adapter_process does with the lines an adapter writes (checkers/src/
// adapter.cpp). The handshake check lives inside adapter_process::start(), which needs a process, so
// the first line only goes through parse_json_text as the handshake does; every further line goes
// through parse_json_text + parse_response, exactly as adapter_process::ask() reads a reply.
// bad_input is the only acceptable failure.
#include "fuzz_input.hpp"

#include "gradspec/checkers/results.hpp"
#include "gradspec/errors.hpp"

using namespace gradspec;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = fuzz::text_of(data, size);
  std::size_t start = 0;
  for (bool first = true; start <= text.size(); first = false) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    try {
      const cases::json j = cases::parse_json_text(line, first ? "handshake" : "response");
      if (!first) (void)checkers::parse_response(j, "");
    } catch (const bad_input&) {
    }
  }
  return 0;
}
