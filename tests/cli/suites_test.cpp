// The committed suites: they regenerate byte for byte (drift check), verify, cover every op and
// every EDGE_CASES recipe, and bad generation requests are refused with exit 2.
#include "gradspec/cases/json_io.hpp"
#include "support/scratch.hpp"
#include "gradspec/reference/registry.hpp"
#include "support/run_binary.hpp"

#include <boost/test/unit_test.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>

using gradspec::testing::run_gradspec;
namespace fs = std::filesystem;

namespace {
using gradspec::testing::slurp;
fs::path source(const std::string& rel) { return fs::path(GRADSPEC_SOURCE_DIR) / rel; }
struct scratch : gradspec::testing::scratch_dir {
  scratch() : scratch_dir("gradspec_suites_test") {}
};
} // namespace

BOOST_AUTO_TEST_SUITE(suites_test)

BOOST_AUTO_TEST_CASE(committed_suites_regenerate_byte_for_byte) {
  scratch s;
  for (const std::string suite : {"standard", "edge", "examples"}) {
    auto r = run_gradspec("gen --suite " + suite + " --out " + (s.dir / suite).string() + " --jobs 2 --quiet");
    BOOST_REQUIRE_MESSAGE(r.code == 0, r.output);
    std::set<std::string> committed, regenerated;
    for (const auto& e : fs::directory_iterator(source("cases/" + suite))) committed.insert(e.path().filename().string());
    for (const auto& e : fs::directory_iterator(s.dir / suite)) regenerated.insert(e.path().filename().string());
    BOOST_TEST(committed == regenerated, suite);
    for (const auto& name : regenerated)
      BOOST_TEST(slurp(s.dir / suite / name) == slurp(source("cases/" + suite) / name), "cases/" << suite << "/" << name << " drifted");
  }
}

BOOST_AUTO_TEST_CASE(committed_suites_verify_and_tampering_is_caught) {
  auto r = run_gradspec("verify cases/examples cases/edge --quiet");
  BOOST_TEST(r.code == 0, r.output);
  scratch s;
  std::string text = slurp(source("cases/examples/softmax.json"));
  const auto at = text.find("\"expected\"");
  const auto digit = text.find_first_of("123456789", text.find("\"values\": [\"", at) + 12);
  text[digit] = text[digit] == '9' ? '8' : static_cast<char>(text[digit] + 1);
  std::ofstream(s.dir / "softmax.json") << text;
  r = run_gradspec("verify " + (s.dir / "softmax.json").string());
  BOOST_TEST(r.code == 1);
  BOOST_TEST(r.output.find("/cases/0/expected/outputs/y/values/0: file has") != std::string::npos, r.output);
}

BOOST_AUTO_TEST_CASE(every_op_has_standard_cases_and_every_recipe_an_edge_case) {
  for (const auto& op : gradspec::reference::op_catalogue())
    BOOST_TEST(fs::exists(source("cases/standard/" + op.name + ".json")), op.name);
  std::set<std::string> flags;
  for (const auto& e : fs::directory_iterator(source("cases/edge"))) {
    auto doc = gradspec::cases::read_json_file(e.path().string());
    for (const auto& c : doc["cases"])
      for (const auto& f : c.value("flags", gradspec::cases::json::array())) {
        flags.insert(f.get<std::string>());
        BOOST_TEST(doc["notes"].contains(f.get<std::string>()), e.path() << ": flag " << f << " has no note");
      }
  }
  // One flag per recipe of ../shared/design/EDGE_CASES.md.
  for (const char* f : {"fully_masked_row", "masked_nan", "masked_huge", "causal", "large_logits", "wide_spread", "long_row",
                        "scaled_inputs", "head_dim_256", "default_scale", "softmax_axis", "large_mean", "constant_row",
                        "biased_variance", "eps_inside_sqrt", "fp16_square_overflow", "small_std", "label_smoothing_ignored",
                        "ignore_valid_class", "all_ignored", "large_logit_gap", "gelu_approximation", "large_magnitude",
                        "relu_at_zero", "silu_large_negative", "large_position", "odd_d_model", "repeated_ids",
                        // catalogue v2
                        "rope_large_position", "rope_style", "rope_partial_rotary", "rms_norm_gamma_offset", "glu_gate_up_swapped",
                        "glu_gelu_form", "kv_cache_decode", "sliding_window", "softcap_order", "softcap_saturated",
                        "lse_fully_masked", "lse_large_scores", "gqa_head_mapping", "gqa_multi_query", "llama_block_positions",
                        "tied_embeddings", "llama_loss_mean", "llama_logit_softcap"})
    BOOST_TEST(flags.count(f) == 1u, f);
  std::uintmax_t bytes = 0;
  for (const auto& e : fs::directory_iterator(source("cases/standard"))) bytes += fs::file_size(e.path());
  BOOST_TEST(bytes < 20u * 1024 * 1024);
}

