#include "gradspec/cases/case_file.hpp"

#include "gradspec/errors.hpp"

#include <algorithm>
#include <set>

namespace gradspec::cases {

using reference::param_value;

std::string case_path(std::size_t index) { return "/cases/" + std::to_string(index); }

namespace {

std::string string_member(const json& obj, const std::string& key, const std::string& path) {
  const json& v = member(obj, key, path);
  return string_value(v, path + "/" + key);
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
    out.push_back(string_value(v[i], path + "/" + std::to_string(i)));
  }
  return out;
}

// `expected` of a golden case against what the op produces for the case's inputs (shapes from a
// forward pass in double): an object of the groups outputs (every output of the op), gradients (real
// differentiable inputs, each of its input's shape) and intermediates, each tensor of the right shape.
// A wrong shape would otherwise be judged against a candidate, or a baseline, of another size.
void check_expected(const test_case& t, const json& expected) {
  const std::string path = case_path(t.index) + "/expected";
  if (!expected.is_object()) throw bad_input(path, "expected an object {\"outputs\": {...}, \"gradients\": {...}}");
  for (auto it = expected.begin(); it != expected.end(); ++it)
    if (it.key() != "outputs" && it.key() != "gradients" && it.key() != "intermediates")
      throw bad_input(path + "/" + it.key(), "unknown key (outputs, gradients, intermediates)");
  std::vector<expected_shape> given;
  for (const char* group : {"outputs", "gradients", "intermediates"})
    if (expected.contains(group))
      for (auto& [name, tensor] : tensor_map(expected[group], path + "/" + group)) given.push_back({group, name, tensor.shape, tensor.integer});
  check_expected_shapes(t, given);
}

} // namespace

