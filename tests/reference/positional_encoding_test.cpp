// positional_encoding (Vaswani et al.): closed forms. Position 0 is [0, 1, 0, 1, ...]; column pair 0
// has wavelength 1 (sin(pos), cos(pos)); with d = 4 and base 10000 the second pair divides by
// 10000^(2/4) = 100; sin² + cos² = 1 per pair; the offset shifts rows; odd d ends with a sin column;
// positions near 10000 against an independent mp evaluation (angle = pos·exp(-(2i/d)·ln base)).
#include "gradspec/reference/ops/positional_encoding.hpp"
#include "gradspec/errors.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <string>

using namespace gradspec::reference;
using namespace gradspec::testing;

namespace {

template <class T> op_args<T> pe_args(const std::map<std::string, std::string>& given) {
  op_args<T> args;
  args.params = params("positional_encoding", given);
  return args;
}

template <class T> tensor<T> pe_via_registry(const std::map<std::string, std::string>& given) {
  return evaluate(*find_op("positional_encoding"), pe_args<T>(given), false).outputs.at("pe");
}

void expect_bad_param(const std::map<std::string, std::string>& given, const std::string& path) {
  try {
    pe_via_registry<double>(given);
    BOOST_FAIL("no error for " << path);
  } catch (const gradspec::bad_input& e) {
    BOOST_TEST(e.path() == path, e.what());
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(positional_encoding_test)

BOOST_AUTO_TEST_CASE(position_zero_is_alternating_zero_one) {
  for (std::int64_t d : {1, 2, 5, 8}) {
    auto pe = positional_encoding_forward<double>(3, d, 10000.0, 0);
    BOOST_TEST(pe.shape == (shape_t{3, d}));
    for (std::int64_t c = 0; c < d; ++c) BOOST_TEST(pe.data[c] == (c % 2 == 0 ? 0.0 : 1.0));
  }
}

BOOST_AUTO_TEST_CASE(first_pair_is_sin_cos_of_position) {
  // base^(0/d) = 1: PE(pos, 0) = sin(pos), PE(pos, 1) = cos(pos), exactly the library's sin and cos.
  auto pe = pe_via_registry<double>({{"length", "50"}, {"d_model", "6"}});
  for (int pos = 0; pos < 50; ++pos) {
    BOOST_TEST(pe.data[pos * 6 + 0] == std::sin(static_cast<double>(pos)));
    BOOST_TEST(pe.data[pos * 6 + 1] == std::cos(static_cast<double>(pos)));
  }
}

BOOST_AUTO_TEST_CASE(second_pair_divides_by_100_for_d4) {
  // d = 4, base 10000: 10000^(2/4) = 100, so PE(pos, 2) = sin(pos/100), PE(pos, 3) = cos(pos/100).
  // (The seed formula sheet 003 would use 10000^(3/4) = 1000 for the cos column: not ours.)
  precision_guard bits(256);
  auto pe = pe_via_registry<mp_real>({{"length", "20"}, {"d_model", "4"}});
  for (int pos = 0; pos < 20; ++pos) {
    const mp_real a = mp_real(pos) / 100;
    BOOST_TEST(abs(pe.data[pos * 4 + 2] - sin(a)) < mp_real(1e-70));
    BOOST_TEST(abs(pe.data[pos * 4 + 3] - cos(a)) < mp_real(1e-70));
    if (pos > 0) BOOST_TEST(abs(pe.data[pos * 4 + 3] - cos(mp_real(pos) / 1000)) > mp_real(1e-7));
  }
  // base 100: the second pair divides by 100^(1/2) = 10.
  auto pe100 = pe_via_registry<double>({{"length", "5"}, {"d_model", "4"}, {"base", "100"}});
  for (int pos = 0; pos < 5; ++pos) BOOST_TEST(std::abs(pe100.data[pos * 4 + 2] - std::sin(pos / 10.0)) < 1e-15);
}

BOOST_AUTO_TEST_CASE(pairs_lie_on_the_unit_circle) {
  precision_guard bits(256);
  auto pe = positional_encoding_forward<mp_real>(64, 10, mp_real(10000), 0);
  auto pe64 = positional_encoding_forward<double>(64, 10, 10000.0, 0);
  for (std::size_t r = 0; r < 64; ++r)
    for (std::size_t i = 0; i < 5; ++i) {
      const mp_real s = pe.data[r * 10 + 2 * i], c = pe.data[r * 10 + 2 * i + 1];
      BOOST_TEST(abs(s * s + c * c - 1) < mp_real(1e-70));
      const double s64 = pe64.data[r * 10 + 2 * i], c64 = pe64.data[r * 10 + 2 * i + 1];
      BOOST_TEST(std::abs(s64 * s64 + c64 * c64 - 1) < 1e-15);
    }
}

BOOST_AUTO_TEST_CASE(offset_shifts_rows) {
  auto whole = pe_via_registry<double>({{"length", "12"}, {"d_model", "6"}});
  auto shifted = pe_via_registry<double>({{"length", "5"}, {"d_model", "6"}, {"offset", "7"}});
  BOOST_TEST(shifted.shape == (shape_t{5, 6}));
  for (std::size_t i = 0; i < shifted.size(); ++i) BOOST_TEST(shifted.data[i] == whole.data[7 * 6 + i]);
  // Row 0 is position 7, not 0 or 8: PE(7, 0) = sin(7).
  BOOST_TEST(shifted.data[0] == std::sin(7.0));
}

BOOST_AUTO_TEST_CASE(odd_d_model_ends_with_sin) {
  // d = 7: pairs i = 0, 1, 2 (columns 0-5) and a last sin column 6 with exponent 6/7.
  auto pe = pe_via_registry<double>({{"length", "5"}, {"d_model", "7"}});
  BOOST_TEST(pe.shape == (shape_t{5, 7}));
  for (int pos = 0; pos < 5; ++pos)
    for (int c = 0; c < 7; ++c) {
      const double angle = pos / std::pow(10000.0, (c - c % 2) / 7.0);
      const double want = c % 2 == 0 ? std::sin(angle) : std::cos(angle);
      BOOST_TEST(std::abs(pe.data[pos * 7 + c] - want) < 1e-15, "pos " << pos << " column " << c);
    }
  BOOST_TEST(pe.data[6] == 0.0); // position 0, last column: sin(0)
}

BOOST_AUTO_TEST_CASE(large_positions_are_accurate) {
  // Positions 10000..10003, d = 8, against an independent evaluation at 256 bits:
  // angle = pos · exp(-(2i/d)·ln(base)) (another route to pos / base^(2i/d)).
  precision_guard bits(256);
  const std::map<std::string, std::string> given{{"length", "4"}, {"d_model", "8"}, {"offset", "10000"}};
  auto pe = pe_via_registry<mp_real>(given);
  auto pe64 = pe_via_registry<double>(given);
  const mp_real ln_base = log(mp_real(10000));
  mp_real worst_mp = 0;
  double worst_f64 = 0;
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 8; ++c) {
      const mp_real angle = mp_real(10000 + r) * exp(-mp_real(c - c % 2) / 8 * ln_base);
      const mp_real want = c % 2 == 0 ? sin(angle) : cos(angle);
      worst_mp = std::max(worst_mp, mp_real(abs(pe.data[r * 8 + c] - want)));
      worst_f64 = std::max(worst_f64, std::abs(pe64.data[r * 8 + c] - to_double(want)));
    }
  BOOST_TEST(worst_mp < mp_real(1e-70), "mp error " << to_double(worst_mp));
  // double: the angle 1e4 carries about 1e4·2^-53 ≈ 1e-12 of rounding; nothing worse.
  BOOST_TEST(worst_f64 < 1e-11, "double error " << worst_f64);
  // Spot value: PE(10000, 0) = sin(10000).
  BOOST_TEST(abs(pe.data[0] - sin(mp_real(10000))) < mp_real(1e-70));
}

BOOST_AUTO_TEST_CASE(has_no_gradient) {
  const auto* op = find_op("positional_encoding");
  BOOST_TEST(op->outputs.size() == 1u);
  BOOST_TEST(!op->outputs[0].differentiable);
  BOOST_TEST(op->inputs(params("positional_encoding", {{"length", "2"}, {"d_model", "2"}})).empty());
  auto r = evaluate(*op, pe_args<double>({{"length", "2"}, {"d_model", "2"}}), true);
  BOOST_TEST(r.gradients.empty());
  // A cotangent for pe is refused.
  auto args = pe_args<double>({{"length", "2"}, {"d_model", "2"}});
  args.cotangents["pe"] = tensor<double>({2, 2});
  BOOST_CHECK_THROW(evaluate(*op, args, true), gradspec::bad_input);
}

BOOST_AUTO_TEST_CASE(rejects_bad_params) {
  expect_bad_param({{"length", "0"}, {"d_model", "4"}}, "params/length");
  expect_bad_param({{"length", "4"}, {"d_model", "0"}}, "params/d_model");
  expect_bad_param({{"length", "4"}, {"d_model", "4"}, {"base", "0"}}, "params/base");
  expect_bad_param({{"length", "4"}, {"d_model", "4"}, {"base", "-2"}}, "params/base");
  expect_bad_param({{"length", "4"}, {"d_model", "4"}, {"offset", "-1"}}, "params/offset");
  BOOST_CHECK_THROW(params("positional_encoding", {{"d_model", "4"}}), gradspec::bad_input); // length is required
  BOOST_CHECK_THROW(params("positional_encoding", {{"length", "4"}}), gradspec::bad_input);  // d_model too
  BOOST_CHECK_THROW(params("positional_encoding", {{"length", "2.5"}, {"d_model", "4"}}), gradspec::bad_input);
}

BOOST_AUTO_TEST_SUITE_END()
