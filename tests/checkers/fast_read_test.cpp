// The fast readers of check (cases/fast_golden.hpp, read_results_fast) against the validating ones:
// the same model from every committed golden file, the same results, nothing accepted that the
// validating reader refuses; decimal_value against glibc's strtold, halfway cases included.
#include "gradspec/cases/fast_golden.hpp"
#include "gradspec/checkers/builtin.hpp"
#include "gradspec/checkers/compare.hpp"
#include "gradspec/checkers/results.hpp"
#include "gradspec/errors.hpp"

#include <boost/test/unit_test.hpp>

#include <mpfr.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

using namespace gradspec;

namespace {

bool same_bits(long double a, long double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return a == b && std::signbit(a) == std::signbit(b);
}

long double reference_value(const std::string& s) { return std::strtold(s.c_str(), nullptr); }

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = (std::filesystem::temp_directory_path() / ("gradspec_fast_read_" + name)).string();
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

} // namespace

BOOST_AUTO_TEST_SUITE(fast_read_test)

BOOST_AUTO_TEST_CASE(decimal_value_is_strtold) {
  std::mt19937_64 rng(42);
  int mismatches = 0;
  for (int k = 0; k < 300000; ++k) {
    std::string s = rng() % 2 ? "-" : "";
    const int digits = 1 + static_cast<int>(rng() % 45);
    const int point = static_cast<int>(rng() % (digits + 1));
    for (int i = 0; i < digits; ++i) {
      if (i == point && i > 0) s += '.';
      s += static_cast<char>('0' + rng() % 10);
    }
    if (rng() % 2) s += "e" + std::to_string(static_cast<int>(rng() % 120) - 70);
    if (!same_bits(cases::decimal_value(s), reference_value(s)) && ++mismatches < 5)
      BOOST_TEST(false, s << ": " << static_cast<double>(cases::decimal_value(s)));
  }
  BOOST_TEST(mismatches == 0);
}

// Values a hair from a rounding boundary of long double: the exact midpoint between two long doubles
// (ties to even), and 40-digit texts just above and below it.
BOOST_AUTO_TEST_CASE(decimal_value_near_halfway) {
  std::mt19937_64 rng(7);
  mpfr_t x;
  mpfr_init2(x, 200);
  int mismatches = 0;
  for (int k = 0; k < 20000; ++k) {
    const std::uint64_t m = rng() | (std::uint64_t{1} << 63);
    mpfr_set_ui(x, static_cast<unsigned long>(m >> 1), MPFR_RNDN); // 63 bits, then the last bit and a half
    mpfr_mul_2ui(x, x, 2, MPFR_RNDN);
    mpfr_add_ui(x, x, static_cast<unsigned long>((m & 1) * 2 + 1), MPFR_RNDN); // (2m + 1): the midpoint above m
    mpfr_mul_2si(x, x, static_cast<long>(rng() % 200) - 150, MPFR_RNDN);
    char* text = nullptr;
    for (int digits : {0, 40, 39}) { // exact, then rounded to 40 and 39 significant digits (off the midpoint)
      mpfr_asprintf(&text, digits == 0 ? "%.80Re" : (digits == 40 ? "%.39Re" : "%.38Re"), x);
      const std::string s = text;
      mpfr_free_str(text);
      if (!same_bits(cases::decimal_value(s), reference_value(s)) && ++mismatches < 5) BOOST_TEST(false, s);
    }
  }
  mpfr_clear(x);
  BOOST_TEST(mismatches == 0);
}

BOOST_AUTO_TEST_CASE(decimal_value_special_and_short_forms) {
  for (const char* s : {"0", "-0", "0.0", "1", "-1.5", "1e-5", "1E+5", "123456789012345678901234567890", ".5", "5.", "+2",
                        "1e-4950", "1e4932", "1e-400", "1e400", "0.000000000000000000000000000000000000000000001"})
    BOOST_TEST(same_bits(cases::decimal_value(s), reference_value(s)), s);
  BOOST_TEST(std::isnan(cases::decimal_value("nan")));
  BOOST_TEST(cases::decimal_value("-inf") == -INFINITY);
  BOOST_TEST(cases::decimal_value("+inf") == INFINITY);
}

