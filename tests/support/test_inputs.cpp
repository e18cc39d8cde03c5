#include "support/test_inputs.hpp"

#include "gradspec/reference/params.hpp"

#include <stdexcept>

namespace gradspec::testing {

namespace {
std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
} // namespace

template <class T> tensor<T> grid_tensor(shape_t shape, std::uint64_t seed, double range, bool allow_zero) {
  tensor<T> t(std::move(shape));
  std::uint64_t state = seed * 0x2545f4914f6cdd1dULL + 1;
  const std::int64_t span = static_cast<std::int64_t>(range * 64);
  for (auto& v : t.data) {
    std::int64_t k = 0;
    while (k == 0) {
      k = static_cast<std::int64_t>(splitmix64(state) % static_cast<std::uint64_t>(2 * span + 1)) - span;
      if (allow_zero) break;
    }
    v = T(static_cast<double>(k) / 64.0);
  }
  return t;
}

template tensor<double> grid_tensor(shape_t, std::uint64_t, double, bool);
template tensor<mp_real> grid_tensor(shape_t, std::uint64_t, double, bool);

reference::param_map params(const std::string& op, const std::map<std::string, std::string>& given) {
  const auto* info = reference::find_op(op);
  if (!info) throw std::invalid_argument("unknown op " + op);
  std::map<std::string, reference::param_value> raw;
  for (const auto& [k, v] : given) raw[k] = reference::param_from_text(v);
  return reference::validate_params(info->params, raw);
}

precision_guard::precision_guard(unsigned bits) : saved(reference::precision_bits()) {
  reference::set_precision_bits(bits);
}
precision_guard::~precision_guard() { reference::set_precision_bits(saved); }

} // namespace gradspec::testing
