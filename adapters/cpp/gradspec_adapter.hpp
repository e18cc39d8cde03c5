// gradspec_adapter.hpp: a single-header kit for writing gradspec adapters in C++ (C++17, nlohmann-json).
//
// You write one function per op; gradspec::adapter::serve speaks the adapter protocol
// ("gradspec-adapter/1", docs/adapter_protocol.md) over stdin/stdout:
//
//   #include "gradspec_adapter.hpp"
//   namespace ga = gradspec::adapter;
//
//   ga::answer softmax(const ga::request& r) {
//     const ga::tensor& x = r.input("x");            // shape + values (double; exact in r.dtype)
//     ...
//     return {{{"y", y}}, {{"x", dx}}};               // outputs, gradients[, intermediates]
//   }
//   int main() { return ga::serve({"my-kernels", "1.0"}, {{"softmax", softmax}}); }
//
// The protocol, one JSON object per line:
//
//   adapter  -> {"adapter": "gradspec-adapter/1", "implementation": {"name", "version"},
//                "dtypes": [...], "ops": [...]}          (+ "gradients": false when forward-only)
//   gradspec -> {"id", "op", "params", "inputs", "cotangents", "dtype"}
//   adapter  -> {"id", "dtype", "outputs", "gradients"[, "intermediates"]}   or   {"id", "error": "..."}
//
// gradspec closes stdin when done; serve then returns 0.
//
// What the kit does for you:
// - Tensors are {shape, values}, row-major. Real values arrive as JSON numbers or "inf", "-inf",
//   "nan" and are held as double (every value of a float32 request is exact in a float: use
//   as<float>(t) to compute in float). Integer tensors ({"dtype": "int64"}) are int_tensor.
//   A scalar has shape {} and one value.
// - request::params is the JSON object as is; request::real_param reads a real param given as a
//   JSON number or a decimal string ("1e-5").
// - Gradients are vector-Jacobian products: r.cotangent("y") is the cotangent of output "y".
// - Answers are encoded for you: values of a float32 request are rounded to float (a no-op when
//   computed in float), non-finite values become "nan"/"inf"/"-inf", numbers are printed with the
//   shortest decimal that reads back exactly, "dtype" is echoed, each line is flushed.
// - Errors never stop the adapter: throw unsupported("why") answers "unsupported: why" (gradspec
//   skips the case); any other exception answers "<type>: <what()>" (the case is an error), and
//   the next request is served. Ops not in `ops`, dtypes not in info::dtypes: "unsupported: ...".
// - While serve runs with std::cout, std::cout is redirected to std::cerr (gradspec's log) so that
//   a stray `std::cout <<` cannot corrupt the protocol (printf to stdout is not caught: avoid it).
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#if __has_include(<cxxabi.h>)
#include <cxxabi.h>
#define GRADSPEC_ADAPTER_DEMANGLE 1
#endif

namespace gradspec::adapter {

using json = nlohmann::json;

inline constexpr const char* protocol = "gradspec-adapter/1";

/// Thrown by an op that does not handle this request: answered "unsupported: <what>" (skipped).
struct unsupported : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// A request that does not follow the protocol: answered "bad request: <what>".
struct bad_request : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// A real tensor: row-major values, held as double.
struct tensor {
  std::vector<std::int64_t> shape;
  std::vector<double> values;

  tensor() = default;
  tensor(std::vector<std::int64_t> s, std::vector<double> v) : shape(std::move(s)), values(std::move(v)) {}
  /// From values of any real type (float results widen to double exactly).
  template <class T>
  tensor(std::vector<std::int64_t> s, const std::vector<T>& v) : shape(std::move(s)), values(v.begin(), v.end()) {}

  /// The last axis (the feature axis); 1 for a scalar.
  std::int64_t last() const { return shape.empty() ? 1 : shape.back(); }
  std::size_t size() const { return values.size(); }
};

/// An integer tensor ({"dtype": "int64"} in the protocol): ids, targets.
struct int_tensor {
  std::vector<std::int64_t> shape;
  std::vector<std::int64_t> values;
};

/// The values of a tensor as T (float for a float32 request: exact).
template <class T>
std::vector<T> as(const tensor& t) {
  return std::vector<T>(t.values.begin(), t.values.end());
}

/// One decoded request.
struct request {
  std::string id, op;
  std::string dtype;  // "float64" or "float32"
  json params = json::object();
  std::map<std::string, tensor> inputs, cotangents;
  std::map<std::string, int_tensor> int_inputs;

  bool float32() const { return dtype == "float32"; }
  bool has_input(const std::string& name) const { return inputs.count(name) > 0; }

