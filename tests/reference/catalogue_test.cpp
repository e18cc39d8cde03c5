// The checks every op of the catalogue gets, in one place: each op of reference::op_catalogue(), with
// deterministic inputs from its case generator (cases::make_case at its default sizes, seed 1) and
// its generated cotangents, in every param variant: the defaults, then each other value of every
// choice and boolean param, one at a time (gelu approximate=tanh, attention causal=true, ...).
//   (a) the backward agrees with central differences at 256 bits for every real differentiable input;
//   (b) a case with a leading batch axis [2] gives, slice by slice, what each slice gives alone;
//   (c) the double and float instantiations agree with mp_real within a rounding bound;
//   (d) evaluating twice gives identical values, in mp_real, double and float.
// What is special about an op (closed forms, known values, edge behaviour) is in X_test.cpp.
#include "gradspec/cases/generate.hpp"
#include "gradspec/cases/generators.hpp"
#include "gradspec/reference/finite_difference_check.hpp"
#include "support/tensor_checks.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace gradspec;
using reference::int_tensor;
using reference::mp_real;
using reference::op_args;
using reference::op_info;
using reference::op_result;
using reference::param_value;
using reference::shape_t;
using reference::tensor;

namespace {

struct variant {
  std::string label;
  std::map<std::string, param_value> params;
};

// The defaults, then each other value of every choice and boolean param, one at a time.
std::vector<variant> variants(const op_info& op) {
  std::vector<variant> out{{"default", {}}};
  for (const auto& p : op.params) {
    std::vector<std::string> others;
    if (p.type == reference::param_type::boolean) others.push_back(p.default_value == "true" ? "false" : "true");
    if (p.type == reference::param_type::choice)
      for (const auto& c : p.choices)
        if ("\"" + c + "\"" != p.default_value) others.push_back(c);
    for (const auto& v : others) out.push_back({p.name + "=" + v, {{p.name, reference::param_from_text(v)}}});
  }
  return out;
}

// The generated case of a variant, default sizes, with a leading batch axis [2] if `batched`, its
// cotangents completed.
cases::test_case make(const op_info& op, const variant& v, bool batched) {
  cases::test_case c = cases::make_case(op.name, {{"batch", batched ? "2" : "0"}}, v.params, 1);
  cases::complete_cotangents(c);
  return c;
}

template <class T> op_result<T> run(const op_info& op, const cases::test_case& c) {
  return reference::evaluate(op, cases::case_args<T>(c), true);
}

// Every tensor of a result by "group.name".
template <class T> std::map<std::string, const tensor<T>*> all_tensors(const op_result<T>& r) {
  std::map<std::string, const tensor<T>*> out;
  for (const auto& [name, t] : r.outputs) out["outputs." + name] = &t;
  for (const auto& [name, t] : r.gradients) out["gradients." + name] = &t;
  for (const auto& [name, t] : r.intermediates) out["intermediates." + name] = &t;
  return out;
}

// The number of input and output values of a case: a bound on every accumulation length (and on
// the size of the arguments of positional_encoding's sines, its only "inputs").
std::size_t case_values(const cases::test_case& c, const op_result<mp_real>& r) {
  std::size_t n = 0;
  for (const auto& [name, t] : c.inputs) n += reference::numel(t.shape);
  for (const auto& [name, t] : r.outputs) n += t.size();
  return n;
}

// max_i |got_i - want_i| / max_i |want_i| (0 when want is all zero and got equals it). Non-finite
// values must sit at the same places with the same values: otherwise +inf.
template <class T> double scaled_error(const tensor<T>& got, const tensor<mp_real>& want) {
  if (got.shape != want.shape) return INFINITY;
  mp_real scale = 0, err = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const mp_real g(got.data[i]);
    if (!reference::is_finite(want.data[i]) || !reference::is_finite(g)) {
      const bool both_nan = reference::is_nan(g) && reference::is_nan(want.data[i]);
      if (!both_nan && !(g == want.data[i])) return INFINITY;
      continue;
    }
    scale = std::max(scale, mp_real(abs(want.data[i])));
    err = std::max(err, mp_real(abs(g - want.data[i])));
  }
  if (err == 0) return 0;
  return scale == 0 ? INFINITY : reference::to_double(err / scale);
}