// Every committed golden file is read by the fast path (so check's speed applies to gen's files) and
// gives the validating reader's model, value for value.
BOOST_AUTO_TEST_CASE(committed_suites_read_the_same) {
  int files = 0;
  for (const char* suite : {"standard", "edge", "examples"}) {
    for (const auto& entry : std::filesystem::directory_iterator(std::string(GRADSPEC_SOURCE_DIR) + "/cases/" + suite)) {
      if (entry.path().extension() != ".json") continue;
      const std::string path = entry.path().string();
      auto fast = cases::read_golden_file_fast(path);
      BOOST_TEST_REQUIRE(fast.has_value(), path << ": the fast reader gave up");
      for (auto& c : fast->cases) BOOST_TEST_REQUIRE(cases::parse_lazy_expected(c), path << " " << c.id);
      BOOST_TEST(cases::readers_difference(*fast, cases::read_golden_file(path)) == "", path);
      ++files;
    }
  }
  BOOST_TEST(files >= 40);
}

// What the fast reader leaves to the validating one: forms it does not read (it gives up, the check
// then reads the file the ordinary way), and errors (it never accepts them).
BOOST_AUTO_TEST_CASE(unusual_and_bad_files_are_left_to_the_validating_reader) {
  const std::string head = R"({"format": "gradspec-cases/1", "cases": [{"id": "r", "op": "relu", "params": {}, )";
  auto fast_accepts = [](const std::string& text) {
    auto f = cases::read_golden_text_fast(text, nullptr, "t.json");
    if (!f) return false;
    for (auto& c : f->cases)
      if (!cases::parse_lazy_expected(c)) return false;
    return true;
  };
  const std::string good = head + R"("inputs": {"x": {"shape": [2], "values": ["1", "-2"]}}, "expected": {"outputs": {"y": {"shape": [2], "values": ["1", "0"]}}}}]})";
  BOOST_TEST(fast_accepts(good));
  // Small fields go through the validating JSON parser: an escape in a comment reads the same.
  const std::string escaped = head + R"("comment": "caf\u00e9", "inputs": {"x": {"shape": [1], "values": ["1"]}}, "expected": {"outputs": {"y": {"shape": [1], "values": ["1"]}}}}]})";
  BOOST_TEST(fast_accepts(escaped));
  auto f = cases::read_golden_text_fast(escaped, nullptr, "t.json");
  for (auto& c : f->cases) cases::parse_lazy_expected(c);
  BOOST_TEST(cases::readers_difference(*f, cases::read_golden_file(write_temp("escaped.json", escaped))) == "");
  // Valid, but not the fast path's forms: the integer -0 (the validating reader writes it back as "0").
  BOOST_TEST(!fast_accepts(head + R"("inputs": {"x": {"shape": [1], "values": [-0]}}, "expected": {"outputs": {"y": {"shape": [1], "values": ["0"]}}}}]})"));
  // Invalid: the validating reader names these; the fast one must not accept them.
  for (const std::string& bad : {
           head + R"("inputs": {"x": {"shape": [2], "values": ["1", "-2"]}}, "expected": {"outputs": {"y": {"shape": [3], "values": ["1", "0", "0"]}}}}]})",
           head + R"("inputs": {"x": {"shape": [2], "values": ["1", "-2"]}}, "expected": {"outputs": {"y": {"shape": [2], "values": ["1", "zero"]}}}}]})",
           head + R"("inputs": {"x": {"shape": [2], "values": ["1", "-2"]}}, "expected": {"outputs": {"y": {"shape": [2], "values": ["1", "0"]}}, "extra": {}}}]})",
           head + R"("inputs": {"x": {"shape": [2], "values": ["1", "-2"]}}, "expected": {"outputs": {"y": {"shape": [2], "values": ["1", "0"]}}}}]} trailing)",
           head + R"("inputs": {"x": {"shape": [2], "values": ["1", "-2"]}}, "expected": {"outputs": {"y": {"shape": [2], "values": ["1", 0 0]}}}}]})",
           head + R"("inputs": {"x": {"shape": [2], "values": ["1", "-2"]}}, "unknown": 1, "expected": {"outputs": {"y": {"shape": [2], "values": ["1", "0"]}}}}]})",
           head + R"("inputs": {"x": {"shape": [2], "values": ["1", "1e"]}}, "expected": {"outputs": {"y": {"shape": [2], "values": ["1", "0"]}}}}]})",
           head + R"("inputs": {"x": {"shape": [2], "values": [1e400, 1]}}, "expected": {"outputs": {"y": {"shape": [2], "values": ["1", "0"]}}}}]})",
           // found by the differential fuzzer: nlohmann ends its input at a NUL, and skips a byte order mark at its start
           head + std::string(R"("certified_digits": 40)") + std::string(3, '\0') + R"(, "inputs": {"x": {"shape": [1], "values": ["1"]}}, "expected": {"outputs": {"y": {"shape": [1], "values": ["1"]}}}}]})",
           head + "\"comment\": \xEF\xBB\xBF\"bom\", " + R"("inputs": {"x": {"shape": [1], "values": ["1"]}}, "expected": {"outputs": {"y": {"shape": [1], "values": ["1"]}}}}]})",
           head + R"("inputs": {"x": {"shape": [2], "values": ["1", "-2"]}}, "expected": {"outputs": {"y": {"shape": [2], "values": ["1", "0"]}}}}, {"id": "r", "op": "relu", "params": {}, "inputs": {"x": {"shape": [1], "values": ["1"]}}, "expected": {"outputs": {"y": {"shape": [1], "values": ["1"]}}}}]})"}) {
    BOOST_TEST(!fast_accepts(bad), bad);
    bool refused = false;
    try {
      (void)cases::read_golden_file(write_temp("bad.json", bad));
    } catch (const bad_input&) {
      refused = true;
    }
    BOOST_TEST(refused, "the validating reader accepts " << bad);
  }
}

