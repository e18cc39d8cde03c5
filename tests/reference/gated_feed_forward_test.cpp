// gated_feed_forward: y = (act(x·w_gate) ⊙ x·w_up)·w_down. A one-unit example against σ(1) = e/(1+e)
// and Φ(1) from the literature (forward and every gradient); with x·w_up = 1 the op is feed_forward
// without biases; hidden is the catalogue's activation op times up; gate and up are not
// interchangeable; gelu and gelu_tanh differ; bad shapes. Finite differences, batch axes,
// float64-vs-MPFR and determinism run for every op in catalogue_test.
#include "gradspec/reference/ops/gated_feed_forward.hpp"
#include "gradspec/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/tensor_checks.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

using namespace gradspec::reference;
using namespace gradspec::testing;

namespace {

mp_real abs_of(const mp_real& v) { return v < 0 ? mp_real(-v) : v; }

op_args<mp_real> unit_args(const std::string& act, const mp_real& x, const mp_real& wg, const mp_real& wu, const mp_real& wd) {
  op_args<mp_real> args;
  args.params = params("gated_feed_forward", {{"activation", act}});
  args.inputs["x"] = tensor<mp_real>({1}, {x});
  args.inputs["w_gate"] = tensor<mp_real>({1, 1}, {wg});
  args.inputs["w_up"] = tensor<mp_real>({1, 1}, {wu});
  args.inputs["w_down"] = tensor<mp_real>({1, 1}, {wd});
  args.cotangents["y"] = tensor<mp_real>({1}, {mp_real(1)});
  return args;
}

op_args<mp_real> random_args(const std::string& act, const shape_t& xs, std::int64_t C, std::int64_t F) {
  op_args<mp_real> args;
  args.params = params("gated_feed_forward", {{"activation", act}});
  args.inputs["x"] = grid_tensor<mp_real>(xs, 71, 2.0);
  args.inputs["w_gate"] = grid_tensor<mp_real>({C, F}, 72, 2.0);
  args.inputs["w_up"] = grid_tensor<mp_real>({C, F}, 73);
  args.inputs["w_down"] = grid_tensor<mp_real>({F, C}, 74);
  fill_cotangents("gated_feed_forward", args, 75);
  return args;
}

std::string path_of(const op_args<double>& args) {
  try {
    evaluate(*find_op("gated_feed_forward"), args, false);
  } catch (const gradspec::bad_input& e) {
    return e.path();
  }
  return "(no error)";
}

const mp_real tiny("1e-70"); // 256-bit arithmetic keeps ~77 digits

} // namespace

BOOST_AUTO_TEST_SUITE(gated_feed_forward_test)

BOOST_AUTO_TEST_CASE(one_unit_by_hand_silu) {
  // x = 1, w_gate = 1, w_up = 2, w_down = 3, dy = 1, s = σ(1) = e/(1 + e):
  //   gate = 1, up = 2, hidden = silu(1)·2 = 2s, y = 6s;
  //   dhidden = 3, dup = silu(1)·3 = 3s, dgate = silu'(1)·up·3 = 6·s(2 - s) (silu'(g) = σ(g)(1 + g(1 - σ(g))));
  //   dx = dgate·1 + dup·2 = 6s(2 - s) + 6s, dw_gate = 6s(2 - s), dw_up = 3s, dw_down = 2s.
  precision_guard g(256);
  const mp_real s("0.73105857863000487925115924182183627436514464016506"); // 1/(1 + e^-1), 50 digits
  const mp_real ds("0.92767051187148673178858397540774529998741192559237"); // s(2 - s)
  auto r = evaluate(*find_op("gated_feed_forward"), unit_args("silu", 1, 1, 2, 3), true);
  const mp_real want_digits("1e-49");
  auto near = [&](const tensor<mp_real>& t, const mp_real& want) { return abs_of(mp_real(t.data.at(0) - want)) < want_digits; };
  BOOST_TEST(r.intermediates.at("gate").data.at(0) == 1);
  BOOST_TEST(r.intermediates.at("up").data.at(0) == 2);
  BOOST_TEST(near(r.intermediates.at("hidden"), 2 * s));
  BOOST_TEST(near(r.outputs.at("y"), 6 * s));
  BOOST_TEST(near(r.gradients.at("x"), 6 * ds + 6 * s));
  BOOST_TEST(near(r.gradients.at("w_gate"), 6 * ds));
  BOOST_TEST(near(r.gradients.at("w_up"), 3 * s));
  BOOST_TEST(near(r.gradients.at("w_down"), 2 * s));
  BOOST_TEST(params("gated_feed_forward").choice("activation") == "silu"); // SwiGLU by default
}

