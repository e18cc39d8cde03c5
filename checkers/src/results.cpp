#include "gradspec/checkers/results.hpp"

#include "gradspec/errors.hpp"

#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

namespace gradspec::checkers {

using cases::json;

namespace {

double value_of(const json& v, const std::string& path) {
  if (v.is_number_integer()) return static_cast<double>(v.get<std::int64_t>());
  const std::string text = cases::real_text(v, path);
  if (text == "nan") return std::numeric_limits<double>::quiet_NaN();
  if (text == "inf" || text == "+inf") return std::numeric_limits<double>::infinity();
  if (text == "-inf") return -std::numeric_limits<double>::infinity();
  return std::strtod(text.c_str(), nullptr);
}

candidate_tensor tensor_of(const json& t, const std::string& path) {
  if (!t.is_object() || !t.contains("shape") || !t.contains("values"))
    throw bad_input(path, "expected {\"shape\": [...], \"values\": [...]}");
  candidate_tensor out;
  const json& shape = t["shape"];
  if (!shape.is_array()) throw bad_input(path + "/shape", "expected an array");
  std::size_t n = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const auto d = cases::integer_value(shape[i], path + "/shape/" + std::to_string(i));
    if (d < 0) throw bad_input(path + "/shape/" + std::to_string(i), "negative size");
    // The golden files' limits (2^31 per size and in all): a product that wrapped around 2^64 would
    // otherwise let [2^32, 2^32, 2^32] pass with no values.
    if (d > static_cast<std::int64_t>(cases::max_file_tensor_values)) throw bad_input(path + "/shape/" + std::to_string(i), "size too large");
    out.shape.push_back(d);
    n *= static_cast<std::size_t>(d);
    if (n > cases::max_file_tensor_values) throw bad_input(path + "/shape", "tensor too large");
  }
  const json& values = t["values"];
  if (!values.is_array()) throw bad_input(path + "/values", "expected an array");
  if (values.size() != n)
    throw bad_input(path + "/values", "shape " + reference::shape_to_string(out.shape) + " needs " + std::to_string(n) +
                                          " values, found " + std::to_string(values.size()));
  out.values.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.values.push_back(value_of(values[i], path + "/values/" + std::to_string(i)));
  return out;
}

} // namespace

candidate_result parse_response(const json& r, const std::string& path) {
  if (!r.is_object()) throw bad_input(path, "expected an object");
  candidate_result out;
  if (!r.contains("id") || !r["id"].is_string() || cases::is_raw_number(r["id"])) throw bad_input(path + "/id", "missing or not a string");
  out.id = r["id"].get<std::string>();
  if (r.contains("dtype")) {
    if (!r["dtype"].is_string() || cases::is_raw_number(r["dtype"])) throw bad_input(path + "/dtype", "expected a string");
    out.dtype = r["dtype"].get<std::string>();
  }
  if (r.contains("error")) {
    out.error = r["error"].is_string() ? r["error"].get<std::string>() : cases::display(r["error"]); // hardening: raw numbers as text
    return out;
  }
  for (const char* group : {"outputs", "gradients", "intermediates"}) {
    if (!r.contains(group)) continue;
    const json& g = r[group];
    if (!g.is_object()) throw bad_input(path + "/" + group, "expected an object of named tensors");
    for (auto it = g.begin(); it != g.end(); ++it)
      out.tensors[std::string(group) + "." + it.key()] = tensor_of(it.value(), path + "/" + group + "/" + it.key());
  }
  return out;
}