// check's memory is one case's: the fast reader leaves every case's inputs and cotangents unread
// until that case is parsed for judging, and then reads them as the validating reader does.
BOOST_AUTO_TEST_CASE(inputs_are_read_case_by_case) {
  const std::string one = R"({"id": "ID", "op": "softmax", "params": {}, "inputs": {"x": {"shape": [2], "values": ["1", "-2"]}}, )"
                          R"("cotangents": {"y": {"shape": [2], "values": ["0.5", "-0.25"]}}, )"
                          R"("expected": {"outputs": {"y": {"shape": [2], "values": ["0.95257412682243321912", "0.047425873177566780878"]}}, )"
                          R"("gradients": {"x": {"shape": [2], "values": ["0.033813", "-0.033813"]}}}})";
  auto with_id = [&](const std::string& id) { return std::string(one).replace(one.find("ID"), 2, id); };
  const std::string text = R"({"format": "gradspec-cases/1", "cases": [)" + with_id("a") + ", " + with_id("b") + "]}";
  auto fast = cases::read_golden_text_fast(text, nullptr, "t.json");
  BOOST_TEST_REQUIRE(fast.has_value());
  BOOST_TEST_REQUIRE(fast->cases.size() == 2u);
  for (const auto& c : fast->cases) {
    BOOST_TEST(c.inputs.empty());
    BOOST_TEST(c.cotangents.empty());
    BOOST_TEST(!c.inputs_text.empty());
  }
  BOOST_TEST_REQUIRE(cases::parse_lazy_expected(fast->cases[0]));
  BOOST_TEST(fast->cases[0].inputs.at("x").values == (std::vector<std::string>{"1", "-2"}));
  BOOST_TEST(fast->cases[0].cotangents.at("y").values == (std::vector<std::string>{"0.5", "-0.25"}));
  BOOST_TEST(fast->cases[1].inputs.empty()); // not yet
  BOOST_TEST_REQUIRE(cases::parse_lazy_expected(fast->cases[1]));
  BOOST_TEST(cases::readers_difference(*fast, cases::read_golden_file(write_temp("two_cases.json", text))) == "");
  // Read late, still checked: what the validating reader refuses in inputs, the fast path gives up on.
  for (const std::string& bad_inputs : {std::string(R"("inputs": null)"), std::string(R"("inputs": {"x": {"shape": [3], "values": ["1", "-2"]}})"),
                                        std::string(R"("inputs": {"x": {"shape": [2], "values": ["1", "-2"]}}, "inputs": {})")}) {
    std::string bad = text;
    bad.replace(bad.find(R"("inputs")"), std::string(R"("inputs": {"x": {"shape": [2], "values": ["1", "-2"]}})").size(), bad_inputs);
    auto f = cases::read_golden_text_fast(bad, nullptr, "t.json");
    BOOST_TEST((!f || !cases::parse_lazy_expected(f->cases[0])), bad_inputs);
  }
}

