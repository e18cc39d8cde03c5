#include "gradspec/cases/case_file.hpp"

#include "gradspec/errors.hpp"

#include <set>

namespace gradspec::cases {

using reference::param_value;

std::string case_path(std::size_t index) { return "/cases/" + std::to_string(index); }

namespace {

const json& member(const json& obj, const std::string& key, const std::string& path) {
  if (!obj.is_object()) throw bad_input(path, "expected an object");
  auto it = obj.find(key);
  if (it == obj.end()) throw bad_input(path, "missing key \"" + key + "\"");
  return *it;
}

std::string string_member(const json& obj, const std::string& key, const std::string& path) {
  const json& v = member(obj, key, path);
  if (!v.is_string() || is_raw_number(v)) throw bad_input(path + "/" + key, "expected a string");
  return v.get<std::string>();
}

param_value param_from_json(const json& v, const std::string& path) {
  param_value p;
  if (v.is_null()) return p;
  if (v.is_boolean()) {
    p.type = param_value::kind::boolean;
    p.boolean = v.get<bool>();
  } else if (v.is_number_integer()) {
    p.type = param_value::kind::integer;
    p.integer = integer_value(v, path);
    p.text = v.dump();
  } else if (is_raw_number(v)) {
    p.type = param_value::kind::number;
    p.text = real_text(v, path);
  } else if (v.is_string()) {
    p.type = param_value::kind::string;
    p.text = v.get<std::string>();
  } else {
    throw bad_input(path, "expected a number, string, boolean or null");
  }
  return p;
}

std::map<std::string, raw_tensor> tensor_map(const json& obj, const std::string& path) {
  std::map<std::string, raw_tensor> out;
  if (!obj.is_object()) throw bad_input(path, "expected an object of named tensors");
  for (auto it = obj.begin(); it != obj.end(); ++it) out[it.key()] = parse_tensor(it.value(), path + "/" + it.key());
  return out;
}

std::vector<std::string> string_list(const json& v, const std::string& path) {
  if (!v.is_array()) throw bad_input(path, "expected an array of strings");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string() || is_raw_number(v[i])) throw bad_input(path + "/" + std::to_string(i), "expected a string");
    out.push_back(v[i].get<std::string>());
  }
  return out;
}

test_case parse_case(const json& c, std::size_t index) {
  const std::string path = case_path(index);
  if (!c.is_object()) throw bad_input(path, "expected a case object");
  test_case t;
  t.index = index;
  t.id = string_member(c, "id", path);
  if (t.id.empty()) throw bad_input(path + "/id", "must not be empty");
  t.op = string_member(c, "op", path);
  const auto* op = reference::find_op(t.op);
  if (!op) throw bad_input(path + "/op", "unknown op \"" + t.op + "\" (see `gradspec ops`)");
  if (c.contains("comment")) t.comment = string_member(c, "comment", path);
  if (c.contains("flags")) t.flags = string_list(c["flags"], path + "/flags");
  const json& params = member(c, "params", path);
  if (!params.is_object()) throw bad_input(path + "/params", "expected an object");
  for (auto it = params.begin(); it != params.end(); ++it)
    t.raw_params[it.key()] = param_from_json(it.value(), path + "/params/" + it.key());
  try {
    t.params = reference::validate_params(op->params, t.raw_params);
  } catch (const bad_input& e) {
    throw e.under(path);
  }
  t.inputs = tensor_map(member(c, "inputs", path), path + "/inputs");
  if (c.contains("cotangents")) t.cotangents = tensor_map(c["cotangents"], path + "/cotangents");
  if (c.contains("expected")) t.expected = c["expected"];
  if (c.contains("certified_digits")) {
    auto d = integer_value(c["certified_digits"], path + "/certified_digits");
    if (d < 0 || d > 1000) throw bad_input(path + "/certified_digits", "out of range");
    t.certified_digits = static_cast<int>(d);
  }
  if (c.contains("exact_in")) {
    t.exact_in = string_list(c["exact_in"], path + "/exact_in");
    static const std::set<std::string> dtypes = {"bfloat16", "float16", "float32", "float64"};
    for (std::size_t i = 0; i < t.exact_in->size(); ++i)
      if (!dtypes.count((*t.exact_in)[i]))
        throw bad_input(path + "/exact_in/" + std::to_string(i), "unknown dtype \"" + (*t.exact_in)[i] + "\"");
  }
  static const std::set<std::string> known = {"id", "op", "comment", "flags", "params", "inputs", "cotangents",
                                              "expected", "certified_digits", "exact_in"};
  for (auto it = c.begin(); it != c.end(); ++it)
    if (!known.count(it.key())) throw bad_input(path + "/" + it.key(), "unknown key in a case");
  return t;
}

} // namespace

