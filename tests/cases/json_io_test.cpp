// Reading keeps numbers' text exactly; writing is deterministic and atomic; errors name the path.
#include "gradspec/cases/case_file.hpp"
#include "gradspec/cases/json_io.hpp"
#include "gradspec/errors.hpp"

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>

using namespace gradspec::cases;

BOOST_AUTO_TEST_SUITE(json_io_test)

BOOST_AUTO_TEST_CASE(numbers_keep_their_text) {
  // 0.1000000000000000000001 differs from the double nearest 0.1 only past digit 17.
  json doc = parse_json_text(R"({"a": 0.1000000000000000000001, "b": 1e-5, "c": 7, "d": "0.5"})", "test");
  BOOST_TEST(real_text(doc["a"], "/a") == "0.1000000000000000000001");
  BOOST_TEST(real_text(doc["b"], "/b") == "1e-5");
  BOOST_TEST(real_text(doc["c"], "/c") == "7");
  BOOST_TEST(real_text(doc["d"], "/d") == "0.5");
  BOOST_CHECK_THROW(real_text(parse_json_text(R"(["0x10"])", "t")[0], "/0"), gradspec::bad_input);
  BOOST_CHECK_THROW(real_text(parse_json_text("[true]", "t")[0], "/0"), gradspec::bad_input);
}

BOOST_AUTO_TEST_CASE(bad_json_names_the_place) {
  try {
    parse_json_text("{\"a\": [1, 2,\n ]}", "spec.json");
    BOOST_FAIL("no error");
  } catch (const gradspec::bad_input& e) {
    BOOST_TEST(std::string(e.what()).find("spec.json") != std::string::npos);
    BOOST_TEST(std::string(e.what()).find("line 2") != std::string::npos);
  }
  BOOST_CHECK_THROW(parse_json_text(R"({"a": 1, "a": 2})", "t"), gradspec::bad_input);
}

BOOST_AUTO_TEST_CASE(scalar_arrays_and_tensors_stay_on_one_line) {
  json doc = parse_json_text(R"({"t": {"shape": [2], "values": [0.5, "nan"]}, "list": [{"a": 1}]})", "t");
  BOOST_TEST(to_text(doc) == "{\n  \"t\": {\"shape\": [2], \"values\": [0.5, \"nan\"]},\n  \"list\": [\n    {\"a\": 1}\n  ]\n}\n");
}

BOOST_AUTO_TEST_CASE(case_errors_carry_json_paths) {
  const std::string bad = R"({"format": "gradspec-cases/1", "cases": [
    {"id": "a", "op": "linear", "params": {}, "inputs": {"x": {"shape": [2], "values": [1]}}}]})";
  try {
    parse_case_file(parse_json_text(bad, "f.json"), "f.json");
    BOOST_FAIL("no error");
  } catch (const gradspec::bad_input& e) {
    BOOST_TEST(std::string(e.what()) == "f.json: /cases/0/inputs/x/values: shape [2] needs 2 values, found 1");
  }
  const std::string dup = R"({"format": "gradspec-cases/1", "cases": [
    {"id": "a", "op": "relu", "params": {}, "inputs": {}}, {"id": "a", "op": "relu", "params": {}, "inputs": {}}]})";
  BOOST_CHECK_THROW(parse_case_file(parse_json_text(dup, "f.json"), "f.json"), gradspec::bad_input);
  BOOST_CHECK_THROW(parse_case_file(parse_json_text(R"({"format": "other", "cases": []})", "f"), "f"), gradspec::bad_input);
}

BOOST_AUTO_TEST_CASE(atomic_write_replaces_whole_files) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "gradspec_json_io_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "out.json").string();
  write_file_atomically(path, "first\n");
  write_file_atomically(path, "second\n");
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  BOOST_TEST(text == "second\n");
  BOOST_TEST(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1); // no temporary left
  BOOST_CHECK_THROW(write_file_atomically((dir / "missing" / "x.json").string(), "x"), gradspec::bad_input);
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()