  /// A real input; a missing one is a bad request.
  const tensor& input(const std::string& name) const { return find(inputs, "inputs/" + name, name); }
  /// An integer input.
  const int_tensor& int_input(const std::string& name) const { return find(int_inputs, "inputs/" + name, name); }
  /// The cotangent of output `name`.
  const tensor& cotangent(const std::string& name) const { return find(cotangents, "cotangents/" + name, name); }

  /// A real param: a JSON number or a decimal string ("1e-5", "inf"); `fallback` when absent or null.
  double real_param(const std::string& name, double fallback) const {
    if (!params.contains(name) || params[name].is_null()) return fallback;
    return number(params[name], "params/" + name);
  }

  /// "inf", "-inf", "nan", decimal strings and JSON numbers -> double.
  static double number(const json& v, const std::string& where) {
    if (v.is_number()) return v.get<double>();
    if (v.is_string()) {
      const std::string& s = v.get_ref<const std::string&>();
      if (s == "inf" || s == "+inf") return INFINITY;
      if (s == "-inf") return -INFINITY;
      if (s == "nan") return NAN;
      char* end = nullptr;
      const double d = std::strtod(s.c_str(), &end);
      if (!s.empty() && end == s.c_str() + s.size()) return d;
    }
    throw bad_request(where + ": expected a number or \"inf\"/\"-inf\"/\"nan\", got " + v.dump());
  }

private:
  template <class M>
  static const typename M::mapped_type& find(const M& m, const std::string& where, const std::string& name) {
    const auto it = m.find(name);
    if (it == m.end()) throw bad_request(where + ": missing");
    return it->second;
  }
};

/// What an op returns: named tensors. Gradients are keyed by input name; intermediates are optional.
struct answer {
  using tensors = std::map<std::string, tensor>;
  tensors outputs, gradients, intermediates;

