// gradspec ops [--json]: the op catalogue with inputs, outputs, params and defaults.
#include "verbs.hpp"

#include "gradspec/cases/generators.hpp"
#include "gradspec/cases/json_io.hpp"
#include "gradspec/reference/registry.hpp"

#include <fmt/format.h>

#include <iostream>
#include <memory>

namespace gradspec::cli {

namespace {

using cases::json;
using reference::param_type;

const char* type_name(param_type t) {
  switch (t) {
  case param_type::integer: return "integer";
  case param_type::real: return "real";
  case param_type::boolean: return "boolean";
  case param_type::choice: return "choice";
  }
  return "?";
}

// Composite ops list their inputs for a given number of layers; show them for the defaults (and
// layers = 1 where `layers` is required).
reference::param_map example_params(const reference::op_info& op) {
  std::map<std::string, reference::param_value> given;
  for (const auto& p : op.params)
    if (p.default_value.empty())
      given[p.name] = p.type == param_type::choice ? reference::param_value{reference::param_value::kind::string, false, 0, p.choices.at(0)}
                                                   : reference::param_from_text("1");
  return reference::validate_params(op.params, given);
}

json op_json(const reference::op_info& op) {
  json j;
  j["name"] = op.name;
  j["summary"] = op.summary;
  json inputs = json::array();
  for (const auto& in : op.inputs(example_params(op)))
    inputs.push_back({{"name", in.name}, {"shape", in.shape}, {"dtype", in.integer ? "int64" : "real"},
                      {"optional", in.optional}, {"differentiable", !in.integer && in.differentiable},
                      {"role", reference::role_name(in.role)}});
  j["inputs"] = inputs;
  json outputs = json::array();
  for (const auto& o : op.outputs) outputs.push_back({{"name", o.name}, {"shape", o.shape}, {"differentiable", o.differentiable}, {"optional", o.optional}});
  j["outputs"] = outputs;
  json params = json::array();
  for (const auto& p : op.params) {
    json pj = {{"name", p.name}, {"type", type_name(p.type)}};
    pj["default"] = p.default_value.empty() ? json(nullptr) : cases::parse_json_text(p.default_value, "default");
    if (cases::is_raw_number(pj["default"])) pj["default"] = cases::raw_number_text(pj["default"]);
    pj["required"] = p.default_value.empty();
    if (!p.choices.empty()) pj["choices"] = p.choices;
    if (p.nullable) pj["nullable"] = true;
    if (!p.doc.empty()) pj["doc"] = p.doc;
    params.push_back(pj);
  }
  j["params"] = params;
  json intermediates = json::array();
  for (const auto& i : op.intermediates) intermediates.push_back(i.name);
  j["intermediates"] = intermediates;
  json keys = json::array();
  keys.push_back({{"name", "batch"}, {"default", "0"}, {"doc", "leading batch axes: 0 (none), 2, 2x3, ..."}});
  if (const auto* gen = cases::find_generator(op.name))
    for (const auto& k : gen->keys) keys.push_back({{"name", k.name}, {"default", std::to_string(k.default_value)}, {"doc", k.doc}});
  j["shape_keys"] = keys;
  return j;
}

void print_table(std::ostream& out) {
  for (const auto& op : reference::op_catalogue()) {
    out << fmt::format("{}  {}\n", op.name, op.summary);
    std::string ins;
    for (const auto& in : op.inputs(example_params(op)))
      ins += fmt::format("{}{}{}{}{}", ins.empty() ? "" : ", ", in.name, in.shape, in.integer ? " int64" : "",
                         in.optional ? " (optional)" : "");
    out << "    inputs:  " << (ins.empty() ? "none" : ins) << "\n";
    std::string outs;
    for (const auto& o : op.outputs)
      outs += fmt::format("{}{}{}{}", outs.empty() ? "" : ", ", o.name, o.shape, o.optional ? " (optional)" : "");
    out << "    outputs: " << outs << "\n";
    if (!op.params.empty()) {
      std::string ps;
      for (const auto& p : op.params)
        ps += fmt::format("{}{}={}", ps.empty() ? "" : ", ", p.name, p.default_value.empty() ? "(required)" : p.default_value);
      out << "    params:  " << ps << "\n";
    }
    if (const auto* gen = cases::find_generator(op.name)) {
      std::string ks = "batch=0";
      for (const auto& k : gen->keys) ks += fmt::format(", {}={}", k.name, k.default_value);
      out << "    shape keys (gen --op --shape): " << ks << "\n";
    }
    if (!op.intermediates.empty()) {
      std::string is;
      for (const auto& i : op.intermediates) is += (is.empty() ? "" : ", ") + i.name;
      out << "    intermediates: " << is << "\n";
    }
  }
}

} // namespace

verb ops_verb() {
  return {"ops", "the op catalogue: inputs, outputs, params, defaults", [](CLI::App& app) {
            auto as_json = std::make_shared<bool>(false);
            app.add_flag("--json", *as_json, "machine-readable catalogue on stdout");
            return std::function<int()>([as_json] {
              if (*as_json) {
                json all = {{"format", "gradspec-ops/1"}, {"ops", json::array()}};
                for (const auto& op : reference::op_catalogue()) all["ops"].push_back(op_json(op));
                std::cout << cases::to_text(all);
              } else {
                print_table(std::cout);
              }
              return 0;
            });
          }};
}

} // namespace gradspec::cli