// Slice b of the leading axis.
template <class T> tensor<T> slice(const tensor<T>& t, std::int64_t b) {
  const shape_t inner(t.shape.begin() + 1, t.shape.end());
  const std::size_t n = reference::numel(inner);
  return tensor<T>(inner, std::vector<T>(t.data.begin() + static_cast<std::ptrdiff_t>(b * n),
                                         t.data.begin() + static_cast<std::ptrdiff_t>((b + 1) * n)));
}
int_tensor slice(const int_tensor& t, std::int64_t b) {
  const shape_t inner(t.shape.begin() + 1, t.shape.end());
  const std::size_t n = reference::numel(inner);
  return {inner, std::vector<std::int64_t>(t.data.begin() + static_cast<std::ptrdiff_t>(b * n),
                                           t.data.begin() + static_cast<std::ptrdiff_t>((b + 1) * n))};
}

bool grew(const shape_t& batched, const shape_t& plain) {
  return batched.size() == plain.size() + 1 && batched[0] == 2 && shape_t(batched.begin() + 1, batched.end()) == plain;
}

} // namespace

BOOST_AUTO_TEST_SUITE(catalogue_test)

// (a) At 256 bits with h = 2^-100 a correct backward agrees with the central differences to about 45
// digits (truncation h² ~ 1e-60, rounding 2^-256/h ~ 1e-47; measured 40 to 47 over the catalogue, the
// layers lowest, exact for relu and linear); a dropped or wrong term leaves a few or none. 30 digits
// keeps a margin of 10. Larger inputs are sampled (evenly spaced elements, the first and
// every k-th): at most 12 per input with the default params, 4 in the other variants (each changes
// one code path), so every input of every op is visited and the test stays within seconds.
BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  testing::precision_guard bits(256);
  constexpr double min_digits = 30;
  for (const auto& op : reference::op_catalogue())
    for (const auto& v : variants(op)) {
      const std::size_t per_input = v.params.empty() ? 12 : 4;
      const auto c = make(op, v, false);
      const auto args = cases::case_args<mp_real>(c);
      std::size_t want_checked = 0;
      for (const auto& spec : op.inputs(c.params))
        if (!spec.integer && spec.differentiable && args.inputs.count(spec.name)) {
          const std::size_t n = args.inputs.at(spec.name).size();
          const std::size_t step = per_input >= n ? 1 : (n + per_input - 1) / per_input;
          want_checked += (n + step - 1) / step;
        }
      const std::string what = op.name + " " + v.label;
      if (want_checked == 0) {
        // Nothing to differentiate: said so, and it must be true of the registry too.
        BOOST_TEST_MESSAGE(what << ": skipped, no real differentiable input");
        for (const auto& o : op.outputs) BOOST_TEST(!o.differentiable, what << ": output " << o.name << " is differentiable");
        continue;
      }
      const auto r = reference::finite_difference_check(op, args, per_input);
      BOOST_TEST(r.checked == want_checked, what << ": " << r.checked << " of " << want_checked << " elements checked; " << r.worst);
      BOOST_TEST(r.min_digits >= min_digits, what << ": " << r.min_digits << " digits at " << r.worst);
      BOOST_TEST_MESSAGE(what << ": " << r.checked << " elements, " << std::min(r.min_digits, 99.0) << " digits");
    }
}

