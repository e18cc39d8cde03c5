#include "gradspec/cases/suite_builder.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <stdexcept>

namespace gradspec::cases {

namespace {

std::map<std::string, reference::param_value> param_values(const suite_builder::kv& params) {
  std::map<std::string, reference::param_value> out;
  for (const auto& [k, v] : params) out[k] = reference::param_from_text(v);
  return out;
}

} // namespace

void suite_builder::random(const std::string& op, const kv& shape, const kv& params, std::initializer_list<std::uint64_t> seeds,
                           const std::string& comment, const std::string& variant, std::vector<std::string> flags) {
  for (auto seed : seeds) {
    test_case c = make_case(op, shape, param_values(params), seed, variant);
    c.comment = comment;
    c.flags = flags;
    push(std::move(c));
  }
}

void suite_builder::exact(const std::string& id, const std::string& op, const kv& params, std::map<std::string, raw_tensor> inputs,
                          const std::string& comment, std::vector<std::string> flags) {
  test_case c;
  c.id = id;
  c.op = op;
  c.raw_params = param_values(params);
  c.params = reference::validate_params(reference::find_op(op)->params, c.raw_params);
  c.inputs = std::move(inputs);
  c.comment = comment;
  c.flags = std::move(flags);
  push(std::move(c));
}

std::vector<suite_file> suite_builder::finish() {
  for (auto& f : files_) {
    std::set<std::string> used;
    for (const auto& c : f.cases) used.insert(c.flags.begin(), c.flags.end());
    f.notes = json::object();
    for (const auto& flag : used)
      if (flag_notes().contains(flag)) f.notes[flag] = flag_notes()[flag];
    for (std::size_t i = 0; i < f.cases.size(); ++i) f.cases[i].index = i;
  }
  return std::move(files_);
}

void suite_builder::push(test_case c) {
  auto it = std::find_if(files_.begin(), files_.end(), [&](const suite_file& f) { return f.op == c.op; });
  if (it == files_.end()) {
    files_.push_back({c.op, json::object(), {}});
    it = files_.end() - 1;
  }
  it->cases.push_back(std::move(c));
  last_file_ = static_cast<std::size_t>(it - files_.begin());
}

void flag_notes_builder::add(const std::string& flag, const std::string& kind, const std::string& description) {
  if (notes_.contains(flag)) throw std::logic_error("flag \"" + flag + "\" has two notes");
  notes_[flag] = {{"kind", kind}, {"description", description}};
}

void flag_notes_builder::acceptable(const std::string& flag, const std::string& name, const std::string& result,
                                    const std::vector<std::string>& tensors, const std::string& description) {
  if (!notes_.contains(flag)) throw std::logic_error("acceptable finding for flag \"" + flag + "\" before its note");
  notes_[flag]["acceptable"].push_back({{"name", name}, {"result", result}, {"tensors", tensors}, {"description", description}});
}

raw_tensor real(shape_t shape, std::vector<std::string> values) {
  raw_tensor t;
  t.shape = std::move(shape);
  t.values = std::move(values);
  return t;
}

raw_tensor ints(shape_t shape, std::vector<std::int64_t> values) {
  raw_tensor t;
  t.shape = std::move(shape);
  t.integer = true;
  t.ints = std::move(values);
  return t;
}

std::vector<std::string> text_values(std::initializer_list<double> values) {
  std::vector<std::string> out;
  for (double v : values) out.push_back(reference::format_scalar(v, 17));
  return out;
}

raw_tensor partial_mask(std::int64_t tq, std::int64_t tk, std::uint64_t seed) {
  value_source v(seed);
  raw_tensor m = v.grid({tq, tk}, 1, 3, true);
  for (std::int64_t i = 0; i < tq; ++i)
    for (std::int64_t j = 0; j < tk; ++j)
      if ((i + 2 * j) % 3 == 1 && j != i % tk) m.values[static_cast<std::size_t>(i * tk + j)] = "-inf";
  return m;
}

raw_tensor offset_grid(value_source& v, const shape_t& shape, double centre, double range, int bits) {
  raw_tensor t = v.grid(shape, range, bits, true);
  for (auto& text : t.values) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", bits, centre + std::strtod(text.c_str(), nullptr));
    std::string exact = buf;
    exact.erase(exact.find_last_not_of('0') + 1);
    if (exact.back() == '.') exact.pop_back();
    text = exact;
  }
  return t;
}

} // namespace gradspec::cases
