#include "gradspec/cases/generators.hpp"

#include "gradspec/cases/generate.hpp"
#include "gradspec/errors.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace gradspec::cases {

#define GRADSPEC_OP(name) op_generator name##_generator();
#include "gradspec/reference/ops/op_list.hpp"
#undef GRADSPEC_OP

const std::vector<op_generator>& op_generators() {
  static const std::vector<op_generator> generators = {
#define GRADSPEC_OP(name) name##_generator(),
#include "gradspec/reference/ops/op_list.hpp"
#undef GRADSPEC_OP
  };
  return generators;
}

const op_generator* find_generator(const std::string& op) {
  const auto& g = op_generators();
  auto it = std::find_if(g.begin(), g.end(), [&](const op_generator& x) { return x.op == op; });
  return it == g.end() ? nullptr : &*it;
}

shape_t case_shape::with_batch(std::initializer_list<std::string> keys) const {
  shape_t s(batch.begin(), batch.end());
  for (const auto& k : keys) s.push_back(dims.at(k));
  return s;
}

shape_t case_shape::plain(std::initializer_list<std::string> keys) const {
  shape_t s;
  for (const auto& k : keys) s.push_back(dims.at(k));
  return s;
}

std::string case_shape::label(std::initializer_list<std::string> keys) const {
  std::string s;
  for (auto b : batch) s += (s.empty() ? "" : "x") + std::to_string(b);
  for (const auto& k : keys) s += (s.empty() ? "" : "x") + std::to_string(dims.at(k));
  return s;
}

value_source::value_source(std::uint64_t seed, std::uint64_t skip) : state_(seed) {
  for (std::uint64_t i = 0; i < skip; ++i) next();
}

std::uint64_t value_source::next() { return splitmix64(state_); }

std::size_t value_source::consume(const shape_t& shape) {
  std::int64_t n = 1;
  for (auto d : shape) {
    if (d != 0 && n > max_generated_values / d) n = max_generated_values + 1;
    else n *= d;
  }
  generated_ += n;
  if (n > max_generated_values || generated_ > max_generated_values)
    throw bad_input("--shape", "the case would have more than " + std::to_string(max_generated_values) +
                                   " input values (shape " + reference::shape_to_string(shape) + ")");
  return static_cast<std::size_t>(n);
}

raw_tensor value_source::grid(const shape_t& shape, double range, int denominator_bits, bool allow_zero) {
  raw_tensor t;
  t.shape = shape;
  const double unit = std::ldexp(1.0, -denominator_bits);
  const auto span = static_cast<std::int64_t>(std::llround(range / unit));
  const std::size_t n = consume(shape);
  t.values.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::int64_t k = 0;
    do {
      k = static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(2 * span + 1)) - span;
    } while (k == 0 && !allow_zero && span > 0);
    t.values.push_back(reference::format_scalar(static_cast<double>(k) * unit, 17));
  }
  return t;
}

raw_tensor value_source::around(const shape_t& shape, double centre, double range, int denominator_bits) {
  raw_tensor t = grid(shape, range, denominator_bits, true);
  for (auto& v : t.values) v = reference::format_scalar(centre + std::strtod(v.c_str(), nullptr), 17);
  return t;
}

raw_tensor value_source::integers(const shape_t& shape, std::int64_t lo, std::int64_t hi) {
  raw_tensor t;
  t.shape = shape;
  t.integer = true;
  const std::size_t n = consume(shape);
  for (std::size_t i = 0; i < n; ++i) t.ints.push_back(lo + static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(hi - lo + 1)));
  return t;
}

raw_tensor value_source::constant(const shape_t& shape, const std::string& value) {
  raw_tensor t;
  t.shape = shape;
  t.values.assign(consume(shape), value);
  return t;
}

std::map<std::string, std::string> parse_key_values(const std::string& text, const std::string& what) {
  std::map<std::string, std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(start, end - start);
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) throw bad_input(what, "expected k=v, got \"" + item + "\"");
    out[item.substr(0, eq)] = item.substr(eq + 1);
    start = end + 1;
  }
  return out;
}

namespace {

std::int64_t parse_size(const std::string& key, const std::string& text, std::int64_t lowest) {
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end != text.c_str() + text.size())
    throw bad_input("--shape " + key, "\"" + text + "\" is not an integer");
  if (v < lowest) throw bad_input("--shape " + key, "must be at least " + std::to_string(lowest) + ", got " + text);
  if (v > max_dimension) throw bad_input("--shape " + key, "at most " + std::to_string(max_dimension) + " (got " + text + ")");
  return v;
}

std::string variant_of(const std::map<std::string, reference::param_value>& params) {
  std::string v;
  for (const auto& [k, p] : params) {
    std::string value = p.type == reference::param_value::kind::boolean ? (p.boolean ? "true" : "false")
                        : p.type == reference::param_value::kind::null  ? "null"
                                                                       : p.text;
    v += (v.empty() ? "" : ",") + k + "=" + value;
  }
  return v.empty() ? "default" : v;
}

} // namespace

test_case make_case(const std::string& op, const std::map<std::string, std::string>& shape,
                    const std::map<std::string, reference::param_value>& params, std::uint64_t seed,
                    const std::string& variant) {
  const op_generator* gen = find_generator(op);
  const reference::op_info* info = reference::find_op(op);
  if (!gen || !info) throw bad_input("--op", "unknown op \"" + op + "\" (see `gradspec ops`)");
  case_shape sizes;
  std::map<std::string, reference::param_value> given = params;
  for (const auto& key : gen->keys) sizes.dims[key.name] = key.default_value;
  for (const auto& [key, text] : shape) {
    if (key == "batch") {
      if (text != "0") {
        std::size_t start = 0;
        while (start <= text.size()) {
          std::size_t end = text.find('x', start);
          if (end == std::string::npos) end = text.size();
          sizes.batch.push_back(parse_size("batch", text.substr(start, end - start), 1));
          start = end + 1;
        }
        if (sizes.batch.size() > 4) throw bad_input("--shape batch", "at most 4 batch axes");
      }
      continue;
    }
    if (!sizes.dims.count(key)) {
      std::string keys = "batch";
      for (const auto& k : gen->keys) keys += ", " + k.name;
      throw bad_input("--shape " + key, "unknown shape key for " + op + " (keys: " + keys + ")");
    }
    sizes.dims[key] = parse_size(key, text, 1);
    if (key == "seq_kv") sizes.dims["cross"] = 1; // an explicit memory length asks for cross-attention
  }
  if (gen->implied_params)
    for (const auto& [k, v] : gen->implied_params(sizes))
      if (!given.count(k)) given[k] = reference::param_from_text(v);
  test_case c;
  c.op = op;
  c.raw_params = given;
  c.params = reference::validate_params(info->params, given);
  const std::string stem = variant.empty() ? variant_of(params) : variant;
  c.id = op + "/" + stem + "/" + gen->label(sizes) + "/" + std::to_string(seed);
  value_source values(fnv1a(c.id));
  gen->fill(c, sizes, values);
  return c;
}

} // namespace gradspec::cases