// (b) Inputs whose rank grew by the leading [2] are sliced, the others (weights, tables) shared. An
// output or intermediate that grew is compared slice by slice; one that did not (a reduced loss) must
// be the sum or the mean of the slices' values, and the slices are then run with their cotangent
// scaled the same way. Gradients of sliced inputs are compared slice by slice, gradients of shared
// inputs with the sum over the slices. At 256 bits only summation order differs: 1e-60 of the
// tensor's largest value.
BOOST_AUTO_TEST_CASE(batch_slices_match_separate_evaluations) {
  testing::precision_guard bits(256);
  constexpr double tolerance = 1e-60;
  for (const auto& op : reference::op_catalogue())
    for (const auto& v : variants(op)) {
      const std::string what = op.name + " " + v.label;
      const auto plain = make(op, v, false), batched = make(op, v, true);
      std::set<std::string> sliced;
      for (const auto& [name, t] : batched.inputs) {
        BOOST_TEST_REQUIRE(plain.inputs.count(name) == 1u, what << ": input " << name);
        const shape_t& p = plain.inputs.at(name).shape;
        if (grew(t.shape, p)) sliced.insert(name);
        else BOOST_TEST(t.shape == p, what << ": input " << name << " is " << reference::shape_to_string(t.shape) << ", unbatched "
                                           << reference::shape_to_string(p));
      }
      if (sliced.empty()) {
        // Only an op without inputs has nothing to put a batch axis on.
        BOOST_TEST(op.inputs(batched.params).empty(), what << ": the generator puts no batch axis on any input");
        BOOST_TEST_MESSAGE(what << ": skipped, the op has no inputs to batch");
        continue;
      }
      const auto args = cases::case_args<mp_real>(batched);
      const auto whole = reference::evaluate(op, args, true);
      std::vector<op_args<mp_real>> part(2);
      std::vector<op_result<mp_real>> forward(2), result(2);
      for (std::int64_t b = 0; b < 2; ++b) {
        part[b].params = args.params;
        for (const auto& [name, t] : args.inputs) part[b].inputs[name] = sliced.count(name) ? slice(t, b) : t;
        for (const auto& [name, t] : args.int_inputs) part[b].int_inputs[name] = sliced.count(name) ? slice(t, b) : t;
        forward[b] = reference::evaluate(op, part[b], false);
      }
      // Cotangents: sliced for outputs that grew; for a reduced output, scaled by its weight w (1 for a
      // sum over the batch, 1/2 for a mean).
      for (const auto& [name, out] : whole.outputs) {
        const auto& p0 = forward[0].outputs.at(name);
        if (!args.cotangents.count(name)) continue;
        const auto& cot = args.cotangents.at(name);
        if (grew(out.shape, p0.shape)) {
          for (std::int64_t b = 0; b < 2; ++b) part[b].cotangents[name] = slice(cot, b);
          continue;
        }
        BOOST_TEST_REQUIRE(out.shape == p0.shape, what << ": output " << name << " neither grew by [2] nor kept its shape");
        tensor<mp_real> sum = p0;
        reference::add_into(sum, forward[1].outputs.at(name));
        tensor<mp_real> mean = sum;
        for (auto& x : mean.data) x /= 2;
        const bool is_sum = scaled_error(sum, out) <= tolerance, is_mean = scaled_error(mean, out) <= tolerance;
        BOOST_TEST((is_sum || is_mean), what << ": output " << name << " is neither the sum nor the mean of the slices");
        tensor<mp_real> scaled = cot;
        if (!is_sum)
          for (auto& x : scaled.data) x /= 2;
        for (std::int64_t b = 0; b < 2; ++b) part[b].cotangents[name] = scaled;
      }
      for (std::int64_t b = 0; b < 2; ++b) result[b] = reference::evaluate(op, part[b], true);

      auto compare_grown = [&](const std::string& group, const std::map<std::string, tensor<mp_real>>& got,
                               auto&& of_slice) {
        for (const auto& [name, t] : got) {
          const auto& s0 = of_slice(result[0]).at(name);
          if (group == "outputs" && !grew(t.shape, s0.shape)) continue; // a reduced output, checked above
          BOOST_TEST_REQUIRE(grew(t.shape, s0.shape), what << ": " << group << "." << name << " is "
                                                           << reference::shape_to_string(t.shape) << ", a slice's "
                                                           << reference::shape_to_string(s0.shape));
          for (std::int64_t b = 0; b < 2; ++b) {
            const double e = scaled_error(slice(t, b), of_slice(result[b]).at(name));
            BOOST_TEST(e <= tolerance, what << ": " << group << "." << name << " slice " << b << " differs by " << e);
          }
        }
      };
      compare_grown("outputs", whole.outputs, [](const op_result<mp_real>& r) -> const auto& { return r.outputs; });
      compare_grown("intermediates", whole.intermediates, [](const op_result<mp_real>& r) -> const auto& { return r.intermediates; });
      for (const auto& [name, g] : whole.gradients) {
        if (sliced.count(name)) {
          for (std::int64_t b = 0; b < 2; ++b) {
            const double e = scaled_error(slice(g, b), result[b].gradients.at(name));
            BOOST_TEST(e <= tolerance, what << ": gradients." << name << " slice " << b << " differs by " << e);
          }
        } else {
          tensor<mp_real> sum = result[0].gradients.at(name);
          reference::add_into(sum, result[1].gradients.at(name));
          const double e = scaled_error(sum, g);
          BOOST_TEST(e <= tolerance, what << ": gradients." << name << " (shared) differs from the sum over slices by " << e);
        }
      }
      BOOST_TEST(whole.gradients.size() == result[0].gradients.size(), what);
      BOOST_TEST_MESSAGE(what << ": " << sliced.size() << " inputs sliced, " << batched.inputs.size() - sliced.size() << " shared");
    }
}

