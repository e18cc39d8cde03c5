// tensor sizes: checked_numel refuses shapes beyond max_tensor_values before anything is allocated,
// including products that wrap around 2^64 (plain numel would return 0 for [2^32, 2^32]), and the
// ops refuse an output their inputs imply but could never hold.
#include "gradspec/reference/ops/linear.hpp"
#include "gradspec/reference/tensor.hpp"
#include "gradspec/errors.hpp"

#include <boost/test/unit_test.hpp>

using namespace gradspec::reference;

BOOST_AUTO_TEST_SUITE(tensor_test)

BOOST_AUTO_TEST_CASE(checked_numel_counts_within_the_limit) {
  BOOST_TEST(checked_numel({}) == 1u);
  BOOST_TEST(checked_numel({2, 3, 4}) == 24u);
  BOOST_TEST(checked_numel({4096, 4096}) == max_tensor_values); // exactly at the limit: 2^12 · 2^12 = 2^24
  BOOST_TEST(checked_numel({std::int64_t(1) << 40, 0}) == 0u);   // empty, however long the other axis
  BOOST_TEST(checked_numel({0, std::int64_t(1) << 40, std::int64_t(1) << 40}) == 0u);
}

BOOST_AUTO_TEST_CASE(checked_numel_refuses_beyond_the_limit_and_wrapping_products) {
  auto refused = [](const shape_t& shape, const std::string& text) {
    try {
      checked_numel(shape);
    } catch (const gradspec::bad_input& e) {
      BOOST_TEST(std::string(e.what()).find(text) != std::string::npos, e.what());
      return true;
    }
    return false;
  };
  BOOST_TEST(refused({4097, 4096}, "[4097, 4096]"));
  BOOST_TEST(refused({std::int64_t(1) << 32, std::int64_t(1) << 32}, "more than 16777216 values")); // 2^64 wraps to 0
  BOOST_TEST(refused({3, -1}, "negative dimension"));
  BOOST_CHECK_THROW(tensor<double>(shape_t{std::int64_t(1) << 32, std::int64_t(1) << 32}), gradspec::bad_input);
}

BOOST_AUTO_TEST_CASE(an_output_the_inputs_imply_is_refused_before_allocating) {
  // x [65536, 1] · w [1, 65536]: 2^17 input values imply a [65536, 65536] output of 2^32 values.
  const std::int64_t n = 65536;
  tensor<double> x({n, 1}, std::vector<double>(n, 0.5)), w({1, n}, std::vector<double>(n, 0.5)), b({n}, std::vector<double>(n, 0.0));
  try {
    linear_forward(x, w, &b);
    BOOST_FAIL("linear_forward allocated a [65536, 65536] output");
  } catch (const gradspec::bad_input& e) {
    BOOST_TEST(std::string(e.what()).find("[65536, 65536]") != std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_SUITE_END()