  answer() = default;
  answer(tensors out, tensors grads = {}, tensors inter = {})
      : outputs(std::move(out)), gradients(std::move(grads)), intermediates(std::move(inter)) {}
};

/// The implementation: what the handshake says.
struct info {
  std::string name, version;
  std::vector<std::string> dtypes{"float64", "float32"};
  bool gradients = true;  // false: a forward-only implementation (gradients are not compared)
};

using op_function = std::function<answer(const request&)>;

namespace detail {

inline std::vector<std::int64_t> shape_of(const json& obj, const std::string& where, std::size_t& count) {
  const json& s = obj["shape"];
  if (!s.is_array()) throw bad_request(where + "/shape: expected a list of non-negative integers");
  std::vector<std::int64_t> shape;
  count = 1;
  for (const json& n : s) {
    if (!n.is_number_integer() || n.get<std::int64_t>() < 0)
      throw bad_request(where + "/shape: expected a list of non-negative integers");
    shape.push_back(n.get<std::int64_t>());
    count *= static_cast<std::size_t>(shape.back());
  }
  return shape;
}

/// Decodes {"shape", "values"[, "dtype": "int64"]} into `reals` or `ints`.
inline void decode(const json& obj, const std::string& where, const std::string& name,
                   std::map<std::string, tensor>& reals, std::map<std::string, int_tensor>* ints) {
  if (!obj.is_object() || !obj.contains("shape") || !obj.contains("values") || !obj["values"].is_array())
    throw bad_request(where + ": expected an object with \"shape\" and \"values\"");
  std::size_t count = 0;
  std::vector<std::int64_t> shape = shape_of(obj, where, count);
  const json& values = obj["values"];
  if (values.size() != count)
    throw bad_request(where + ": shape holds " + std::to_string(count) + " values, got " + std::to_string(values.size()));
  if (obj.contains("dtype") && obj["dtype"] == "int64") {
    if (!ints) throw bad_request(where + ": an integer tensor where a real one is needed");
    int_tensor t{std::move(shape), {}};
    t.values.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      if (!values[i].is_number_integer()) throw bad_request(where + "/values/" + std::to_string(i) + ": expected an integer");
      t.values.push_back(values[i].get<std::int64_t>());
    }
    (*ints)[name] = std::move(t);
    return;
  }
  tensor t{std::move(shape), std::vector<double>{}};
  t.values.reserve(count);
  for (std::size_t i = 0; i < count; ++i)
    t.values.push_back(values[i].is_number() ? values[i].get<double>()
                                             : request::number(values[i], where + "/values/" + std::to_string(i)));
  reals[name] = std::move(t);
}

inline json encode(const tensor& t, bool to_float, const std::string& where) {
  std::size_t count = 1;
  for (const std::int64_t n : t.shape) count *= static_cast<std::size_t>(n < 0 ? 0 : n);
  if (count != t.values.size())
    throw std::length_error(where + ": shape holds " + std::to_string(count) + " values, got " + std::to_string(t.values.size()));
  json values = json::array();
  values.get_ref<json::array_t&>().reserve(t.values.size());
  for (double v : t.values) {
    if (to_float) v = static_cast<double>(static_cast<float>(v));
    if (std::isnan(v)) values.push_back("nan");
    else if (std::isinf(v)) values.push_back(v > 0 ? "inf" : "-inf");
    else values.push_back(v);
  }
  return json{{"shape", t.shape}, {"values", std::move(values)}};
}

inline std::string type_name(const std::exception& e) {
  const char* raw = typeid(e).name();
#ifdef GRADSPEC_ADAPTER_DEMANGLE
  int status = 0;
  char* pretty = abi::__cxa_demangle(raw, nullptr, nullptr, &status);
  if (status == 0 && pretty) {
    std::string out = pretty;
    std::free(pretty);
    return out;
  }
#endif
  return raw;
}

inline bool listed(const std::vector<std::string>& names, const std::string& name) {
  for (const auto& n : names)
    if (n == name) return true;
  return false;
}

/// One request line -> one answer object (never throws).
inline json respond(const std::string& line, const info& impl, const std::map<std::string, op_function>& ops) {
  json id = nullptr;
  try {
    json msg;
    try {
      msg = json::parse(line);
    } catch (const json::parse_error& e) {
      throw bad_request(std::string("not JSON (") + e.what() + ")");
    }
    if (!msg.is_object()) throw bad_request("expected a JSON object");
    if (msg.contains("id")) id = msg["id"];
    request r;
    r.id = id.is_string() ? id.get<std::string>() : id.dump();
    r.op = msg.value("op", std::string());
    r.dtype = msg.value("dtype", std::string("float64"));
    const auto op = ops.find(r.op);
    if (op == ops.end()) throw unsupported("op \"" + r.op + "\"");
    if (!listed(impl.dtypes, r.dtype)) throw unsupported("dtype \"" + r.dtype + "\"");
    if (msg.contains("params") && !msg["params"].is_null()) {
      if (!msg["params"].is_object()) throw bad_request("params: expected an object");
      r.params = msg["params"];
    }
    for (const char* group : {"inputs", "cotangents"}) {
      if (!msg.contains(group) || msg[group].is_null()) continue;
      if (!msg[group].is_object()) throw bad_request(std::string(group) + ": expected an object");
      const bool in = std::string(group) == "inputs";
      for (const auto& [name, t] : msg[group].items())
        decode(t, std::string(group) + "/" + name, name, in ? r.inputs : r.cotangents, in ? &r.int_inputs : nullptr);
    }
    const answer a = op->second(r);
    json reply{{"id", id}, {"dtype", r.dtype}};
    const auto group = [&](const char* key, const std::map<std::string, tensor>& tensors) {
      json g = json::object();
      for (const auto& [name, t] : tensors) g[name] = encode(t, r.float32(), std::string(key) + "/" + name);
      reply[key] = std::move(g);
    };
    group("outputs", a.outputs);
    group("gradients", a.gradients);
    if (!a.intermediates.empty()) group("intermediates", a.intermediates);
    return reply;
  } catch (const unsupported& e) {
    return json{{"id", id}, {"error", std::string("unsupported: ") + e.what()}};
  } catch (const bad_request& e) {
    return json{{"id", id}, {"error", std::string("bad request: ") + e.what()}};
  } catch (const std::exception& e) {
    return json{{"id", id}, {"error", type_name(e) + ": " + e.what()}};
  } catch (...) {
    return json{{"id", id}, {"error", "unknown exception"}};
  }
}

}  // namespace detail

/// Speaks the adapter protocol on `in`/`out` until `in` ends; returns 0 (use it as main's result).
inline int serve(const info& impl, const std::map<std::string, op_function>& ops, std::istream& in = std::cin,
                 std::ostream& out = std::cout) {
  // The protocol writes through its own stream on out's buffer; std::cout itself goes to std::cerr.
  std::ostream protocol_out(out.rdbuf());
  struct restore {
    std::streambuf* saved;
    ~restore() {
      if (saved) std::cout.rdbuf(saved);
    }
  } guard{&out == &std::cout ? std::cout.rdbuf(std::cerr.rdbuf()) : nullptr};

  json handshake{{"adapter", protocol},
                 {"implementation", {{"name", impl.name}, {"version", impl.version}}},
                 {"dtypes", impl.dtypes},
                 {"ops", json::array()}};
  for (const auto& [name, f] : ops) handshake["ops"].push_back(name);
  if (!impl.gradients) handshake["gradients"] = false;
  protocol_out << handshake.dump() << '\n' << std::flush;

  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    // Invalid UTF-8 in a message is replaced rather than thrown on.
    protocol_out << detail::respond(line, impl, ops).dump(-1, ' ', false, json::error_handler_t::replace) << '\n'
                 << std::flush;
    if (!protocol_out) break;  // gradspec went away
  }
  return 0;
}

}  // namespace gradspec::adapter
