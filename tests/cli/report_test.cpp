// `gradspec report` for publishing (issue 11): the plots exist as SVG and PNG and carry the data of
// the summaries (one bar per op and implementation, failures drawn as failures, the growth plot of a
// sweep), the summaries' histograms count every element, findings carry their explanations from
// --notes, and the same summaries give the same bytes. Runs the real binary.
#include "gradspec/cases/json_io.hpp"
#include "support/run_binary.hpp"
#include "support/scratch.hpp"

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <string>

namespace fs = std::filesystem;
using gradspec::cases::json;
using gradspec::testing::run_gradspec;
using gradspec::testing::slurp;

namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// The SVG of gnuplot's plot element `k` (from its group to the next one).
std::string plot_group(const std::string& svg, int k) {
  const auto at = svg.find("<g id=\"gnuplot_plot_" + std::to_string(k) + "\"");
  if (at == std::string::npos) return "";
  const auto next = svg.find("<g id=\"gnuplot_plot_" + std::to_string(k + 1) + "\"", at);
  return svg.substr(at, next == std::string::npos ? std::string::npos : next - at);
}

struct scratch : gradspec::testing::scratch_dir {
  scratch() : scratch_dir("gradspec_report_test") {}
  // A summary of the built-in reference over the standard suites of `ops`.
  std::string summary(const std::string& name, const std::string& builtin, const std::vector<std::string>& ops) const {
    fs::create_directories(path("standard_" + name + "/standard"));
    for (const auto& op : ops)
      fs::copy_file(std::string(GRADSPEC_SOURCE_DIR) + "/cases/standard/" + op + ".json", path("standard_" + name + "/standard/" + op + ".json"));
    const auto r = run_gradspec("run --quiet --suite " + path("standard_" + name + "/standard") + " --builtin " + builtin + " --json " + path(name));
    BOOST_TEST_REQUIRE(r.code == 0, r.output);
    return path(name);
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(report_test)

BOOST_AUTO_TEST_CASE(plots_exist_as_svg_and_png_and_carry_the_data) {
  scratch s;
  const auto f64 = s.summary("f64.json", "reference-f64", {"softmax", "layer_norm"});
  const auto f32 = s.summary("f32.json", "reference-f32", {"softmax", "layer_norm", "relu"});
  auto r = run_gradspec("report " + f64 + " " + f32 + " --out " + s.path("report"));
  BOOST_TEST_REQUIRE(r.code == 0, r.output);
  for (const char* stem : {"digits-float64-standard", "digits-float32-standard", "errors-reference-f64-gradspec-0.1.0-float64",
                           "errors-reference-f32-gradspec-0.1.0-float32"}) {
    BOOST_TEST(has(s.read(std::string("report/") + stem + ".svg"), "<svg"), stem);
    BOOST_TEST(s.read(std::string("report/") + stem + ".png").substr(0, 8) == "\x89PNG\r\n\x1a\n", stem);
  }
  // One bar per op: plot element 1 (the implementation) holds its key sample and one box per op.
  const std::string digits32 = s.read("report/digits-float32-standard.svg");
  BOOST_TEST(count(plot_group(digits32, 1), "<polygon") == 1u + 3u, plot_group(digits32, 1));
  BOOST_TEST(count(plot_group(s.read("report/digits-float64-standard.svg"), 1), "<polygon") == 1u + 2u);
  BOOST_TEST(has(digits32, "correctly rounded (7.22 digits)"));
  BOOST_TEST(!has(digits32, "FAIL"));
  // The distribution: 9 bands (plot elements), each with its key sample; every op's column adds up to
  // 100%, so at least one box per op; relu is exact: its whole column is the first band's.
  const std::string dist = s.read("report/errors-reference-f32-gradspec-0.1.0-float32.svg");
  std::size_t boxes = 0;
  for (int k = 1; k <= 9; ++k) boxes += count(plot_group(dist, k), "<polygon");
  BOOST_TEST(boxes >= 9u + 3u);
  BOOST_TEST(count(plot_group(dist, 1), "<polygon") >= 1u + 1u);
  BOOST_TEST(has(dist, "NaN/Inf"));
  // The page: one row per op and implementation, in both renderings.
  const std::string md = s.read("report/report.md"), html = s.read("report/index.html");
  BOOST_TEST(has(md, "| relu | reference-f32 gradspec 0.1.0 | 3 pass | 0 | 0 | 40.0 | "), md);
  BOOST_TEST(has(md, "![fewest correct digits per op, float32 standard](digits-float32-standard.svg)"), md);
  BOOST_TEST(has(html, "<td>relu</td><td>reference-f32 gradspec 0.1.0</td><td>3 pass</td>"), html);
  BOOST_TEST(has(html, "<img src=\"digits-float32-standard.svg\""), html);
  BOOST_TEST(has(md, "| reference-f32 gradspec 0.1.0 | float32 | standard | 14 | 0 | 0 | 0 | 0 | – |"), md);
}

BOOST_AUTO_TEST_CASE(histograms_count_every_element) {
  scratch s;
  const json doc = gradspec::cases::read_json_file(s.summary("relu.json", "reference-f32", {"relu", "softmax"}));
  for (const auto& c : doc["cases"])
    for (const auto& t : c["tensors"]) {
      std::uint64_t total = 0;
      for (const auto& n : t["ulp_histogram"]) total += n.get<std::uint64_t>();
      BOOST_TEST(total == t["elements"].get<std::uint64_t>());
      BOOST_TEST(t["elements"].get<std::uint64_t>() > 0u);
      // relu is exact in every dtype: every element in bin 0.
      if (c["op"] == "relu") BOOST_TEST(t["ulp_histogram"][0] == t["elements"]);
    }
  // softmax/default/1x3/0 has 3 inputs: its largest dimension is 3.
  BOOST_TEST(doc["cases"][3]["largest_dim"].get<int>() > 0);
}

BOOST_AUTO_TEST_CASE(failures_are_drawn_and_listed_with_their_explanations) {
  scratch s;
  json doc = gradspec::cases::read_json_file(s.summary("f32.json", "reference-f32", {"softmax", "relu"}));
  // A failing softmax case (as a broken candidate's summary would say).
  for (auto& c : doc["cases"])
    if (c["op"] == "softmax") {
      c["verdict"] = "fail";
      c["reason"] = "gradients.x: 12 eps";
      c["tensors"][0]["verdict"] = "fail";
      break;
    }
  const std::string failing = s.write("failing.json", gradspec::cases::to_text(doc));
  auto r = run_gradspec("report " + failing + " --out " + s.path("r1"));
  BOOST_TEST_REQUIRE(r.code == 0, r.output);
  const std::string svg = s.read("r1/digits-float32-standard.svg");
  BOOST_TEST(has(svg, "FAIL (a case of the op failed)"));
  BOOST_TEST(count(plot_group(svg, 1), "<polygon") == 1u + 1u); // relu's bar; softmax is drawn as a failure
  std::string md = s.read("r1/report.md");
  BOOST_TEST(has(md, "(fail): gradients.x: 12 eps"), md);
  BOOST_TEST(has(md, "Not explained yet."), md);
  BOOST_TEST(has(md, "1 fail or error verdict(s) not explained yet"), md);
  BOOST_TEST(has(md, "| reference-f32 gradspec 0.1.0 | float32 | standard | 7 | 0 | 1 | 0 | 0 | softmax |"), md);
  // Explained by a note (a prefix pattern), for that implementation and dtype only.
  const std::string notes = s.write("notes.json", R"({"format": "gradspec-report-notes/1", "notes": [
      {"implementation": "reference-f32", "dtype": "float64", "case": "softmax/*", "kind": "adapter", "text": "wrong dtype"},
      {"implementation": "reference-f32", "case": "softmax/*", "kind": "inaccuracy", "text": "a planted failure"}]})");
  r = run_gradspec("report " + failing + " --notes " + notes + " --out " + s.path("r2"));
  BOOST_TEST_REQUIRE(r.code == 0, r.output);
  md = s.read("r2/report.md");
  BOOST_TEST(has(md, "Explained (inaccuracy): a planted failure"), md);
  BOOST_TEST(!has(md, "wrong dtype"));
  BOOST_TEST(has(md, "0 fail or error verdict(s) not explained yet"), md);
  // A malformed note is exit 2 naming the file and the JSON path, and writes nothing.
  const std::string bad = s.write("bad_notes.json", R"({"format": "gradspec-report-notes/1", "notes": [
      {"implementation": "x", "case": "y", "kind": "excuse", "text": "z"}]})");
  r = run_gradspec("report " + failing + " --notes " + bad + " --out " + s.path("r3"));
  BOOST_TEST(r.code == 2, r.output);
  BOOST_TEST(has(r.output, "bad_notes.json: /notes/0/kind"), r.output);
  BOOST_TEST(!fs::exists(s.path("r3")));
}