namespace {

implementation_info implementation_of(const json& doc, const std::string& path) {
  implementation_info info;
  if (!doc.contains("implementation")) return info;
  const json& impl = doc["implementation"];
  if (!impl.is_object()) throw bad_input(path + "/implementation", "expected an object");
  auto text = [&](const char* key) {
    return impl.contains(key) && impl[key].is_string() && !cases::is_raw_number(impl[key]) ? impl[key].get<std::string>() : std::string();
  };
  info.name = text("name").empty() ? "unknown" : text("name");
  info.version = text("version");
  info.dtype = text("dtype");
  return info;
}

// The handshake line of a response stream: dtypes, ops and "gradients" (CONTRACT.md, adapter protocol).
void read_handshake(result_set& set, const json& h, const std::string& where) {
  set.implementation = implementation_of(h, "");
  for (const char* key : {"dtypes", "ops"}) {
    if (!h.contains(key)) continue;
    if (!h[key].is_array()) throw bad_input(where + ": /" + key, "expected a list of strings");
    std::set<std::string> names;
    for (std::size_t i = 0; i < h[key].size(); ++i) {
      const json& v = h[key][i];
      if (!v.is_string() || cases::is_raw_number(v)) throw bad_input(where + ": /" + key + "/" + std::to_string(i), "expected a string");
      names.insert(v.get<std::string>());
    }
    if (std::string(key) == "ops") set.ops = names;
    else set.handshake_dtypes = names;
  }
  if (h.contains("gradients")) {
    if (!h["gradients"].is_boolean()) throw bad_input(where + ": /gradients", "expected true or false");
    set.gradients = h["gradients"].get<bool>();
  }
}

void add(result_set& set, candidate_result r, const std::string& path, const std::string& where) {
  if (set.results.count(r.id)) throw bad_input(path, "duplicate result for id \"" + r.id + "\"");
  set.where[r.id] = where;
  set.results[r.id] = std::move(r);
}

} // namespace

void read_result_header(result_set& set, const json& doc) {
  set.implementation = implementation_of(doc, "");
  if (doc.contains("implementation") && doc["implementation"].is_object() && doc["implementation"].contains("gradients")) {
    if (!doc["implementation"]["gradients"].is_boolean()) throw bad_input("/implementation/gradients", "expected true or false");
    set.gradients = doc["implementation"]["gradients"].get<bool>();
  }
}

result_set read_results(const std::string& path) {
  const std::string text = cases::read_text_file(path); // hardening: size limit, no devices
  result_set set;
  // A result file is a single JSON document with "format"; adapter responses are one object a line.
  const auto first_line_end = text.find('\n');
  const std::string first_line = text.substr(0, first_line_end);
  bool lines = false;
  try {
    json head = cases::parse_json_text(first_line, path);
    lines = head.is_object() && head.contains("adapter");
  } catch (const bad_input&) {
    lines = false;
  }
  if (!lines) {
    json doc = cases::parse_json_text(text, path);
    try {
      if (!doc.is_object() || !doc.contains("format") || doc["format"] != "gradspec-results/1")
        throw bad_input("/format", "expected \"gradspec-results/1\" (or adapter response lines)");
      read_result_header(set, doc);
      if (!doc.contains("results") || !doc["results"].is_array()) throw bad_input("/results", "expected an array");
      for (std::size_t i = 0; i < doc["results"].size(); ++i)
        add(set, parse_response(doc["results"][i], "/results/" + std::to_string(i)), "/results/" + std::to_string(i),
            path + ": /results/" + std::to_string(i) + "/id");
    } catch (const bad_input& e) {
      throw e.in_file(path);
    }
    return set;
  }
  std::istringstream stream(text);
  std::string line;
  std::size_t number = 0;
  while (std::getline(stream, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ": line " + std::to_string(number);
    json doc = cases::parse_json_text(line, where);
    if (number == 1) {
      try {
        read_handshake(set, doc, "");
      } catch (const bad_input& e) {
        throw e.in_file(where + " (handshake)");
      }
      continue;
    }
    try {
      candidate_result r = parse_response(doc, "");
      if (!r.dtype.empty()) set.line_dtypes.insert(r.dtype);
      add(set, std::move(r), "", where + ": /id");
    } catch (const bad_input& e) {
      throw e.in_file(where);
    }
  }
  return set;
}

} // namespace gradspec::checkers
