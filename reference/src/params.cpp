#include "gradspec/reference/params.hpp"

#include "gradspec/errors.hpp"

#include <algorithm>
#include <cstdlib>

namespace gradspec::reference {

const param_value& param_map::at(const std::string& name) const {
  auto it = values.find(name);
  if (it == values.end()) throw std::logic_error("op asked for undeclared param \"" + name + "\"");
  return it->second;
}

param_value param_from_text(const std::string& text) {
  param_value v;
  if (text == "null") return v;
  if (text == "true" || text == "false") {
    v.type = param_value::kind::boolean;
    v.boolean = text == "true";
    return v;
  }
  char* end = nullptr;
  long long i = std::strtoll(text.c_str(), &end, 10);
  if (!text.empty() && end == text.c_str() + text.size()) {
    v.type = param_value::kind::integer;
    v.integer = i;
    v.text = text;
    return v;
  }
  try {
    (void)parse_scalar<double>(text);
    v.type = param_value::kind::number;
  } catch (const std::invalid_argument&) {
    v.type = param_value::kind::string;
  }
  v.text = text;
  return v;
}

namespace {

std::string kind_name(param_value::kind k) {
  switch (k) {
  case param_value::kind::null: return "null";
  case param_value::kind::boolean: return "a boolean";
  case param_value::kind::integer: return "an integer";
  case param_value::kind::number: return "a number";
  case param_value::kind::string: return "a string";
  }
  return "?";
}

// Converts `v` to the spec's type, or throws.
param_value checked(const param_spec& spec, param_value v, const std::string& path) {
  using kind = param_value::kind;
  if (v.type == kind::null) {
    if (!spec.nullable) throw bad_input(path, "must not be null");
    return v;
  }
  switch (spec.type) {
  case param_type::integer:
    if (v.type != kind::integer) throw bad_input(path, "expected an integer, got " + kind_name(v.type));
    v.text = std::to_string(v.integer);
    return v;
  case param_type::boolean:
    if (v.type != kind::boolean) throw bad_input(path, "expected true or false, got " + kind_name(v.type));
    return v;
  case param_type::real:
    if (v.type == kind::integer) v.text = std::to_string(v.integer);
    else if (v.type != kind::number && v.type != kind::string)
      throw bad_input(path, "expected a number, got " + kind_name(v.type));
    try {
      double d = parse_scalar<double>(v.text);
      if (!std::isfinite(d)) throw bad_input(path, "must be finite, got \"" + v.text + "\"");
    } catch (const std::invalid_argument&) {
      throw bad_input(path, "expected a decimal number, got \"" + v.text + "\"");
    }
    v.type = kind::number;
    return v;
  case param_type::choice:
    if (v.type != kind::string) throw bad_input(path, "expected a string, got " + kind_name(v.type));
    if (std::find(spec.choices.begin(), spec.choices.end(), v.text) == spec.choices.end()) {
      std::string list;
      for (const auto& c : spec.choices) list += (list.empty() ? "" : ", ") + ("\"" + c + "\"");
      throw bad_input(path, "\"" + v.text + "\" is not one of " + list);
    }
    return v;
  }
  return v;
}

} // namespace

param_map validate_params(const std::vector<param_spec>& specs, const std::map<std::string, param_value>& given) {
  param_map out;
  for (const auto& [name, value] : given) {
    auto it = std::find_if(specs.begin(), specs.end(), [&name = name](const param_spec& s) { return s.name == name; });
    if (it == specs.end()) {
      std::string list;
      for (const auto& s : specs) list += (list.empty() ? "" : ", ") + s.name;
      throw bad_input("params/" + name, "unknown param (this op takes: " + (list.empty() ? "none" : list) + ")");
    }
    out.values[name] = checked(*it, value, "params/" + name);
  }
  for (const auto& spec : specs) {
    if (out.values.count(spec.name)) continue;
    if (spec.default_value.empty()) throw bad_input("params", "missing required param \"" + spec.name + "\"");
    std::string text = spec.default_value;
    param_value v = text.size() >= 2 && text.front() == '"' ? param_value{param_value::kind::string, false, 0, text.substr(1, text.size() - 2)}
                                                              : param_from_text(text);
    out.values[spec.name] = checked(spec, v, "params/" + spec.name);
  }
  return out;
}

} // namespace gradspec::reference