BOOST_AUTO_TEST_CASE(a_sweep_gets_a_growth_plot) {
  scratch s;
  // Three softmax rows of lengths 4, 64 and 1024 in a folder named sweep.
  fs::create_directories(s.path("sweep"));
  for (const char* n : {"4", "64", "1024"}) {
    const auto r = run_gradspec(std::string("gen --op softmax --shape seq=2,n=") + n + " --seed 1 --out " + s.path(std::string("sweep/softmax_") + n + ".json"));
    BOOST_TEST_REQUIRE(r.code == 0, r.output);
  }
  auto r = run_gradspec("run --quiet --suite " + s.path("sweep") + " --builtin reference-f32 --json " + s.path("sweep.json"));
  BOOST_TEST_REQUIRE(r.code == 0, r.output);
  r = run_gradspec("report " + s.path("sweep.json") + " --out " + s.path("report"));
  BOOST_TEST_REQUIRE(r.code == 0, r.output);
  const std::string svg = s.read("report/growth-softmax-float32.svg");
  BOOST_TEST(has(svg, "sqrt(N) u"));
  BOOST_TEST(has(svg, "reference-f32 gradspec 0.1.0"));
  BOOST_TEST(has(s.read("report/report.md"), "## Error growth with size"));
}

BOOST_AUTO_TEST_CASE(the_same_summaries_give_the_same_report) {
  scratch s;
  const auto f64 = s.summary("f64.json", "reference-f64", {"softmax", "attention"});
  const auto f32 = s.summary("f32.json", "reference-f32", {"softmax", "attention"});
  BOOST_TEST_REQUIRE(run_gradspec("report " + f64 + " " + f32 + " --out " + s.path("a")).code == 0);
  BOOST_TEST_REQUIRE(run_gradspec("report " + f64 + " " + f32 + " --out " + s.path("b")).code == 0);
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(s.path("a"))) {
    ++files;
    BOOST_TEST(slurp(e.path()) == slurp(fs::path(s.path("b")) / e.path().filename()), e.path().filename().string());
  }
  BOOST_TEST(files == 2u + 2u * 4u); // index.html, report.md; 2 digits and 2 distribution plots, SVG and PNG
}

BOOST_AUTO_TEST_SUITE_END()
