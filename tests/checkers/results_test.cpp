// Reading result files and adapter response lines, and the errors for malformed ones.
#include "gradspec/checkers/results.hpp"
#include "gradspec/errors.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

using namespace gradspec::checkers;

namespace {
std::string write(const std::string& name, const std::string& text) {
  const auto path = (std::filesystem::temp_directory_path() / ("gradspec_results_test_" + name)).string();
  std::ofstream(path) << text;
  return path;
}
} // namespace

BOOST_AUTO_TEST_SUITE(results_test)

BOOST_AUTO_TEST_CASE(result_file) {
  auto path = write("a.json", R"({"format": "gradspec-results/1", "implementation": {"name": "pytorch", "version": "1.13.1", "dtype": "float32"},
    "results": [{"id": "a", "outputs": {"y": {"shape": [2], "values": [0.5, "nan"]}}, "gradients": {"x": {"shape": [], "values": [1]}}},
                {"id": "b", "error": "unsupported op"}]})");
  auto set = read_results(path);
  BOOST_TEST(set.implementation.name == "pytorch");
  BOOST_TEST(set.implementation.dtype == "float32");
  BOOST_TEST(set.results.at("a").tensors.at("outputs.y").values[0] == 0.5);
  BOOST_TEST(std::isnan(set.results.at("a").tensors.at("outputs.y").values[1]));
  BOOST_TEST(set.results.at("a").tensors.at("gradients.x").shape.empty());
  BOOST_TEST(*set.results.at("b").error == "unsupported op");
}

BOOST_AUTO_TEST_CASE(response_lines) {
  auto path = write("b.jsonl", "{\"adapter\": \"gradspec-adapter/1\", \"implementation\": {\"name\": \"mine\", \"version\": \"2\"}, \"dtypes\": [\"float32\"], \"ops\": [\"relu\"]}\n"
                               "{\"id\": \"r\", \"outputs\": {\"y\": {\"shape\": [1], \"values\": [\"-inf\"]}}}\n");
  auto set = read_results(path);
  BOOST_TEST(set.implementation.name == "mine");
  BOOST_TEST(set.results.at("r").tensors.at("outputs.y").values[0] == -INFINITY);
}

BOOST_AUTO_TEST_CASE(malformed_results_name_file_and_path) {
  auto check = [](const std::string& name, const std::string& text, const std::string& where) {
    auto path = write(name, text);
    try {
      read_results(path);
      BOOST_FAIL("no error for " + name);
    } catch (const gradspec::bad_input& e) {
      BOOST_TEST(std::string(e.what()).find(path) != std::string::npos, e.what());
      BOOST_TEST(std::string(e.what()).find(where) != std::string::npos, e.what());
    }
  };
  check("c.json", R"({"format": "gradspec-results/1", "results": [{"id": "a", "outputs": {"y": {"shape": [2], "values": [1]}}}]})",
        "/results/0/outputs/y/values");
  check("d.json", R"({"format": "gradspec-results/1", "results": [{"id": "a", "outputs": {"y": {"shape": [1], "values": [true]}}}]})",
        "/results/0/outputs/y/values/0");
  check("e.json", R"({"format": "nope", "results": []})", "/format");
  check("f.json", R"({"format": "gradspec-results/1", "results": [{"id": "a"}, {"id": "a"}]})", "duplicate");
  check("g.jsonl", "{\"adapter\": \"gradspec-adapter/1\"}\n{\"id\": 3}\n", "line 2");
  check("h.json", "{\"format\": ", "invalid JSON");
  // A shape whose product wraps around 2^64 (2^96 here) must not pass with no values.
  check("i.json", R"({"format": "gradspec-results/1", "results": [{"id": "a", "outputs": {"y": {"shape": [4294967296, 4294967296, 4294967296], "values": []}}}]})",
        "/results/0/outputs/y/shape/0");
  check("j.json", R"({"format": "gradspec-results/1", "results": [{"id": "a", "outputs": {"y": {"shape": [65536, 65536, 0], "values": []}}}]})",
        "/results/0/outputs/y/shape: tensor too large");
}

BOOST_AUTO_TEST_SUITE_END()