BOOST_AUTO_TEST_CASE(one_unit_geglu_erf_and_tanh) {
  // gelu(1) = Φ(1) = 0.8413447460685429485852325456320379224779 (A&S table 26.1); the tanh form gives
  // 0.5·(1 + tanh(sqrt(2/π)·1.044715)) = 0.84119199060827670478..., 1.5e-4 lower. y = gelu(1)·up·w_down.
  precision_guard g(256);
  const mp_real phi1("0.8413447460685429485852325456320379224779129667266");
  const mp_real tanh_form("0.84119199060827670478199577704518386082576147011401");
  auto erf_y = evaluate(*find_op("gated_feed_forward"), unit_args("gelu", 1, 1, 2, 3), false).outputs.at("y").data.at(0);
  auto tanh_y = evaluate(*find_op("gated_feed_forward"), unit_args("gelu_tanh", 1, 1, 2, 3), false).outputs.at("y").data.at(0);
  BOOST_TEST(abs_of(mp_real(erf_y - 6 * phi1)) < mp_real("1e-48"));
  BOOST_TEST(abs_of(mp_real(tanh_y - 6 * tanh_form)) < mp_real("1e-48"));
  BOOST_TEST(abs_of(mp_real(erf_y - tanh_y)) > mp_real("9e-4"));
}

BOOST_AUTO_TEST_CASE(with_up_equal_to_one_it_is_feed_forward_without_biases) {
  // x = [a, 1] with w_up's first row 0 and second row 1: x·w_up = 1 everywhere, so
  // y = act(x·w_gate)·w_down = feed_forward(x, w1 = w_gate, b1 = 0, w2 = w_down, b2 = 0).
  precision_guard g(256);
  const std::int64_t F = 5;
  for (const char* act : {"silu", "gelu", "gelu_tanh"}) {
    auto args = random_args(act, {3, 2}, 2, F);
    for (std::size_t r = 0; r < 3; ++r) args.inputs["x"].data[r * 2 + 1] = 1;
    tensor<mp_real> w_up(shape_t{2, F});
    for (std::int64_t f = 0; f < F; ++f) w_up.data[static_cast<std::size_t>(F + f)] = 1;
    args.inputs["w_up"] = w_up;
    auto r = evaluate(*find_op("gated_feed_forward"), args, false);
    for (const auto& u : r.intermediates.at("up").data) BOOST_TEST(u == 1);
    op_args<mp_real> ffn;
    ffn.params = params("feed_forward", {{"activation", act}});
    ffn.inputs["x"] = args.inputs["x"];
    ffn.inputs["w1"] = args.inputs["w_gate"];
    ffn.inputs["b1"] = tensor<mp_real>(shape_t{F});
    ffn.inputs["w2"] = args.inputs["w_down"];
    ffn.inputs["b2"] = tensor<mp_real>(shape_t{2});
    auto f = evaluate(*find_op("feed_forward"), ffn, false);
    BOOST_TEST(max_abs_diff(r.outputs.at("y"), f.outputs.at("y")) < 1e-70, act);
    BOOST_TEST(max_abs_diff(r.intermediates.at("hidden"), f.intermediates.at("hidden")) < 1e-70, act);
  }
}