// (c) Each value of a tensor is a chain of roundings: an inner product of m terms errs by at most
// about m·eps of the sum of its terms' magnitudes, and by about sqrt(m)·eps when the roundings are
// independent, as they are here; the generators feed O(1) values through well-conditioned maps. The
// number n of input and output values bounds every accumulation length, so the error of each tensor
// (output, gradient, intermediate), scaled by the tensor's largest magnitude, stays below
// k·eps·sqrt(n) with eps the dtype's machine epsilon. Measured: at most 0.35·eps·sqrt(n) over the
// catalogue in double and in float (the messages with --log_level=message); k = 8 leaves a margin of
// 20 for other compilers and contractions, and an op computing in a narrower type than T misses it
// by orders of magnitude.
BOOST_AUTO_TEST_CASE(double_and_float_agree_with_mp_real) {
  testing::precision_guard bits(256);
  constexpr double k = 8;
  for (const auto& op : reference::op_catalogue())
    for (const auto& v : variants(op)) {
      const std::string what = op.name + " " + v.label;
      const auto c = make(op, v, false);
      const auto truth = run<mp_real>(op, c);
      const auto f64 = run<double>(op, c);
      const auto f32 = run<float>(op, c);
      const std::size_t n = case_values(c, truth);
      const double root_n = std::sqrt(static_cast<double>(std::max<std::size_t>(n, 1)));
      const double eps64 = std::numeric_limits<double>::epsilon(), eps32 = std::numeric_limits<float>::epsilon();
      double worst64 = 0, worst32 = 0;
      const auto want = all_tensors(truth);
      const auto got64 = all_tensors(f64);
      const auto got32 = all_tensors(f32);
      BOOST_TEST(got64.size() == want.size(), what);
      BOOST_TEST(got32.size() == want.size(), what);
      for (const auto& [name, t] : want) {
        BOOST_TEST_REQUIRE(got64.count(name) == 1u, what << ": double has no " << name);
        BOOST_TEST_REQUIRE(got32.count(name) == 1u, what << ": float has no " << name);
        const double e64 = scaled_error(*got64.at(name), *t) / (eps64 * root_n);
        const double e32 = scaled_error(*got32.at(name), *t) / (eps32 * root_n);
        BOOST_TEST(e64 <= k, what << ": double " << name << " errs by " << e64 << "·eps·sqrt(n)");
        BOOST_TEST(e32 <= k, what << ": float " << name << " errs by " << e32 << "·eps·sqrt(n)");
        worst64 = std::max(worst64, e64);
        worst32 = std::max(worst32, e32);
      }
      BOOST_TEST_MESSAGE(what << ": n = " << n << ", worst error " << worst64 << " (double), " << worst32
                              << " (float) ·eps·sqrt(n)");
    }
}

// (d) Bit for bit, every output, gradient and intermediate (OMP_NUM_THREADS=2 under CTest).
BOOST_AUTO_TEST_CASE(evaluation_is_deterministic) {
  testing::precision_guard bits(256);
  auto twice = [](const op_info& op, const cases::test_case& c, const std::string& what, auto scalar) {
    using T = decltype(scalar);
    const auto a = run<T>(op, c), b = run<T>(op, c);
    const auto ta = all_tensors(a), tb = all_tensors(b);
    BOOST_TEST(ta.size() == tb.size(), what);
    for (const auto& [name, t] : ta) BOOST_TEST((tb.count(name) && testing::same(*t, *tb.at(name))), what << ": " << name);
  };
  for (const auto& op : reference::op_catalogue())
    for (const auto& v : variants(op)) {
      const std::string what = op.name + " " + v.label;
      const auto c = make(op, v, false);
      twice(op, c, what + " mp_real", mp_real());
      twice(op, c, what + " double", 0.0);
      twice(op, c, what + " float", 0.0f);
    }
}

// The tensor roles generic code reads (reference/registry.hpp) are consistent with the rest of the
// specs: an additive mask is an optional real input without gradient; softmax logits are real; every
// op's causal param, if any, is boolean (the generator reads it with an additive mask).
BOOST_AUTO_TEST_CASE(tensor_roles_are_consistent) {
  using reference::tensor_role;
  for (const auto& op : reference::op_catalogue()) {
    const auto c = make(op, {"default", {}}, false);
    bool has_mask = false;
    for (const auto& in : op.inputs(c.params)) {
      if (in.role == tensor_role::additive_mask) {
        has_mask = true;
        BOOST_TEST((!in.integer && in.optional && !in.differentiable), op.name << ": " << in.name);
      }
      if (in.role == tensor_role::softmax_logits) BOOST_TEST(!in.integer, op.name << ": " << in.name);
    }
    for (const auto& p : op.params)
      if (p.name == "causal") BOOST_TEST((p.type == reference::param_type::boolean && has_mask), op.name);
  }
}

BOOST_AUTO_TEST_SUITE_END()
