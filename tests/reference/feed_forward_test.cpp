// feed_forward: y = act(x·w1 + b1)·w2 + b2. A hand-computed example (forward and every gradient), the
// hidden intermediate is the catalogue's activation op, the activation names, and the shape checks of
// the prefixed parameter lookup used by the encoder and decoder layers.
#include "gradspec/reference/ops/feed_forward.hpp"
#include "gradspec/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

#include <stdexcept>

using namespace gradspec::reference;
using namespace gradspec::testing;

namespace {

op_args<mp_real> ffn_args(const std::string& act, const shape_t& xs, std::int64_t C, std::int64_t F) {
  op_args<mp_real> args;
  args.params = params("feed_forward", {{"activation", act}});
  args.inputs["x"] = grid_tensor<mp_real>(xs, 61, 2.0);
  args.inputs["w1"] = grid_tensor<mp_real>({C, F}, 62);
  args.inputs["b1"] = grid_tensor<mp_real>({F}, 63);
  args.inputs["w2"] = grid_tensor<mp_real>({F, C}, 64);
  args.inputs["b2"] = grid_tensor<mp_real>({C}, 65);
  fill_cotangents("feed_forward", args, 66);
  return args;
}

std::string path_of(const op_args<double>& args) {
  try {
    evaluate(*find_op("feed_forward"), args, false);
  } catch (const gradspec::bad_input& e) {
    return e.path();
  }
  return "(no error)";
}

} // namespace

BOOST_AUTO_TEST_SUITE(feed_forward_test)

BOOST_AUTO_TEST_CASE(known_values_by_hand) {
  // x = [1, -1], w1 = [[1, 2], [3, -1]], b1 = [0.5, -1]: pre = [1 - 3 + 0.5, 2 + 1 - 1] = [-1.5, 2],
  // relu: hidden = [0, 2]; w2 = [[1, 0], [0.5, 2]], b2 = [0.25, -0.25]: y = [1 + 0.25, 4 - 0.25].
  // With dy = [1, 1]: dhidden = dy·w2ᵀ = [1, 2.5], dpre = [0, 2.5] (relu'(-1.5) = 0),
  // dx = dpre·w1ᵀ = [5, -2.5], dw1 = xᵀ·dpre = [[0, 2.5], [0, -2.5]], db1 = [0, 2.5],
  // dw2 = hiddenᵀ·dy = [[0, 0], [2, 2]], db2 = [1, 1].
  op_args<double> args;
  args.params = params("feed_forward");
  args.inputs["x"] = tensor<double>({2}, {1, -1});
  args.inputs["w1"] = tensor<double>({2, 2}, {1, 2, 3, -1});
  args.inputs["b1"] = tensor<double>({2}, {0.5, -1});
  args.inputs["w2"] = tensor<double>({2, 2}, {1, 0, 0.5, 2});
  args.inputs["b2"] = tensor<double>({2}, {0.25, -0.25});
  args.cotangents["y"] = tensor<double>({2}, {1, 1});
  auto r = evaluate(*find_op("feed_forward"), args, true);
  using v = std::vector<double>;
  BOOST_TEST(r.outputs["y"].data == (v{1.25, 3.75}), boost::test_tools::per_element());
  BOOST_TEST(r.intermediates["pre_activation"].data == (v{-1.5, 2}), boost::test_tools::per_element());
  BOOST_TEST(r.intermediates["hidden"].data == (v{0, 2}), boost::test_tools::per_element());
  BOOST_TEST(r.gradients["x"].data == (v{5, -2.5}), boost::test_tools::per_element());
  BOOST_TEST(r.gradients["w1"].data == (v{0, 2.5, 0, -2.5}), boost::test_tools::per_element());
  BOOST_TEST(r.gradients["b1"].data == (v{0, 2.5}), boost::test_tools::per_element());
  BOOST_TEST(r.gradients["w2"].data == (v{0, 0, 2, 2}), boost::test_tools::per_element());
  BOOST_TEST(r.gradients["b2"].data == (v{1, 1}), boost::test_tools::per_element());
  BOOST_TEST(r.gradients["w1"].shape == (shape_t{2, 2}));
}

