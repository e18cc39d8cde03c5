// One verb of the command line: it declares its options on its subcommand and returns the function
// that runs it after parsing. Errors are exceptions: gradspec::bad_input -> exit 2, others -> exit 1.
#pragma once

#include "gradspec/cases/case_file.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <functional>
#include <string>

namespace gradspec::cli {

struct verb {
  const char* name;
  const char* summary;
  std::function<std::function<int()>(CLI::App&)> define;
};

verb ops_verb();
verb gen_verb();
verb merge_verb();
verb verify_verb();
verb check_verb();
verb run_verb();
verb report_verb();
verb gradcheck_verb();

// The case files PATH names: the file itself (read as it is: anything but a case file, or with
// `golden` a golden file, is bad_input naming it), or every *.json under the folder, subfolders
// included, in sorted order. Files found in a folder that are not case files (another "format", or
// with `golden` a spec file without "expected") are skipped with a line on stderr; a folder with no
// case file at all is bad_input. Run, check and verify read golden files; gradcheck spec files too.
// fast: golden files through read_golden_file_fast where it applies (each case's expected left
// unparsed: cases::parse_lazy_expected before judging it).
std::vector<cases::case_file> read_case_files(const std::string& path, bool golden, bool fast = false);

// The paths of read files (for refuse_overwriting_inputs).
std::vector<std::string> paths_of(const std::vector<cases::case_file>& files);

// An option's description with its default, from the value the option starts with: "seconds (default
// 60)", "seconds (per case; default 60)".
template <class T> std::string defaulted(const std::string& text, const T& value) {
  if (!text.empty() && text.back() == ')') return fmt::format("{}; default {})", text.substr(0, text.size() - 1), value);
  return fmt::format("{} (default {})", text, value);
}

// Common options.
struct precision_option {
  unsigned bits = 256;
  void add(CLI::App& app) {
    app.add_option("--bits", bits, defaulted("working precision in bits; the file records the effective MPFR precision", bits))
        ->check(CLI::Range(24u, 1u << 16)); // cases::max_precision_bits
  }
};

// --timeout SECONDS: finite, > 0 and at most 1e6 (CLI::PositiveNumber lets nan and 1e300 through).
inline CLI::Validator timeout_seconds() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(text, v) || !(v > 0 && v <= 1e6)) return "expected seconds in (0, 1e6], got " + text;
        return {};
      },
      "SECONDS");
}

} // namespace gradspec::cli