raw_tensor parse_tensor(const json& value, const std::string& path) {
  raw_tensor t;
  const json& shape = member(value, "shape", path);
  if (!shape.is_array()) throw bad_input(path + "/shape", "expected an array of sizes");
  std::size_t count = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    auto d = integer_value(shape[i], path + "/shape/" + std::to_string(i));
    if (d < 0) throw bad_input(path + "/shape/" + std::to_string(i), "size must not be negative");
    if (d > (1ll << 31)) throw bad_input(path + "/shape/" + std::to_string(i), "size too large");
    t.shape.push_back(d);
    count *= static_cast<std::size_t>(d);
    if (count > (1ull << 31)) throw bad_input(path + "/shape", "tensor too large");
  }
  if (value.contains("dtype")) {
    const json& dt = value["dtype"];
    if (!dt.is_string() || (dt.get<std::string>() != "int64" && dt.get<std::string>() != "real"))
      throw bad_input(path + "/dtype", "expected \"int64\" (or \"real\")");
    t.integer = dt.get<std::string>() == "int64";
  }
  const json& values = member(value, "values", path);
  if (!values.is_array()) throw bad_input(path + "/values", "expected an array");
  if (values.size() != count)
    throw bad_input(path + "/values", "shape " + reference::shape_to_string(t.shape) + " needs " + std::to_string(count) +
                                          " values, found " + std::to_string(values.size()));
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::string p = path + "/values/" + std::to_string(i);
    if (t.integer) t.ints.push_back(integer_value(values[i], p));
    else t.values.push_back(real_text(values[i], p));
  }
  for (auto it = value.begin(); it != value.end(); ++it)
    if (it.key() != "shape" && it.key() != "values" && it.key() != "dtype")
      throw bad_input(path + "/" + it.key(), "unknown key in a tensor");
  return t;
}

json tensor_json(const raw_tensor& t) {
  json j;
  j["shape"] = t.shape;
  if (t.integer) {
    j["dtype"] = "int64";
    j["values"] = t.ints;
  } else {
    j["values"] = t.values;
  }
  return j;
}

case_file parse_case_file(const json& doc, const std::string& path) {
  try {
    if (!doc.is_object()) throw bad_input("", "expected a JSON object at the top");
    const json& format = member(doc, "format", "");
    if (!format.is_string() || format.get<std::string>() != "gradspec-cases/1")
      throw bad_input("/format", "expected \"gradspec-cases/1\"");
    case_file file;
    file.path = path;
    for (auto it = doc.begin(); it != doc.end(); ++it)
      if (it.key() != "cases") file.header[it.key()] = it.value();
    const json& cases = member(doc, "cases", "");
    if (!cases.is_array()) throw bad_input("/cases", "expected an array of cases");
    std::set<std::string> ids;
    for (std::size_t i = 0; i < cases.size(); ++i) {
      file.cases.push_back(parse_case(cases[i], i));
      if (!ids.insert(file.cases.back().id).second)
        throw bad_input(case_path(i) + "/id", "duplicate id \"" + file.cases.back().id + "\"");
    }
    return file;
  } catch (const bad_input& e) {
    throw e.in_file(path);
  }
}

case_file read_case_file(const std::string& path) { return parse_case_file(read_json_file(path), path); }

template <class T> reference::tensor<T> to_tensor(const raw_tensor& t) {
  reference::tensor<T> out(t.shape);
  for (std::size_t i = 0; i < t.values.size(); ++i) out.data[i] = reference::parse_scalar<T>(t.values[i]);
  return out;
}
template reference::tensor<double> to_tensor(const raw_tensor&);
template reference::tensor<reference::mp_real> to_tensor(const raw_tensor&);

reference::int_tensor to_int_tensor(const raw_tensor& t) { return {t.shape, t.ints}; }

template <class T> reference::op_args<T> case_args(const test_case& c) {
  reference::op_args<T> args;
  args.params = c.params;
  for (const auto& [name, t] : c.inputs) {
    if (t.integer) args.int_inputs[name] = to_int_tensor(t);
    else args.inputs[name] = to_tensor<T>(t);
  }
  for (const auto& [name, t] : c.cotangents) {
    if (t.integer) throw bad_input(case_path(c.index) + "/cotangents/" + name, "a cotangent must be real, not int64");
    args.cotangents[name] = to_tensor<T>(t);
  }
  return args;
}
template reference::op_args<double> case_args(const test_case&);
template reference::op_args<reference::mp_real> case_args(const test_case&);

} // namespace gradspec::cases