BOOST_AUTO_TEST_CASE(hidden_is_the_activation_of_pre_activation) {
  // Each activation is the catalogue's elementwise op of that name (gelu_tanh: gelu, approximate "tanh").
  precision_guard bits(128);
  const std::map<std::string, std::pair<std::string, std::map<std::string, std::string>>> op_of = {
      {"relu", {"relu", {}}}, {"gelu", {"gelu", {}}}, {"gelu_tanh", {"gelu", {{"approximate", "tanh"}}}}, {"silu", {"silu", {}}}};
  for (const auto& [act, op] : op_of) {
    auto args = ffn_args(act, {2, 4}, 4, 3);
    auto r = evaluate(*find_op("feed_forward"), args, false);
    op_args<mp_real> elementwise;
    elementwise.params = params(op.first, op.second);
    elementwise.inputs["x"] = r.intermediates.at("pre_activation");
    auto h = evaluate(*find_op(op.first), elementwise, false).outputs.at("y");
    BOOST_TEST((h.data == r.intermediates.at("hidden").data), act);
  }
  BOOST_TEST(params("feed_forward").choice("activation") == "relu");
}

BOOST_AUTO_TEST_CASE(activation_names) {
  BOOST_TEST((parse_activation("gelu_tanh") == activation::gelu_tanh));
  BOOST_TEST((parse_activation("silu") == activation::silu));
  BOOST_CHECK_THROW(parse_activation("tanh"), std::invalid_argument);
  BOOST_CHECK_THROW(params("feed_forward", {{"activation", "tanh"}}), gradspec::bad_input);
}

BOOST_AUTO_TEST_CASE(rejects_bad_input) {
  auto good = [] {
    op_args<double> args;
    args.params = params("feed_forward");
    args.inputs["x"] = tensor<double>({2, 3});
    args.inputs["w1"] = tensor<double>({3, 5});
    args.inputs["b1"] = tensor<double>({5});
    args.inputs["w2"] = tensor<double>({5, 3});
    args.inputs["b2"] = tensor<double>({3});
    return args;
  };
  BOOST_TEST(path_of(good()) == "(no error)");
  auto a = good();
  a.inputs["w1"] = tensor<double>({4, 5});
  BOOST_TEST(path_of(a) == "inputs/w1");
  a = good();
  a.inputs["b1"] = tensor<double>({3});
  BOOST_TEST(path_of(a) == "inputs/b1");
  a = good();
  a.inputs["w2"] = tensor<double>({3, 5});
  BOOST_TEST(path_of(a) == "inputs/w2");
  a = good();
  a.inputs["b2"] = tensor<double>({5});
  BOOST_TEST(path_of(a) == "inputs/b2");
  a = good();
  a.inputs["x"] = tensor<double>(shape_t{}, {1.0});
  BOOST_TEST(path_of(a) == "inputs/x");
  BOOST_CHECK_THROW(params("feed_forward", {{"activation", "tanh"}}), gradspec::bad_input);

  // The prefixed lookup and store used by the layers.
  op_args<double> p;
  p.inputs["ffn.w1"] = tensor<double>({3, 5});
  p.inputs["ffn.b1"] = tensor<double>({5});
  p.inputs["ffn.w2"] = tensor<double>({5, 4});
  p.inputs["ffn.b2"] = tensor<double>({3});
  try {
    feed_forward_params_from(p, "ffn.", 3);
    BOOST_TEST(false, "expected bad_input");
  } catch (const gradspec::bad_input& e) {
    BOOST_TEST(e.path() == "inputs/ffn.w2");
  }
  p.inputs["ffn.w2"] = tensor<double>({5, 3});
  auto fp = feed_forward_params_from(p, "ffn.", 3);
  BOOST_TEST(&fp.b2 == &p.inputs["ffn.b2"]);
  op_result<double> res;
  store_gradients(res, "ffn.", feed_forward_grads<double>{tensor<double>({3}), tensor<double>({3, 5}), tensor<double>({5}),
                                                          tensor<double>({5, 3}), tensor<double>({3})});
  for (const char* n : {"ffn.w1", "ffn.b1", "ffn.w2", "ffn.b2"}) BOOST_TEST(res.gradients.count(n) == 1u);
  BOOST_TEST(res.gradients.at("ffn.w1").shape == (shape_t{3, 5}));
  BOOST_TEST(res.gradients.size() == 4u);
}

BOOST_AUTO_TEST_SUITE_END()