BOOST_AUTO_TEST_CASE(shards_partition_the_suite) {
  scratch s;
  BOOST_TEST(run_gradspec("gen --suite examples --shard 0/2 --out " + (s.dir / "a").string() + " --quiet").code == 0);
  BOOST_TEST(run_gradspec("gen --suite examples --shard 1/2 --out " + (s.dir / "b").string() + " --quiet").code == 0);
  std::set<std::string> a, b, all;
  for (const auto& e : fs::directory_iterator(s.dir / "a")) a.insert(e.path().filename().string());
  for (const auto& e : fs::directory_iterator(s.dir / "b")) b.insert(e.path().filename().string());
  for (const auto& e : fs::directory_iterator(source("cases/examples"))) all.insert(e.path().filename().string());
  for (const auto& n : a) BOOST_TEST(b.count(n) == 0u);
  std::set<std::string> both = a;
  both.insert(b.begin(), b.end());
  BOOST_TEST(both == all);
}

BOOST_AUTO_TEST_CASE(bad_generation_requests_exit_2) {
  scratch s;
  const std::string out = " --out " + (s.dir / "x.json").string();
  for (const std::string args : {"gen --op nope", "gen --op linear --shape q=1", "gen --op linear --shape n=-1",
                                 "gen --op linear --shape n=0", "gen --op linear --shape in_features=1048576,out_features=1048576",
                                 "gen --op linear --shape n=99999999999", "gen --op linear --param bias=1",
                                 "gen --op gelu --param approximate=fast", "gen --suite nope", "gen --op attention --param causal=true --shape seq=5,seq_kv=4",
                                 "gen --op attention --param causal=true --param window=0", "gen --op attention --param window=2",
                                 "gen --suite examples --shard 2/2"}) {
    auto r = run_gradspec(args + out);
    BOOST_TEST(r.code == 2, args << ": " << r.output);
    BOOST_TEST(!fs::exists(s.dir / "x.json"), args);
  }
}

BOOST_AUTO_TEST_CASE(an_interrupted_generation_leaves_no_partial_file) {
  scratch s;
  const std::string cmd = std::string("cd ") + GRADSPEC_SOURCE_DIR + " && timeout -s INT 2 " + GRADSPEC_BINARY +
                          " gen --suite standard --jobs 2 --quiet --out " + (s.dir / "std").string() + " > /dev/null 2>&1";
  (void)std::system(cmd.c_str());
  for (const auto& e : fs::directory_iterator(s.dir / "std")) {
    const std::string name = e.path().filename().string();
    BOOST_TEST(name.find(".tmp") == std::string::npos, "temporary left behind: " << name);
    // Every file present is complete: it is byte-identical to the committed one.
    BOOST_TEST(slurp(e.path()) == slurp(source("cases/standard") / name), name << " is partial");
  }
}

BOOST_AUTO_TEST_SUITE_END()
