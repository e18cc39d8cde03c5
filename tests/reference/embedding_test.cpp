// embedding: y = table[ids]·s. Known values by hand (lookups, scale sqrt(4) = 2), the scatter-add
// gradient of repeated ids by hand, gradients against finite differences for repeated ids and a
// single id in both scales, bad ids.
#include "gradspec/reference/ops/embedding.hpp"
#include "gradspec/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <string>

using namespace gradspec::reference;
using namespace gradspec::testing;

namespace {

int_tensor ints(shape_t shape, std::vector<std::int64_t> values) { return {std::move(shape), std::move(values)}; }

// table [4, 2]: row v is [v + 0.5, -v]
tensor<double> small_table() { return tensor<double>({4, 2}, {0.5, 0, 1.5, -1, 2.5, -2, 3.5, -3}); }

op_args<double> f64_args(int_tensor ids, tensor<double> table, const std::string& scale = "none") {
  op_args<double> args;
  args.params = params("embedding", {{"scale", scale}});
  args.int_inputs["ids"] = std::move(ids);
  args.inputs["table"] = std::move(table);
  return args;
}

} // namespace

BOOST_AUTO_TEST_SUITE(embedding_test)

BOOST_AUTO_TEST_CASE(lookup_copies_rows) {
  auto y = embedding_forward(ints({2, 2}, {3, 0, 1, 3}), small_table(), 1.0);
  BOOST_TEST(y.shape == (shape_t{2, 2, 2}));
  BOOST_TEST(y.data == (std::vector<double>{3.5, -3, 0.5, 0, 1.5, -1, 3.5, -3}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(scalar_ids_give_one_row) {
  auto y = embedding_forward(ints({}, {2}), small_table(), 1.0);
  BOOST_TEST(y.shape == (shape_t{2}));
  BOOST_TEST(y.data == (std::vector<double>{2.5, -2}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(sqrt_d_scale_through_the_registry) {
  // C = 4: sqrt(4) = 2 exactly; table row 1 = [1, 2, 3, 4] doubles.
  tensor<double> table({2, 4}, {0, 0, 0, 0, 1, 2, 3, 4});
  auto r = evaluate(*find_op("embedding"), f64_args(ints({1}, {1}), table, "sqrt_d"), false);
  BOOST_TEST(r.outputs.at("y").data == (std::vector<double>{2, 4, 6, 8}), boost::test_tools::per_element());
  auto plain = evaluate(*find_op("embedding"), f64_args(ints({1}, {1}), table), false);
  BOOST_TEST(plain.outputs.at("y").data == (std::vector<double>{1, 2, 3, 4}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(repeated_ids_accumulate_by_hand) {
  // ids [1, 3, 1, 1]: dtable[1] = dy0 + dy2 + dy3, dtable[3] = dy1, rows 0 and 2 stay 0.
  tensor<double> dy({4, 2}, {1, 10, 2, 20, 4, 40, 8, 80});
  auto d = embedding_backward(dy, ints({4}, {1, 3, 1, 1}), shape_t{4, 2}, 1.0);
  BOOST_TEST(d.data == (std::vector<double>{0, 0, 13, 130, 0, 0, 2, 20}), boost::test_tools::per_element());
  // With s = 3: every entry times 3.
  auto d3 = embedding_backward(dy, ints({4}, {1, 3, 1, 1}), shape_t{4, 2}, 3.0);
  BOOST_TEST(d3.data == (std::vector<double>{0, 0, 39, 390, 0, 0, 6, 60}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(repeated_and_scalar_ids_gradients_match_finite_differences) {
  precision_guard bits(256);
  struct shape_case {
    int_tensor ids;
    std::int64_t V, C;
  };
  // Generated cases with batch axes are in catalogue_test; here what generated ids need not show.
  const std::vector<shape_case> cases = {
      {ints({5}, {0, 2, 2, 4, 2}), 5, 3},                         // repeated ids, C = 3: sqrt(3) is irrational
      {ints({}, {1}), 2, 3},                                      // a single id
  };
  std::uint64_t seed = 10;
  for (const auto& c : cases)
    for (const char* scale : {"none", "sqrt_d"}) {
      op_args<mp_real> args;
      args.params = params("embedding", {{"scale", scale}});
      args.int_inputs["ids"] = c.ids;
      args.inputs["table"] = grid_tensor<mp_real>({c.V, c.C}, seed++);
      fill_cotangents("embedding", args, seed++);
      auto agreement = check_gradients("embedding", args);
      BOOST_TEST(agreement.checked == static_cast<std::size_t>(c.V * c.C));
      BOOST_TEST(agreement.min_digits >= 30, scale << ": " << agreement.worst);
      BOOST_TEST_MESSAGE("embedding " << shape_to_string(c.ids.shape) << " scale " << scale << ": min digits "
                                      << agreement.min_digits);
    }
}

BOOST_AUTO_TEST_CASE(sqrt_d_gradient_is_scaled_sum) {
  precision_guard bits(256);
  // ids [0, 0], C = 3, dy all ones: dtable[0] = 2·sqrt(3) per entry, computed independently.
  op_args<mp_real> args;
  args.params = params("embedding", {{"scale", "sqrt_d"}});
  args.int_inputs["ids"] = ints({2}, {0, 0});
  args.inputs["table"] = grid_tensor<mp_real>({2, 3}, 1);
  args.cotangents["y"] = tensor<mp_real>({2, 3}, std::vector<mp_real>(6, mp_real(1)));
  auto r = evaluate(*find_op("embedding"), args, true);
  const mp_real want = 2 * sqrt(mp_real(3));
  const auto& d = r.gradients.at("table").data;
  for (int c = 0; c < 3; ++c) BOOST_TEST(abs(d[c] - want) < mp_real(1e-70));
  for (int c = 3; c < 6; ++c) BOOST_TEST(d[c] == 0);
}

BOOST_AUTO_TEST_CASE(rejects_out_of_range_ids) {
  for (std::int64_t bad : {std::int64_t{-1}, std::int64_t{4}, std::int64_t{1000}}) {
    try {
      evaluate(*find_op("embedding"), f64_args(ints({3}, {0, bad, 1}), small_table()), false);
      BOOST_FAIL("no error for id " << bad);
    } catch (const gradspec::bad_input& e) {
      BOOST_TEST(e.path() == "inputs/ids");
      BOOST_TEST(e.message().find("flat index 1") != std::string::npos, e.message());
      BOOST_TEST(e.message().find(std::to_string(bad)) != std::string::npos, e.message());
    }
  }
}

BOOST_AUTO_TEST_CASE(rejects_bad_table_and_scale) {
  BOOST_CHECK_THROW(evaluate(*find_op("embedding"), f64_args(ints({1}, {0}), tensor<double>({4})), false),
                    gradspec::bad_input);
  BOOST_CHECK_THROW(params("embedding", {{"scale", "sqrt"}}), gradspec::bad_input);
  // ids must be an integer tensor
  op_args<double> args;
  args.params = params("embedding");
  args.inputs["ids"] = tensor<double>({1}, {0});
  args.inputs["table"] = small_table();
  BOOST_CHECK_THROW(evaluate(*find_op("embedding"), args, false), gradspec::bad_input);
}

BOOST_AUTO_TEST_SUITE_END()