void check_expected_shapes(const test_case& t, const std::vector<expected_shape>& given_list) {
  const reference::op_info& op = *reference::find_op(t.op);
  const std::string path = case_path(t.index) + "/expected";
  std::map<std::string, std::map<std::string, const expected_shape*>> given;
  for (const auto& e : given_list) given[e.group][e.name] = &e;
  if (given["outputs"].empty()) throw bad_input(path + "/outputs", "a golden case needs its expected output tensors");
  for (const auto& [group, tensors] : given)
    for (const auto& [name, tensor] : tensors)
      if (tensor->integer) throw bad_input(path + "/" + group + "/" + name + "/dtype", "expected values are real, not int64");

  const auto args_held = double_args(t); // its errors carry the case path already
  const auto& args = *args_held;
  reference::op_result<double> shapes;
  try {
    shapes = reference::evaluate(op, args, false);
  } catch (const bad_input& e) {
    throw e.under(case_path(t.index));
  }
  auto require_shape = [&](const std::string& where, const shape_t& got, const shape_t& want, const std::string& what) {
    if (got != want)
      throw bad_input(where + "/shape", "shape " + reference::shape_to_string(got) + ", but " + what + " has shape " +
                                            reference::shape_to_string(want) + " for these inputs");
  };
  for (const auto& [name, out] : shapes.outputs) {
    auto it = given["outputs"].find(name);
    if (it == given["outputs"].end()) throw bad_input(path + "/outputs", "missing the expected output \"" + name + "\"");
    require_shape(path + "/outputs/" + name, it->second->shape, out.shape, "the op's output");
    if (auto cot = t.cotangents.find(name); cot != t.cotangents.end())
      require_shape(case_path(t.index) + "/cotangents/" + name, cot->second.shape, out.shape, "the op's output");
  }
  for (const auto& [name, tensor] : given["outputs"])
    if (!shapes.outputs.count(name)) throw bad_input(path + "/outputs/" + name, "not an output of op \"" + op.name + "\"");
  for (const auto& [name, tensor] : given["intermediates"]) {
    auto it = shapes.intermediates.find(name);
    if (it == shapes.intermediates.end())
      throw bad_input(path + "/intermediates/" + name, "not an intermediate of op \"" + op.name + "\"");
    require_shape(path + "/intermediates/" + name, tensor->shape, it->second.shape, "that intermediate");
  }
  const auto specs = op.inputs(t.params);
  for (const auto& [name, tensor] : given["gradients"]) {
    auto spec = std::find_if(specs.begin(), specs.end(), [&name = name](const reference::input_spec& s) { return s.name == name; });
    auto input = t.inputs.find(name);
    if (spec == specs.end() || spec->integer || !spec->differentiable || input == t.inputs.end())
      throw bad_input(path + "/gradients/" + name, "not a differentiable input of this case");
    require_shape(path + "/gradients/" + name, tensor->shape, input->second.shape, "the input");
  }
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
  if (c.contains("expected")) {
    check_expected(t, c["expected"]);
    t.expected = c["expected"];
  }
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

// The header keys gradspec reads: `generator` (precision_bits, check_precision_bits, intermediates) and `notes`
// (each flag: {"kind": "...", "description": "..."}). Other keys are kept as written.
void check_header(const json& header) {
  if (header.contains("generator")) {
    const json& g = header["generator"];
    if (!g.is_object()) throw bad_input("/generator", "expected an object");
    for (const char* key : {"name", "version"})
      if (g.contains(key)) string_value(g[key], std::string("/generator/") + key);
    for (const char* key : {"precision_bits", "check_precision_bits"})
      if (g.contains(key)) integer_in_range(g[key], std::string("/generator/") + key, min_precision_bits, max_precision_bits);
    if (g.contains("intermediates") && !g["intermediates"].is_boolean())
      throw bad_input("/generator/intermediates", "expected true or false (false: written without expected.intermediates)");
  }
  if (header.contains("notes")) {
    const json& notes = header["notes"];
    if (!notes.is_object()) throw bad_input("/notes", "expected an object: flag -> {\"kind\": ..., \"description\": ...}");
    for (auto it = notes.begin(); it != notes.end(); ++it) {
      const std::string p = "/notes/" + it.key();
      if (!it.value().is_object()) throw bad_input(p, "expected {\"kind\": \"...\", \"description\": \"...\"}");
      string_value(member(it.value(), "description", p), p + "/description");
      if (it.value().contains("kind")) string_value(it.value()["kind"], p + "/kind");
      if (it.value().contains("acceptable")) { // documented alternatives (docs/verdicts.md)
        const json& list = it.value()["acceptable"];
        if (!list.is_array()) throw bad_input(p + "/acceptable", "expected a list of {\"name\", \"result\", \"tensors\", \"description\"}");
        for (std::size_t i = 0; i < list.size(); ++i) {
          const std::string a = p + "/acceptable/" + std::to_string(i);
          if (!list[i].is_object()) throw bad_input(a, "expected {\"name\", \"result\", \"tensors\", \"description\"}");
          for (const char* key : {"name", "description"}) string_value(member(list[i], key, a), a + "/" + key);
          const std::string result = string_value(member(list[i], "result", a), a + "/result");
          if (result != "nan" && result != "zero") throw bad_input(a + "/result", "expected \"nan\" or \"zero\"");
          const json& tensors = member(list[i], "tensors", a);
          if (!tensors.is_array()) throw bad_input(a + "/tensors", "expected a list of tensor names");
          for (std::size_t k = 0; k < tensors.size(); ++k) string_value(tensors[k], a + "/tensors/" + std::to_string(k));
          for (auto k = list[i].begin(); k != list[i].end(); ++k)
            if (k.key() != "name" && k.key() != "result" && k.key() != "tensors" && k.key() != "description")
              throw bad_input(a + "/" + k.key(), "unknown key in an acceptable alternative (name, result, tensors, description)");
        }
      }
      for (auto k = it.value().begin(); k != it.value().end(); ++k)
        if (k.key() != "kind" && k.key() != "description" && k.key() != "acceptable")
          throw bad_input(p + "/" + k.key(), "unknown key in a note (kind, description, acceptable)");
    }
  }
}


raw_tensor parse_tensor(const json& value, const std::string& path) {
  raw_tensor t;
  const json& shape = member(value, "shape", path);
  if (!shape.is_array()) throw bad_input(path + "/shape", "expected an array of sizes");
  std::size_t count = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    auto d = integer_value(shape[i], path + "/shape/" + std::to_string(i));
    if (d < 0) throw bad_input(path + "/shape/" + std::to_string(i), "size must not be negative");
    if (d > static_cast<std::int64_t>(max_file_tensor_values)) throw bad_input(path + "/shape/" + std::to_string(i), "size too large");
    t.shape.push_back(d);
    count *= static_cast<std::size_t>(d);
    if (count > max_file_tensor_values) throw bad_input(path + "/shape", "tensor too large");
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
    check_header(file.header);
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

case_file read_golden_file(const std::string& path) {
  case_file file = read_case_file(path);
  for (const auto& c : file.cases)
    if (!c.expected)
      throw bad_input(case_path(c.index), "no \"expected\": a spec file, not a golden file (fill it in with gradspec gen --from)")
          .in_file(path);
  return file;
}

template <class T> reference::tensor<T> to_tensor(const raw_tensor& t) {
  reference::tensor<T> out(t.shape);
  for (std::size_t i = 0; i < t.values.size(); ++i) out.data[i] = reference::parse_scalar<T>(t.values[i]);
  return out;
}
template reference::tensor<double> to_tensor(const raw_tensor&);
template reference::tensor<reference::mp_real> to_tensor(const raw_tensor&);
template reference::tensor<float> to_tensor(const raw_tensor&);

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
template reference::op_args<float> case_args(const test_case&);

std::shared_ptr<const reference::op_args<double>> double_args(const test_case& c) {
  if (c.double_args_cache) return c.double_args_cache;
  return std::make_shared<const reference::op_args<double>>(case_args<double>(c));
}

} // namespace gradspec::cases