BOOST_AUTO_TEST_CASE(results_read_the_same) {
  const std::string text = R"({"format": "gradspec-results/1", "implementation": {"name": "t", "version": "1", "dtype": "float64"},
    "results": [
      {"id": "a", "outputs": {"y": {"shape": [2, 3], "values": [1, -0, 0.1, 1e-320, 1e-400, 12345678901234567890123]}}},
      {"id": "b", "dtype": "float64", "outputs": {"y": {"shape": [4], "values": ["nan", "-inf", "+inf", "0.25"]}},
       "gradients": {"x": {"shape": [], "values": [2.5]}}},
      {"id": "c", "error": "unsupported: no kernel"}]})";
  const std::string path = write_temp("results.json", text);
  auto fast = checkers::read_results_fast(path);
  BOOST_TEST_REQUIRE(fast.has_value());
  // The answers' tensors are read when their cases are judged, not with the file.
  BOOST_TEST(fast->results.at("a").tensors.empty());
  BOOST_TEST(!fast->results.at("a").unparsed.empty());
  BOOST_TEST_REQUIRE(checkers::parse_lazy_results(*fast));
  const auto slow = checkers::read_results(path);
  BOOST_TEST(fast->implementation.name == slow.implementation.name);
  BOOST_TEST(fast->implementation.dtype == slow.implementation.dtype);
  BOOST_TEST((fast->where == slow.where));
  BOOST_TEST(fast->results.size() == slow.results.size());
  for (const auto& [id, r] : slow.results) {
    const auto& f = fast->results.at(id);
    BOOST_TEST((f.error == r.error));
    BOOST_TEST(f.dtype == r.dtype);
    BOOST_TEST(f.tensors.size() == r.tensors.size());
    for (const auto& [name, t] : r.tensors) {
      BOOST_TEST((f.tensors.at(name).shape == t.shape));
      for (std::size_t i = 0; i < t.values.size(); ++i)
        BOOST_TEST(same_bits(f.tensors.at(name).values[i], t.values[i]), id << " " << name << " " << i);
    }
  }
  // Response lines, unknown keys and overflowing numbers (which the validating reader refuses) are
  // the validating reader's: refused when the file is read, or when the answer is.
  auto fast_accepts = [](const std::string& text) {
    auto f = checkers::read_results_text_fast(text, "r");
    return f.has_value() && checkers::parse_lazy_results(*f);
  };
  BOOST_TEST(fast_accepts(R"({"format": "gradspec-results/1", "results": [{"id": "a", "outputs": {"y": {"shape": [1], "values": [1e300]}}}]})"));
  BOOST_TEST(!fast_accepts(R"({"format": "gradspec-results/1", "results": [{"id": "a", "outputs": {"y": {"shape": [1], "values": [1e400]}}}]})"));
  BOOST_TEST(!fast_accepts(R"({"format": "gradspec-results/1", "results": [{"id": "a", "outputs": {"y": {"shape": [2], "values": [1]}}}]})"));
  BOOST_TEST(!fast_accepts(R"({"format": "gradspec-results/1", "results": [{"id": "a", "outputs": 5}]})"));
  BOOST_TEST(!fast_accepts(R"({"adapter": "gradspec-adapter/1"})"));
  BOOST_TEST(!fast_accepts(R"({"format": "gradspec-results/1", "results": [{"id": "a", "note": 1}]})"));
}

// The perturbed baseline without the text round trip (float64) gives the values of the text path.
BOOST_AUTO_TEST_CASE(perturbed_baseline_without_text_is_the_same) {
  int compared = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(GRADSPEC_SOURCE_DIR) + "/cases/standard")) {
    if (entry.path().extension() != ".json") continue;
    for (const auto& c : cases::read_golden_file(entry.path().string()).cases)
      for (const auto& b : checkers::builtin_candidates()) {
        const double relative = b.dtype == "float64" ? 0x1p-52 : 0x1p-23;
        const auto fast = b.evaluate_perturbed(c, relative), text = b.evaluate(checkers::perturbed(c, relative));
        BOOST_TEST((fast.error == text.error), c.id);
        BOOST_TEST(fast.tensors.size() == text.tensors.size(), c.id);
        for (const auto& [name, t] : text.tensors) {
          const auto& f = fast.tensors.at(name);
          bool same = f.values.size() == t.values.size();
          for (std::size_t i = 0; same && i < t.values.size(); ++i) same = same_bits(f.values[i], t.values[i]);
          BOOST_TEST(same, c.id << " " << b.name << " " << name);
          ++compared;
        }
      }
  }
  BOOST_TEST(compared > 100);
}

BOOST_AUTO_TEST_SUITE_END()