BOOST_AUTO_TEST_CASE(hidden_is_the_activation_op_times_up) {
  precision_guard g(128);
  const std::map<std::string, std::pair<std::string, std::map<std::string, std::string>>> op_of = {
      {"gelu", {"gelu", {}}}, {"gelu_tanh", {"gelu", {{"approximate", "tanh"}}}}, {"silu", {"silu", {}}}};
  for (const auto& [act, op] : op_of) {
    auto r = evaluate(*find_op("gated_feed_forward"), random_args(act, {2, 3, 4}, 4, 6), false);
    BOOST_TEST((r.outputs.at("y").shape == shape_t{2, 3, 4}));
    BOOST_TEST((r.intermediates.at("gate").shape == shape_t{2, 3, 6}));
    op_args<mp_real> elementwise;
    elementwise.params = params(op.first, op.second);
    elementwise.inputs["x"] = r.intermediates.at("gate");
    auto h = evaluate(*find_op(op.first), elementwise, false).outputs.at("y");
    for (std::size_t i = 0; i < h.size(); ++i) h.data[i] *= r.intermediates.at("up").data[i];
    BOOST_TEST((h.data == r.intermediates.at("hidden").data), act);
  }
}

BOOST_AUTO_TEST_CASE(gate_and_up_are_not_interchangeable) {
  // act(a)·b != act(b)·a: swapping w_gate and w_up (LLaMA's w1 and w3) changes the output by O(1)
  // when the gate is outside the near-linear region; gelu and gelu_tanh give different outputs.
  precision_guard g(256);
  for (const char* act : {"silu", "gelu", "gelu_tanh"}) {
    auto args = random_args(act, {4, 4}, 4, 8);
    auto y = evaluate(*find_op("gated_feed_forward"), args, false).outputs.at("y");
    std::swap(args.inputs["w_gate"], args.inputs["w_up"]);
    auto swapped = evaluate(*find_op("gated_feed_forward"), args, false).outputs.at("y");
    BOOST_TEST(max_abs_diff(y, swapped) > 1e-2, act);
  }
  auto erf_y = evaluate(*find_op("gated_feed_forward"), random_args("gelu", {4, 4}, 4, 8), false).outputs.at("y");
  auto tanh_y = evaluate(*find_op("gated_feed_forward"), random_args("gelu_tanh", {4, 4}, 4, 8), false).outputs.at("y");
  const double d = max_abs_diff(erf_y, tanh_y);
  BOOST_TEST(d > 1e-6);
  BOOST_TEST(d < 1e-2);
}

BOOST_AUTO_TEST_CASE(rejects_bad_input) {
  auto good = [] {
    op_args<double> args;
    args.params = params("gated_feed_forward");
    args.inputs["x"] = tensor<double>({2, 3});
    args.inputs["w_gate"] = tensor<double>({3, 5});
    args.inputs["w_up"] = tensor<double>({3, 5});
    args.inputs["w_down"] = tensor<double>({5, 3});
    return args;
  };
  BOOST_TEST(path_of(good()) == "(no error)");
  const std::vector<std::pair<std::string, shape_t>> bad = {
      {"w_gate", {4, 5}}, {"w_gate", {3, 5, 1}}, {"w_gate", {3}}, {"w_up", {3, 4}}, {"w_up", {5, 3}},
      {"w_down", {5, 4}}, {"w_down", {3, 5}}, {"x", {}}};
  for (const auto& [name, shape] : bad) {
    auto a = good();
    a.inputs[name] = shape.empty() ? tensor<double>(shape_t{}, {1.0}) : tensor<double>(shape);
    BOOST_TEST(path_of(a) == "inputs/" + name, name << " " << shape_to_string(shape));
  }
  auto a = good();
  a.inputs["x"] = tensor<double>({2, 4}); // C = 4 no longer matches w_gate's rows
  BOOST_TEST(path_of(a) == "inputs/w_gate");
  BOOST_CHECK_THROW(params("gated_feed_forward", {{"activation", "relu"}}), gradspec::bad_input);
}

BOOST_AUTO_TEST_SUITE_END()
